// Upstream accounts: the service's own and each tenant's; every account has its token, credit gate, balance and claim link.
import type { RedisClient } from '../redis/client.js';
import { BalanceReader, type Balance } from '../nemo/balance.js';
import type { NemoClient } from '../nemo/client.js';
import { TokenProvider } from '../nemo/token.js';
import type { Logger } from '../observability/logger.js';
import { DEFAULT_ACCOUNT, type Keys } from '../redis/keys.js';
import { ClaimLinks } from './claim-links.js';
import { CreditsGate } from './credits-gate.js';

/** Whose credits a tenant's jobs spend (the tenant directory answers it; the default account otherwise). */
export interface UpstreamIdentity {
  /** Stable id of the account: `default`, or one per tenant token / tenant anonymous client id. */
  account: string;
  kind: 'default' | 'token' | 'anonymous';
  /** The tenant's own NemoVideo token (kind token), decrypted: never logged, never stored in plaintext. */
  token?: string;
  /** The tenant's own anonymous client id (kind anonymous). */
  clientId?: string;
}

export interface UpstreamAccount {
  id: string;
  tokens: TokenProvider;
  credits: CreditsGate;
  balance: BalanceReader;
  claims: ClaimLinks;
}

export interface UpstreamAccountsDeps {
  redis: RedisClient;
  keys: Keys;
  nemo: NemoClient;
  /** The default account: NEMO_TOKEN, else the service's anonymous token (NEMO_CLIENT_ID or a generated id). */
  staticToken: string | undefined;
  clientId: string | undefined;
  webUrl: string;
  creditsRecheckMs: number;
  logger: Logger;
  /** The tenant's identity; absent: every tenant spends the default account. */
  identityOf?: (tenant: string) => Promise<UpstreamIdentity>;
  /** The id alone (no token opened, from the directory's cache): what a running job checks before each step. */
  accountIdOf?: (tenant: string) => Promise<string>;
}

const DEFAULT_IDENTITY: UpstreamIdentity = { account: DEFAULT_ACCOUNT, kind: 'default' };

export class UpstreamAccounts {
  private readonly built = new Map<string, UpstreamAccount>();

  constructor(private readonly deps: UpstreamAccountsDeps) {}

  /** The account of the service itself (NEMO_TOKEN or its anonymous token). */
  get default(): UpstreamAccount {
    return this.accountOf(DEFAULT_IDENTITY);
  }

  /** The account a tenant's jobs spend now (a tenant that changes its token spends the new account from then on). */
  async forTenant(tenant: string): Promise<UpstreamAccount> {
    const identity = this.deps.identityOf ? await this.deps.identityOf(tenant) : DEFAULT_IDENTITY;
    return this.accountOf(identity);
  }

  /** The id of the account a tenant's jobs spend now (cheap: no token is opened); forTenant gives the account itself. */
  async currentId(tenant: string): Promise<string> {
    if (this.deps.accountIdOf) return this.deps.accountIdOf(tenant);
    return (await this.forTenant(tenant)).id;
  }

  private accountOf(identity: UpstreamIdentity): UpstreamAccount {
    const existing = this.built.get(identity.account);
    if (existing) return existing;
    const { redis, keys, nemo, logger } = this.deps;
    const account = identity.account;
    const log = logger.child({ account });
    const own = identity.kind !== 'default';
    const tokens = new TokenProvider({
      redis,
      keys,
      client: nemo,
      account,
      staticToken: own ? identity.token : this.deps.staticToken,
      clientId: own ? identity.clientId : this.deps.clientId,
      logger: log.child({ component: 'token' }),
    });
    const built: UpstreamAccount = {
      id: account,
      tokens,
      credits: new CreditsGate(redis, keys, this.deps.creditsRecheckMs, account),
      balance: new BalanceReader({ redis, cacheKey: keys.creditsCache(account), nemo, tokens, logger: log.child({ component: 'credits' }) }),
      claims: new ClaimLinks(redis, keys.claimUrl(account), this.deps.webUrl),
    };
    this.built.set(account, built);
    return built;
  }
}

/**
 * An account's credits as GET /v1/credits and the operator overview answer them: the balance (one upstream read per
 * CREDITS_CACHE_MS, shared by every process) and, for an anonymous account, the upstream's registration (claim) link
 * learned on its last 2001 (null otherwise). Throws UPSTREAM_UNAVAILABLE when the balance cannot be read.
 */
export async function accountCredits(account: UpstreamAccount): Promise<Balance & { claim_url: string | null }> {
  return { ...(await account.balance.get()), claim_url: account.tokens.isStatic ? null : await account.claims.current() };
}
