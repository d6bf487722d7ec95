// Follows Sentinel's failovers: writes on an old master still alive are paused once its replacement is chosen, and connected clients move to the new master at once.
import { Redis } from 'ioredis';
import type { HostPort } from './settings.js';

/** How to reach a data node named by the sentinels (the master being replaced). */
export interface DataNodeAuth {
  password?: string;
  tls?: boolean;
}

/**
 * Leader-sentinel events of a failover whose replacement is chosen (the old master is about to stop being the master,
 * or already has): from here on, a write the old master takes may never reach the new one.
 */
const FAILOVER_UNDER_WAY = new Set([
  '+selected-slave',
  '+failover-state-send-slaveof-noone',
  '+failover-state-wait-promotion',
  '+promoted-slave',
  '+failover-state-reconf-slaves',
]);

/**
 * How long the old master's writes stay paused: past the switch (about a second after the promotion on real nodes)
 * and until Sentinel demotes it (~10 s later), so what clients still send it waits instead of being taken and then
 * lost. An aborted failover unpauses it at once.
 */
const OLD_MASTER_PAUSE_MS = 15_000;

/** The master a Sentinel event is about: `<type> <name> <ip> <port>` or `<type> <name> <ip> <port> @ <master> <ip> <port>`. */
export function masterOfEvent(message: string): { name: string; host: string; port: number } | null {
  const parts = message.split(' ');
  const at = parts.indexOf('@');
  const [name, host, port] = at >= 0 ? parts.slice(at + 1, at + 4) : parts.slice(1, 4);
  return name && host && port && /^\d+$/.test(port) ? { name, host, port: Number(port) } : null;
}

/**
 * After a failover that leaves the old master up (SENTINEL FAILOVER for maintenance, a partition that heals), the old
 * master keeps accepting writes until Sentinel demotes it, ~10 s later on real nodes; those writes are then lost: a job
 * the API accepted with 202, a checkpoint saying a message was sent. Two measures close that window:
 * - once the leader sentinel has chosen the replica to promote, the old master's writes are paused (CLIENT PAUSE
 *   WRITE): a write then waits on it instead of being taken, until the switch moves our clients (below) and it is
 *   sent again to the new master, or until the failover is aborted (the pause is lifted);
 * - on +switch-master, clients that are `ready` are disconnected, so they reconnect to the master the sentinels now
 *   name (ioredis' own failoverDetector does this too, but disconnects even a reconnect in progress, which ioredis
 *   treats as fatal: the client ends for good, 1 SIGKILL failover in 6 on real nodes; a reconnect under way is left
 *   alone here, it asks the sentinels, which already name the new master).
 * A dead old master cannot be paused and takes no writes: nothing is lost there that this could save.
 */
class SentinelWatch {
  private readonly clients = new Set<Redis>();
  private readonly subscribers: Redis[];
  /** The old master this watch paused, by address, so an abort lifts exactly that pause (and a failover pauses once). */
  private readonly paused = new Set<string>();

  constructor(
    readonly key: string,
    sentinels: HostPort[],
    private readonly masterName: string,
    sentinelPassword: string | undefined,
    private readonly dataNodes: DataNodeAuth,
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
      // Only the leader sentinel publishes a failover's steps, so every sentinel is listened to.
      sub.psubscribe('*').catch(() => {});
      sub.on('pmessage', (_pattern: string, channel: string, message: string) => this.onEvent(channel, message));
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

  private onEvent(channel: string, message: string): void {
    if (channel === '+switch-master') return this.onSwitch(message);
    const master = masterOfEvent(message);
    if (!master || master.name !== this.masterName) return;
    const address = `${master.host}:${master.port}`;
    if (FAILOVER_UNDER_WAY.has(channel) && !this.paused.has(address)) {
      this.paused.add(address);
      void this.tell(master, 'PAUSE', String(OLD_MASTER_PAUSE_MS), 'WRITE');
      setTimeout(() => this.paused.delete(address), OLD_MASTER_PAUSE_MS).unref();
    } else if (channel.startsWith('-failover-abort-') && this.paused.delete(address)) {
      void this.tell(master, 'UNPAUSE');
    }
  }

  /** `<name> <old-ip> <old-port> <new-ip> <new-port>` */
  private onSwitch(message: string): void {
    if (message.split(' ')[0] !== this.masterName) return;
    for (const client of this.clients) if (client.status === 'ready') client.disconnect(true);
  }

  /**
   * One CLIENT command to the old master, on a connection of its own; best effort: a master that is down, or that
   * refuses it (an ACL without CLIENT), is left as it would be without this watch.
   */
  private async tell(node: { host: string; port: number }, ...args: string[]): Promise<void> {
    const conn = new Redis({
      host: node.host,
      port: node.port,
      ...(this.dataNodes.password !== undefined ? { password: this.dataNodes.password } : {}),
      ...(this.dataNodes.tls ? { tls: {} } : {}),
      connectionName: 'nemo-relay:sentinel-watch',
      connectTimeout: 1_000,
      commandTimeout: 1_000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    conn.on('error', () => {});
    try {
      await conn.call('CLIENT', ...args);
    } catch {
      /* best effort, see above */
    } finally {
      conn.disconnect();
    }
  }

  private close(): void {
    watches.delete(this.key);
    for (const sub of this.subscribers) sub.disconnect();
  }
}

const watches = new Map<string, SentinelWatch>();

/** Registers a Sentinel-mode client; the watch (one subscription per sentinel, per process) ends with its last client. */
export function watchSentinelSwitches(client: Redis, sentinels: HostPort[], masterName: string, sentinelPassword: string | undefined, dataNodes: DataNodeAuth): void {
  const key = `${masterName}@${sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`;
  let watch = watches.get(key);
  if (!watch) {
    watch = new SentinelWatch(key, sentinels, masterName, sentinelPassword, dataNodes);
    watches.set(key, watch);
  }
  watch.add(client);
}
