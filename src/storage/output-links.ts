// The links put into stored results: PUBLIC_BASE_URL + a signed, expiring query, minted and checked with one shared key.
import { createSecretKey, type KeyObject } from 'node:crypto';
import { linkExpiresAt, outputUrl, verifyOutputLink, type LinkVerdict } from './signed-links.js';

export interface OutputLinksOptions {
  publicBaseUrl: string;
  /** True when PUBLIC_BASE_URL was unset and the base was guessed from HOST and PORT (see resolvePublicBaseUrl). */
  derived: boolean;
  /** How long a minted link stays valid (OUTPUT_URL_TTL_MS). */
  ttlMs: number;
  /** The signing key (loadOrCreateLinkSecret); called until it succeeds once, then never again. */
  loadSecret: () => Promise<Uint8Array>;
  now?: () => number;
}

export class OutputLinks {
  readonly ttlMs: number;
  private base: string;
  private readonly derived: boolean;
  private readonly now: () => number;
  private secret: KeyObject | null = null;
  private loading: Promise<KeyObject> | null = null;

  constructor(private readonly opts: OutputLinksOptions) {
    this.base = opts.publicBaseUrl.replace(/\/+$/, '');
    this.derived = opts.derived;
    this.ttlMs = opts.ttlMs;
    this.now = opts.now ?? Date.now;
  }

  get publicBaseUrl(): string {
    return this.base;
  }

  /**
   * The API learned its real port (PORT=0 picks one at listen time): a guessed base URL takes it. A configured
   * PUBLIC_BASE_URL is never touched.
   */
  listeningOn(port: number): void {
    if (!this.derived) return;
    const url = new URL(this.base);
    url.port = String(port);
    this.base = url.origin;
  }

  /** The key, loaded once per process (and imported once for HMAC); a failed load (Redis away) is retried by the next caller. */
  key(): Promise<KeyObject> {
    if (this.secret) return Promise.resolve(this.secret);
    this.loading ??= this.opts.loadSecret().then(
      (secret) => (this.secret = createSecretKey(secret)),
      (err: unknown) => {
        this.loading = null;
        throw err;
      },
    );
    return this.loading;
  }

  /** A fresh link for a job's stored output; the same URL for every call within a minute (see linkExpiresAt). */
  async urlFor(jobId: string): Promise<string> {
    const secret = await this.key();
    return outputUrl({ publicBaseUrl: this.base, jobId, expiresAtMs: linkExpiresAt(this.now(), this.ttlMs), secret });
  }

  async verify(jobId: string, expires: string | undefined, sig: string | undefined): Promise<LinkVerdict> {
    return verifyOutputLink({ jobId, expires, sig, secret: await this.key(), now: this.now() });
  }
}
