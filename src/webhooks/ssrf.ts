// SSRF guard for webhook targets: resolve once, refuse forbidden addresses, connect to exactly the checked address.
import dns from 'node:dns';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { AppError } from '../core/errors.js';
import { describeForbidden, isForbiddenAddress } from './address-policy.js';

export { isForbiddenAddress } from './address-policy.js';

/** The callback form of dns.lookup with `{ all: true }`; dns.lookup itself fits, and so does a test stub. */
export type LookupFunction = (
  hostname: string,
  options: dns.LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void,
) => void;

export interface GuardOptions {
  allowPrivate: boolean;
  lookup?: LookupFunction;
  /** Covers DNS resolution and the TCP/TLS handshake each; default 10 s like undici's connectTimeout. */
  connectTimeoutMs?: number;
  /** Extra trusted CA certificates (PEM) for receivers behind a private CA; the system roots stay trusted too. */
  ca?: string[];
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

function refused(message: string): AppError {
  return new AppError('WEBHOOK_TARGET_REFUSED', message);
}

function resolveAll(lookup: LookupFunction, hostname: string, timeoutMs: number): Promise<dns.LookupAddress[]> {
  return new Promise((resolve, reject) => {
    // dns.lookup has no timeout of its own and a stuck resolver must not pin a delivery slot.
    const timer = setTimeout(() => reject(new Error(`DNS lookup for ${hostname} timed out after ${timeoutMs} ms`)), timeoutMs);
    lookup(hostname, { all: true, verbatim: true }, (err, addresses) => {
      clearTimeout(timer);
      if (err) reject(err);
      else if (!addresses || addresses.length === 0) reject(new Error(`DNS lookup for ${hostname} returned no address`));
      else resolve(addresses);
    });
  });
}

/**
 * The address to connect to for `hostname`: a literal IP as is, a name through `lookup`. When private targets are
 * not allowed, every resolved address must pass, so a name cannot mix a public and an internal record.
 */
async function pickAddress(hostname: string, opts: GuardOptions): Promise<string> {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  if (isIP(host) !== 0) {
    const reason = opts.allowPrivate ? null : isForbiddenAddress(host);
    if (reason) throw refused(`target is ${describeForbidden(reason, host)}`);
    return host;
  }
  const lookup: LookupFunction = opts.lookup ?? dns.lookup;
  const addresses = await resolveAll(lookup, host, opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  if (!opts.allowPrivate) {
    for (const { address } of addresses) {
      const reason = isForbiddenAddress(address);
      if (reason) throw refused(`target resolves to ${describeForbidden(reason, address)}`);
    }
  }
  return addresses[0]!.address;
}

/**
 * An undici Agent whose connector resolves the host itself, refuses forbidden addresses before any packet is sent
 * and hands the checked IP to the socket, so there is no second resolution and no DNS-rebinding window. The peer
 * address is checked once more after connecting. TLS still verifies the certificate against the original name.
 */
export function createGuardedDispatcher(opts: GuardOptions): Dispatcher {
  const base = buildConnector({
    timeout: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    ...(opts.ca ? { ca: [...tls.rootCertificates, ...opts.ca] } : {}),
  });
  const connect: buildConnector.connector = (options, callback) => {
    pickAddress(options.hostname, opts).then(
      (address) => {
        // SNI and certificate checks need the name, not the IP we now connect to; plain HTTP needs neither.
        const byName = options.protocol === 'https:' && isIP(options.hostname) === 0;
        const servername = options.servername ?? (byName ? options.hostname : undefined);
        base({ ...options, hostname: address, servername }, (err, socket) => {
          if (err || !socket) {
            callback(err ?? new Error('connect failed'), null);
            return;
          }
          const remote = socket.remoteAddress;
          const reason = opts.allowPrivate ? null : remote ? isForbiddenAddress(remote) : 'unknown';
          if (reason) {
            socket.destroy();
            callback(refused(`connected peer is ${describeForbidden(reason, remote ?? '?')}`), null);
            return;
          }
          callback(null, socket);
        });
      },
      (err: Error) => callback(err, null),
    );
  };
  return new Agent({ connect });
}

export interface UrlCheckOptions {
  allowPrivate: boolean;
  lookup?: LookupFunction;
  lookupTimeoutMs?: number;
}

/**
 * Checks a webhook URL when a job is created, so callers learn about a bad target at once instead of after hours of
 * retries. Delivery goes through createGuardedDispatcher anyway, which re-checks at connect time.
 */
export async function assertWebhookUrlAllowed(url: string, opts: UrlCheckOptions): Promise<void> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw refused('webhook URL is not a valid absolute URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw refused(`webhook URL scheme must be http or https, not ${parsed.protocol.replace(/:$/, '')}`);
  }
  // Credentials in a URL end up in logs and delivery records; signatures are the authentication here.
  if (parsed.username !== '' || parsed.password !== '') throw refused('webhook URL must not contain credentials');
  if (opts.allowPrivate) return;
  try {
    await pickAddress(parsed.hostname, {
      allowPrivate: false,
      ...(opts.lookup ? { lookup: opts.lookup } : {}),
      connectTimeoutMs: opts.lookupTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    });
  } catch (err) {
    if (err instanceof AppError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw refused(`webhook host ${parsed.hostname} does not resolve${code ? ` (${code})` : ''}`);
  }
}
