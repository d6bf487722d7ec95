// Small fakes of the flow's services: tokens, balance, session groups, accounts and stored outputs.
import { AppError } from '../../../src/core/errors.js';
import type { ClaimLinks } from '../../../src/flow/claim-links.js';
import type { FlowOutputs } from '../../../src/flow/context.js';
import type { CreditsGate } from '../../../src/flow/credits-gate.js';
import type { SharedSession } from '../../../src/flow/session-groups.js';
import { CDN } from './fixtures.js';

// ---------------------------------------------------------------------------------------------------------------
// Accounts, groups and the small services
// ---------------------------------------------------------------------------------------------------------------

/** Anonymous tokens rotate on invalidate (…anon1 → …anon2); a static one never changes. */
export class FakeTokens {
  readonly invalidated: string[] = [];
  private generation = 1;

  constructor(
    readonly isStatic: boolean,
    private readonly prefix: string,
  ) {}

  get current(): string {
    return this.isStatic ? this.prefix : `${this.prefix}${this.generation}`;
  }

  async get(): Promise<string> {
    return this.current;
  }

  async invalidate(token: string): Promise<void> {
    this.invalidated.push(token);
    if (!this.isStatic && token === this.current) this.generation += 1;
  }
}

/**
 * Every read is a cache miss that counts one upstream call for its caller; null balance = unreadable. peek answers
 * the last balance read (the cache), without a read; `cacheExpired` makes it answer nothing.
 */
export class FakeBalance {
  available: number | null = 1000;
  cacheExpired = false;
  readonly reads: object[] = [];
  private last: { balance: { available: number; frozen: number; total: number }; at: number } | null = null;

  async get(opts: { onUpstreamCall?: () => void; local?: boolean } = {}) {
    this.reads.push({});
    opts.onUpstreamCall?.();
    if (this.available === null) throw new AppError('UPSTREAM_UNAVAILABLE', 'the upstream credit balance could not be read');
    this.last = { balance: { available: this.available, frozen: 0, total: this.available }, at: Date.now() };
    return this.last.balance;
  }

  async peek() {
    return this.cacheExpired ? null : this.last;
  }

  async note(balance: { available: number; frozen: number; total: number }) {
    this.last = { balance, at: Date.now() };
  }
}

/** SessionGroups in memory: a FIFO per group, its shared session, and forget only if it is still the lost one. */
export class FakeGroups {
  readonly queues = new Map<string, string[]>();
  readonly shared = new Map<string, SharedSession>();
  readonly forgotten: [group: string, sessionId: string][] = [];

  async join(group: string, jobId: string): Promise<void> {
    await this.turn(group, jobId);
  }

  async turn(group: string, jobId: string): Promise<boolean> {
    const queue = this.queues.get(group) ?? [];
    if (!queue.includes(jobId)) queue.push(jobId);
    this.queues.set(group, queue);
    return queue[0] === jobId;
  }

  async leave(group: string, jobId: string): Promise<string | null> {
    const queue = this.queues.get(group) ?? [];
    const head = queue[0];
    const rest = queue.filter((id) => id !== jobId);
    this.queues.set(group, rest);
    return rest[0] !== undefined && rest[0] !== head ? rest[0] : null;
  }

  async session(group: string): Promise<SharedSession | null> {
    const session = this.shared.get(group);
    return session ? structuredClone(session) : null;
  }

  async publish(group: string, session: SharedSession): Promise<void> {
    this.shared.set(group, structuredClone(session));
  }

  async forget(group: string, sessionId: string): Promise<void> {
    this.forgotten.push([group, sessionId]);
    if (this.shared.get(group)?.session_id === sessionId) this.shared.delete(group);
  }
}

/** One upstream account: fake tokens and balance, the real credit gate and claim links over the fake Redis. */
export interface FakeAccount {
  id: string;
  tokens: FakeTokens;
  credits: CreditsGate;
  balance: FakeBalance;
  claims: ClaimLinks;
}

/**
 * Output storage holding a complete copy of each key in `objects`, so the mirror step keeps it instead of fetching
 * (no network). `headErrors` are thrown by the next head() calls, in order.
 */
export function fakeOutputs(objects = new Map<string, { sizeBytes: number; sha256: string }>()) {
  const links: string[] = [];
  const headErrors: Error[] = [];
  const storage = {
    kind: 'file',
    location: 'memory://outputs',
    head: async (key: string) => {
      const error = headErrors.shift();
      if (error) throw error;
      const object = objects.get(key);
      return object ? { ...object, etag: 'e', contentType: 'video/mp4', lastModified: new Date() } : null;
    },
  };
  const outputs: FlowOutputs = {
    storage: storage as unknown as FlowOutputs['storage'],
    dispatcherFor: () => undefined,
    download: (renderId, token) => ({ url: `${CDN}/download/${renderId}`, headers: { authorization: `Bearer ${token}` } }),
    timeoutMs: 1_000,
    maxBytes: 10_000_000,
    linkFor: async (jobId) => {
      links.push(jobId);
      return `https://relay.example/v1/jobs/${jobId}/output?sig=test`;
    },
  };
  return { outputs, objects, links, headErrors };
}
