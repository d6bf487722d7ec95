// Tenants' upstream accounts: sealing a token into a record, opening it, naming the account, re-sealing under a new key.
import { createHash, randomUUID } from 'node:crypto';
import { AppError } from '../core/errors.js';
import { SecretBox, secretsKeyMissing } from './secret-box.js';
import type { StoredUpstream, TenantRecord } from './schemas.js';
import type { TenantStore } from './store.js';

/** What a tenant's jobs spend: its own token, its own anonymous account, or the service's (NEMO_TOKEN / shared anonymous). */
export interface UpstreamAccount {
  /** Stable id of the account: `default`, or `tenant:<id>:<8 hex>` (a changed token or client id is a new account). */
  account: string;
  kind: 'default' | 'token' | 'anonymous';
  /** The tenant's own token, opened (kind token only). Never log it, never answer it. */
  token?: string;
  /** The tenant's own X-Client-Id (kind anonymous only). */
  clientId?: string;
}

/** How a tenant asks for its upstream on the admin API. */
export type UpstreamRequest = { token: string } | { anonymous: true } | { default: true };

const fingerprint = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 8);

/** Authenticated with the ciphertext: a sealed token copied into another tenant's record does not open. */
export const sealContext = (tenant: string) => `tenant:${tenant}:upstream-token`;

/** The stored form of a requested upstream; asking for anonymous again keeps the tenant's client id (its account). */
export function storedUpstream(tenant: string, request: UpstreamRequest, current: StoredUpstream | null, box: SecretBox | null): StoredUpstream {
  if ('token' in request) {
    if (!box?.canSeal) throw secretsKeyMissing();
    return { kind: 'token', sealed: box.seal(request.token, sealContext(tenant)), fingerprint: fingerprint(request.token) };
  }
  if ('anonymous' in request) return current?.kind === 'anonymous' ? current : { kind: 'anonymous', client_id: randomUUID() };
  return { kind: 'default' };
}

export function accountOf(record: TenantRecord | null): string {
  if (!record || record.upstream.kind === 'default') return 'default';
  if (record.upstream.kind === 'token') return `tenant:${record.id}:${record.upstream.fingerprint}`;
  return `tenant:${record.id}:anon-${fingerprint(record.upstream.client_id)}`;
}

/** The account with its credentials; `stale` when an older key sealed the token (the caller re-seals it). */
export function openUpstream(record: TenantRecord | null, box: SecretBox | null): { account: UpstreamAccount; stale: boolean } {
  const account = accountOf(record);
  if (!record || record.upstream.kind === 'default') return { account: { account, kind: 'default' }, stale: false };
  if (record.upstream.kind === 'anonymous') return { account: { account, kind: 'anonymous', clientId: record.upstream.client_id }, stale: false };
  if (!box) throw new AppError('SECRETS_KEY_UNKNOWN', `tenant ${record.id} has an upstream token but SECRETS_KEY is not configured here`);
  const opened = box.open(record.upstream.sealed, sealContext(record.id));
  return { account: { account, kind: 'token', token: opened.plaintext }, stale: !opened.current && box.canSeal };
}

export type ResealOutcome = 'resealed' | 'current' | 'no-token' | 'unreadable' | 'missing';

/** Re-seals one tenant's token under the current key if an older one sealed it (compare-and-set; settings untouched). */
export async function resealTenant(store: TenantStore, box: SecretBox, tenant: string): Promise<ResealOutcome> {
  let outcome: ResealOutcome = 'missing';
  await store.update(tenant, (record) => {
    const sealed = record.upstream.kind === 'token' ? record.upstream : null;
    if (!sealed) outcome = 'no-token';
    else if (!box.canSeal || SecretBox.keyIdOf(sealed.sealed) === box.currentKeyId) outcome = 'current';
    else {
      try {
        const { plaintext } = box.open(sealed.sealed, sealContext(tenant));
        outcome = 'resealed';
        return { ...record, upstream: { ...sealed, sealed: box.seal(plaintext, sealContext(tenant)) } };
      } catch {
        outcome = 'unreadable';
      }
    }
    return null;
  });
  return outcome;
}

export interface ResealReport {
  checked: number;
  resealed: number;
  /** Sealed with a key that is neither SECRETS_KEY nor in SECRETS_KEY_PREVIOUS: re-set those tokens. */
  unreadable: string[];
}

export async function resealAll(store: TenantStore, box: SecretBox, tenants: readonly string[]): Promise<ResealReport> {
  const report: ResealReport = { checked: 0, resealed: 0, unreadable: [] };
  for (const id of tenants) {
    const outcome = await resealTenant(store, box, id);
    if (outcome === 'missing' || outcome === 'no-token') continue;
    report.checked++;
    if (outcome === 'resealed') report.resealed++;
    if (outcome === 'unreadable') report.unreadable.push(id);
  }
  return report;
}
