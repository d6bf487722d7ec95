// Per-tenant webhook secrets in Redis: created once atomically, rotated with a grace period for the old secret.
import type { RedisClient } from '../redis/client.js';
import { z } from 'zod';
import { AppError } from '../core/errors.js';
import type { Keys } from '../redis/keys.js';
import { generateSecret, WEBHOOK_SECRET_PATTERN } from './signing.js';

const secretString = z.string().regex(WEBHOOK_SECRET_PATTERN);

/** The one JSON value under keys.tenantWebhookSecrets(tenant). */
const recordSchema = z.object({
  current: secretString,
  createdAt: z.string(),
  previous: z.array(z.object({ secret: secretString, validUntil: z.number().int() })).default([]),
});

type SecretsRecord = z.infer<typeof recordSchema>;

/**
 * Compare-and-set: writes ARGV[2] only if the key still holds ARGV[1] ('' = absent). Rotation is read-modify-write of
 * a JSON record; doing the check in Redis keeps two API processes from losing each other's rotation without WATCH,
 * which would be unsafe on a connection shared by concurrent callers.
 */
const CAS_SCRIPT = `
local cur = redis.call('GET', KEYS[1])
if (cur == false and ARGV[1] == '') or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0`;

const MAX_CAS_ATTEMPTS = 20;
/** Parsed records kept (one per tenant, replaced when its text changes): bounded like the HMAC key cache. */
const PARSED_CACHE_LIMIT = 1_000;

export interface WebhookSecretsOptions {
  redis: RedisClient;
  keys: Keys;
  /** WEBHOOK_SECRET: when set, every tenant uses it and rotation is refused. */
  fixedSecret?: string | undefined;
  /** WEBHOOK_SECRET_GRACE_MS: how long a rotated-out secret keeps signing. */
  graceMs: number;
  now?: () => number;
}

export class WebhookSecrets {
  private readonly redis: RedisClient;
  private readonly keys: Keys;
  private readonly fixedSecret: string | undefined;
  private readonly graceMs: number;
  private readonly now: () => number;
  private readonly parsed = new Map<string, { raw: string; record: SecretsRecord }>();

  constructor(opts: WebhookSecretsOptions) {
    this.redis = opts.redis;
    this.keys = opts.keys;
    this.fixedSecret = opts.fixedSecret || undefined;
    this.graceMs = opts.graceMs;
    this.now = opts.now ?? Date.now;
  }

  /** The secret callers should verify with (GET /v1/webhook-secret). */
  async current(tenant: string): Promise<string> {
    if (this.fixedSecret) return this.fixedSecret;
    return (await this.ensureRecord(tenant)).record.current;
  }

  /** Every secret a delivery is signed with right now: current first, then rotated-out ones still in grace. */
  async signingSecrets(tenant: string): Promise<string[]> {
    if (this.fixedSecret) return [this.fixedSecret];
    const { record } = await this.ensureRecord(tenant);
    return this.inGrace(record);
  }

  /** The key a delivery script may read the tenant's secrets from (signingSecretsFrom); null with WEBHOOK_SECRET. */
  storedKey(tenant: string): string | null {
    return this.fixedSecret ? null : this.keys.tenantWebhookSecrets(tenant);
  }

  /**
   * signingSecrets from a record someone already read (the delivery read script); a missing one is created as usual.
   * The parsed record is kept per tenant while its text stays the same, so a delivery does not re-validate it.
   */
  async signingSecretsFrom(tenant: string, raw: string | null): Promise<string[]> {
    if (this.fixedSecret) return [this.fixedSecret];
    if (raw === null) return this.signingSecrets(tenant);
    let parsed = this.parsed.get(tenant);
    if (parsed?.raw !== raw) {
      parsed = { raw, record: parseRecord(raw, tenant) };
      if (this.parsed.size >= PARSED_CACHE_LIMIT) this.parsed.delete(this.parsed.keys().next().value!);
      this.parsed.set(tenant, parsed);
    }
    return this.inGrace(parsed.record);
  }

  private inGrace(record: SecretsRecord): string[] {
    const now = this.now();
    return [record.current, ...record.previous.filter((p) => p.validUntil > now).map((p) => p.secret)];
  }

  /** New current secret; the old one keeps signing until now + graceMs so receivers can switch without gaps. */
  async rotate(tenant: string): Promise<{ secret: string; previousValidUntil: string }> {
    if (this.fixedSecret) {
      throw new AppError(
        'VALIDATION_FAILED',
        'webhook secret rotation is unavailable while WEBHOOK_SECRET is set; change that variable instead',
      );
    }
    const key = this.keys.tenantWebhookSecrets(tenant);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const { record, raw } = await this.ensureRecord(tenant);
      const now = this.now();
      const validUntil = now + this.graceMs;
      const next: SecretsRecord = {
        current: generateSecret(),
        createdAt: new Date(now).toISOString(),
        previous: [
          { secret: record.current, validUntil },
          ...record.previous.filter((p) => p.validUntil > now),
        ],
      };
      const written = await this.redis.eval(CAS_SCRIPT, 1, key, raw, JSON.stringify(next));
      if (written === 1) return { secret: next.current, previousValidUntil: new Date(validUntil).toISOString() };
    }
    throw new Error(`webhook secret rotation for tenant ${tenant} kept conflicting; try again`);
  }

  /** Reads the record, creating it with SET NX so concurrent first calls all end up with the same secret. */
  private async ensureRecord(tenant: string): Promise<{ record: SecretsRecord; raw: string }> {
    const key = this.keys.tenantWebhookSecrets(tenant);
    let raw = await this.redis.get(key);
    if (raw === null) {
      const fresh = JSON.stringify({ current: generateSecret(), createdAt: new Date(this.now()).toISOString(), previous: [] });
      const set = await this.redis.set(key, fresh, 'NX');
      raw = set === 'OK' ? fresh : await this.redis.get(key);
      if (raw === null) throw new Error(`webhook secret record for tenant ${tenant} vanished while being created`);
    }
    return { record: parseRecord(raw, tenant), raw };
  }
}

function parseRecord(raw: string, tenant: string): SecretsRecord {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    json = undefined;
  }
  const parsed = recordSchema.safeParse(json);
  // Zod issues would quote the offending values, i.e. possibly a secret: report only the paths.
  if (!parsed.success) {
    const paths = parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
    throw new Error(`stored webhook secrets for tenant ${tenant} are malformed (${paths})`);
  }
  return parsed.data;
}
