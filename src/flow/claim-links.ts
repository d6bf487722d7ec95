// The registration ("claim") link of an anonymous upstream account, learned when it runs out of credits (§2.3).
import type { RedisClient } from '../redis/client.js';
import type { NemoClient } from '../nemo/client.js';

/** The upstream's own advice on 2001 with an anonymous token: send the user to this page to register and add credits. */
export function claimUrlOf(webUrl: string, claimToken: string): string {
  return `${webUrl.replace(/\/+$/, '')}/workspace/claim?ct=${encodeURIComponent(claimToken)}`;
}

export class ClaimLinks {
  constructor(
    private readonly redis: RedisClient,
    /** Where this account's link is kept. */
    private readonly key: string,
    private readonly webUrl: string,
  ) {}

  /**
   * The account's link: the one kept (a claim token is reusable for 7 days, and kept no longer than it lasts), else one
   * asked of the upstream for this session; null when refused. Asked again on every 2001, it cost a call per re-check.
   */
  async learn(nemo: Pick<NemoClient, 'claimToken'>, token: string, session: { task_id: string; session_id: string }): Promise<string | null> {
    const kept = await this.current();
    if (kept) return kept;
    try {
      const { claimToken, expiresIn } = await nemo.claimToken(token, session.task_id, session.session_id);
      const url = claimUrlOf(this.webUrl, claimToken);
      await this.redis.set(this.key, url, 'EX', Math.max(60, Math.min(expiresIn, 7 * 24 * 3600)));
      return url;
    } catch {
      return this.current();
    }
  }

  async current(): Promise<string | null> {
    return this.redis.get(this.key);
  }
}

/**
 * What to do about an empty upstream account, in the words the job's wait and failure use: the service's own account
 * is the operator's (NEMO_TOKEN), a tenant's own is set through /admin/tenants.
 */
export function outOfCreditsAdvice(opts: { anonymous: boolean; claimUrl: string | null; tenantAccount?: boolean }): string {
  const other = opts.tenantAccount ? "give the tenant a funded upstream token (PATCH /admin/tenants/{id})" : 'set NEMO_TOKEN to a funded key';
  if (!opts.anonymous) {
    return opts.tenantAccount
      ? "out of credits (2001): top up the NemoVideo account of the tenant's upstream token"
      : 'out of credits (2001): top up the NemoVideo account of the configured token';
  }
  const where = opts.claimUrl ? `register at ${opts.claimUrl}` : 'register the anonymous NemoVideo account';
  return `out of credits (2001): ${where} or ${other}`;
}
