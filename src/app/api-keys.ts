// The bootstrap API keys (API_KEYS) → tenant, and the admin key. Kept only as SHA-256 hashes, compared in constant time.
import { hash, timingSafeEqual } from 'node:crypto';

// One-shot hashing: a Hash object per call cost about 3 % of the API's CPU on the accept path (every request hashes its key).
const sha256 = (text: string) => hash('sha256', text, 'buffer');

export const ANONYMOUS_TENANT = 'default';

export class ApiKeys {
  private readonly entries: { tenant: string; hash: Buffer }[];
  private readonly adminHash: Buffer | null;

  constructor(
    pairs: readonly { tenant: string; key: string }[],
    private readonly disabled: boolean,
    adminKey?: string,
  ) {
    this.entries = pairs.map((p) => ({ tenant: p.tenant, hash: sha256(p.key) }));
    this.adminHash = adminKey ? sha256(adminKey) : null;
  }

  /** The tenants the configured keys name. */
  tenants(): string[] {
    return [...new Set(this.entries.map((e) => e.tenant))];
  }

  /** The tenant of an Authorization header, or null. With auth disabled every caller is the default tenant. */
  tenantOf(authorization: string | undefined): string | null {
    const presented = bearerToken(authorization);
    if (this.disabled) return presented ? (this.match(presented) ?? ANONYMOUS_TENANT) : ANONYMOUS_TENANT;
    return presented ? this.match(presented) : null;
  }

  /** The tenant of a key listed in API_KEYS, or null (keys issued through /admin/tenants are looked up elsewhere). */
  configuredTenantOf(key: string): string | null {
    return this.match(key);
  }

  isAdmin(authorization: string | undefined): boolean {
    const presented = bearerToken(authorization);
    return Boolean(presented && this.adminHash && timingSafeEqual(sha256(presented), this.adminHash));
  }

  private match(key: string): string | null {
    const hash = sha256(key);
    let found: string | null = null;
    // Compare against every entry so the time taken does not depend on which one matched.
    for (const entry of this.entries) {
      if (timingSafeEqual(hash, entry.hash) && found === null) found = entry.tenant;
    }
    return found;
  }
}

/** The key of an `Authorization: Bearer <key>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S{1,512})\s*$/i.exec(header);
  return match ? match[1]! : null;
}
