// The last error each Redis connection met while it was down, so a readiness answer names the cause (NOAUTH, an unknown master) instead of "not writeable".
import type { Cluster, Redis } from 'ioredis';

const lastErrors = new WeakMap<Redis | Cluster, string>();

/** Remembers the client's connection errors until it is ready again. */
export function rememberConnectionErrors(client: Redis | Cluster): void {
  client.on('error', (err: Error) => lastErrors.set(client, err.message));
  client.on('ready', () => lastErrors.delete(client));
}

/** What went wrong last while the client could not connect (undefined once it is ready). */
export function lastConnectionError(client: Redis | Cluster): string | undefined {
  return lastErrors.get(client);
}
