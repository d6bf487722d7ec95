// Follows Sentinel's +switch-master so connected clients move to a new master at once, not when the old one dies.
import { Redis } from 'ioredis';
import type { HostPort } from './settings.js';

/**
 * After a failover that leaves the old master up (SENTINEL FAILOVER for maintenance, a partition that heals), the old
 * master keeps accepting writes until Sentinel demotes it, ~10 s later on real nodes; those writes are then lost.
 * ioredis' own failoverDetector closes that window but disconnects even a reconnect in progress, which ioredis treats
 * as fatal (the client ends for good: 1 SIGKILL failover in 6 on real nodes). This watcher only disconnects clients
 * that are `ready`, so a reconnect under way is left alone (it asks the sentinels, which already name the new master).
 */
class SentinelWatch {
  private readonly clients = new Set<Redis>();
  private readonly subscribers: Redis[];

  constructor(
    readonly key: string,
    sentinels: HostPort[],
    private readonly masterName: string,
    sentinelPassword: string | undefined,
  ) {
    this.subscribers = sentinels.map((s) => {
      const sub = new Redis({
        host: s.host,
        port: s.port,
        ...(sentinelPassword !== undefined ? { password: sentinelPassword } : {}),
        connectionName: 'nemo-relay:sentinel-watch',
        maxRetriesPerRequest: null,
        retryStrategy: (times: number) => Math.min(times * 200, 2_000),
      });
      // One sentinel down is normal in a failover; the others still tell.
      sub.on('error', () => {});
      sub.subscribe('+switch-master').catch(() => {});
      sub.on('message', (_channel: string, message: string) => this.onSwitch(message));
      return sub;
    });
  }

  add(client: Redis): void {
    this.clients.add(client);
    client.once('end', () => this.remove(client));
  }

  private remove(client: Redis): void {
    this.clients.delete(client);
    if (this.clients.size === 0) this.close();
  }

  /** `<name> <old-ip> <old-port> <new-ip> <new-port>` */
  private onSwitch(message: string): void {
    if (message.split(' ')[0] !== this.masterName) return;
    for (const client of this.clients) if (client.status === 'ready') client.disconnect(true);
  }

  private close(): void {
    watches.delete(this.key);
    for (const sub of this.subscribers) sub.disconnect();
  }
}

const watches = new Map<string, SentinelWatch>();

/** Registers a Sentinel-mode client; the watch (one subscription per sentinel, per process) ends with its last client. */
export function watchSentinelSwitches(client: Redis, sentinels: HostPort[], masterName: string, sentinelPassword?: string): void {
  const key = `${masterName}@${sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`;
  let watch = watches.get(key);
  if (!watch) {
    watch = new SentinelWatch(key, sentinels, masterName, sentinelPassword);
    watches.set(key, watch);
  }
  watch.add(client);
}
