// A small in-process TTL cache whose loads cannot resurrect what an invalidation removed meanwhile (an epoch per change).
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  private readonly loading = new Map<string, Promise<V>>();
  /** Bumped by every invalidation: a load that started before one never stores its (possibly stale) answer. */
  private epoch = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  /**
   * The cached value, or `load()`'s, shared by concurrent callers of the same `lane`. With `enabled` false (the
   * invalidation feed is down) every call loads and nothing is kept: a stale answer is worse than a Redis round trip.
   * Lanes keep loads of different kinds apart (one that fails fast, one that waits out a failover: neither should get
   * the other's failure or delay); their answers fill the same entries.
   */
  async get(key: string, load: () => Promise<V>, opts: { enabled: boolean; ttlMs?: (value: V) => number; lane?: string }): Promise<V> {
    if (!opts.enabled) return load();
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > Date.now()) return hit.value;
    const loadKey = opts.lane ? `${opts.lane}\u0000${key}` : key;
    const pending = this.loading.get(loadKey);
    if (pending) return pending;
    const epoch = this.epoch;
    const promise = load().then(
      (value) => {
        if (this.loading.get(loadKey) === promise) this.loading.delete(loadKey);
        if (epoch === this.epoch) this.store(key, value, opts.ttlMs?.(value) ?? this.ttlMs);
        return value;
      },
      (err: unknown) => {
        if (this.loading.get(loadKey) === promise) this.loading.delete(loadKey);
        throw err;
      },
    );
    this.loading.set(loadKey, promise);
    return promise;
  }

  /** The cached value if present and fresh (no load). */
  peek(key: string): V | undefined {
    const hit = this.entries.get(key);
    return hit && hit.expiresAt > Date.now() ? hit.value : undefined;
  }

  delete(key: string): void {
    this.epoch++;
    this.entries.delete(key);
    // Loads under way in every lane (few at any time).
    for (const loadKey of this.loading.keys()) if (loadKey === key || loadKey.endsWith(`\u0000${key}`)) this.loading.delete(loadKey);
  }

  /** Drops every entry whose value matches (e.g. all cached keys of a deleted tenant). */
  deleteWhere(match: (value: V) => boolean): void {
    this.epoch++;
    for (const [key, entry] of this.entries) if (match(entry.value)) this.entries.delete(key);
    this.loading.clear();
  }

  clear(): void {
    this.epoch++;
    this.entries.clear();
    this.loading.clear();
  }

  private store(key: string, value: V, ttlMs: number): void {
    if (ttlMs <= 0) return;
    this.entries.delete(key);
    // Oldest first (Map keeps insertion order): a flood of unknown keys pushes out old entries, never grows memory.
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, expiresAt: Date.now() + ttlMs });
  }
}
