// In-memory upstream state: anonymous tokens, users' credits, sessions and renders.
import { newSessionId, newTaskId, newToken, newUserId } from './ids.js';
import { shortHash } from './media.js';
import { emptyState, type RenderRec, type SessionRec, type TokenRec, type UserRec } from './model.js';
import type { SimScenario } from './scenario.js';

const WEEK_MS = 7 * 24 * 3600 * 1000;

export type TokenIssue = { kind: 'ok'; token: TokenRec; user: UserRec } | { kind: 'ip_limited' };

export class SimStore {
  readonly tokens = new Map<string, TokenRec>();
  readonly users = new Map<string, UserRec>();
  readonly sessions = new Map<string, SessionRec>();
  readonly renders = new Map<string, RenderRec>();
  /** clientId → its current token and its (lasting) anonymous user. */
  private readonly clients = new Map<string, { token?: string; userId: string }>();
  private readonly ipIssues = new Map<string, number[]>();
  /** server_error faults without a `form`: this simulator's own alternation (never shared with another instance). */
  private serverErrors = 0;

  reset(): void {
    this.serverErrors = 0;
    this.tokens.clear();
    this.users.clear();
    this.sessions.clear();
    this.renders.clear();
    this.clients.clear();
    this.ipIssues.clear();
  }

  /** The next form of a server_error that names none: an HTML page first, then truncated JSON, and so on. */
  nextServerErrorForm(): 'html' | 'json' {
    return this.serverErrors++ % 2 === 0 ? 'html' : 'json';
  }

  /**
   * One token per client id while it is valid; a fresh one (same anonymous user, so sessions and
   * credits carry over) once it expired or was killed. Only fresh tokens count against the IP limit.
   */
  issueAnonymousToken(clientId: string, ip: string, sc: SimScenario, now = Date.now()): TokenIssue {
    const client = this.clients.get(clientId);
    const current = client?.token ? this.tokens.get(client.token) : undefined;
    if (current && this.isLive(current, now)) return { kind: 'ok', token: current, user: this.users.get(current.userId)! };
    const recent = (this.ipIssues.get(ip) ?? []).filter((t) => now - t < WEEK_MS);
    if (recent.length >= sc.tokenIpLimit) {
      this.ipIssues.set(ip, recent);
      return { kind: 'ip_limited' };
    }
    recent.push(now);
    this.ipIssues.set(ip, recent);
    const userId = client?.userId ?? newUserId();
    let user = this.users.get(userId);
    if (!user) {
      user = { userId, anonymous: true, available: sc.anonCredits, frozen: 0 };
      this.users.set(userId, user);
    }
    const token: TokenRec = { token: newToken(), userId, clientId, expiresAt: now + sc.tokenTtlMs, dead: false, anonymous: true };
    this.tokens.set(token.token, token);
    this.clients.set(clientId, { token: token.token, userId });
    return { kind: 'ok', token, user };
  }

  /**
   * The live token record for a bearer value; static scenario tokens become non-anonymous users lazily, one user
   * (and so one balance) per token, starting with staticCredits (anonCredits when that is null).
   */
  resolveToken(bearer: string | undefined, sc: SimScenario, now = Date.now()): TokenRec | undefined {
    if (!bearer) return undefined;
    let rec = this.tokens.get(bearer);
    if (!rec && sc.staticTokens.includes(bearer)) {
      // A hash of the whole token: two configured tokens that merely end alike must not share a balance.
      const userId = `user_${shortHash(bearer).slice(0, 12)}`;
      if (!this.users.has(userId)) this.users.set(userId, { userId, anonymous: false, available: sc.staticCredits ?? sc.anonCredits, frozen: 0 });
      rec = { token: bearer, userId, expiresAt: Number.MAX_SAFE_INTEGER, dead: false, anonymous: false };
      this.tokens.set(bearer, rec);
    }
    return rec && this.isLive(rec, now) ? rec : undefined;
  }

  /** The user behind a token, live or not (a balance can be set for an expired token's user); static tokens included. */
  userOfToken(token: string, sc: SimScenario): UserRec | undefined {
    const rec = this.tokens.get(token) ?? this.resolveToken(token, sc);
    return rec ? this.users.get(rec.userId) : undefined;
  }

  /** Creates the users of every configured static token that was not used yet (so "all users" includes them). */
  materializeStaticUsers(sc: SimScenario): void {
    for (const t of sc.staticTokens) this.resolveToken(t, sc);
  }

  /** token_expired: the token is dead for good and its client gets a fresh one on the next request. */
  killToken(token: string): void {
    const rec = this.tokens.get(token);
    if (rec) rec.dead = true;
  }

  createSession(userId: string, taskName: string, language: string | undefined): SessionRec {
    let sessionId = newSessionId();
    while (this.sessions.has(sessionId)) sessionId = newSessionId();
    const rec: SessionRec = {
      sessionId,
      taskId: newTaskId(),
      taskName,
      userId,
      createdAt: Date.now(),
      messages: [],
      replies: [],
      state: emptyState(),
      busy: 0,
      chain: Promise.resolve(),
      mediaSeq: 0,
      uploads: [],
      runs: [],
      openStreams: 0,
      maxConcurrentRuns: 0,
      ...(language !== undefined ? { language } : {}),
    };
    this.sessions.set(sessionId, rec);
    return rec;
  }

  /** A session only exists for its owner: another user's id is as unknown as a made-up one. */
  sessionFor(sessionId: string | undefined, userId: string): SessionRec | undefined {
    const s = sessionId ? this.sessions.get(sessionId) : undefined;
    return s && s.userId === userId ? s : undefined;
  }

  private isLive(rec: TokenRec, now: number): boolean {
    return !rec.dead && rec.expiresAt > now;
  }
}
