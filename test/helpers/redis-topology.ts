// Real Redis topologies for tests (one node, Sentinel, Cluster) from the redis-server binary, on free ports and temp dirs.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { redisEnvOf, type RedisSettings } from '../../src/redis/settings.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

export type NodeRole = 'master' | 'replica' | 'sentinel';

export interface RedisNode {
  readonly port: number;
  readonly pid: number;
  /** The role it started with; a failover changes the truth (ask masterFor / currentMaster). */
  readonly role: NodeRole;
  readonly address: string;
  alive: boolean;
  /** Its temp dir (redis.log is there). */
  readonly dir: string;
}

export interface Topology {
  readonly settings: RedisSettings;
  /** The environment that points nemo-relay at this topology (REDIS_URL or REDIS_SENTINELS… or REDIS_CLUSTER_NODES). */
  readonly env: Record<string, string>;
  readonly nodes: RedisNode[];
  /** Sends the signal and waits until the process is gone. */
  kill(node: RedisNode, signal?: NodeJS.Signals): Promise<void>;
  /** Keys matching `pattern` on each current master, by address (SCAN per master). */
  keyCountsPerMaster(pattern: string): Promise<Record<string, number>>;
  /** Kills every process and removes the temp dir (also done at process exit, and by a watchdog if the process dies). */
  stop(): Promise<void>;
}

export interface ClusterTopology extends Topology {
  /** The master serving `key`'s slot right now. */
  masterFor(key: string): Promise<RedisNode>;
  nodeOwningSlotOf(key: string): Promise<RedisNode>;
  /** The current masters (after failovers too). */
  masters(): Promise<RedisNode[]>;
}

export interface SentinelTopology extends Topology {
  readonly name: string;
  readonly sentinels: RedisNode[];
  /** The master the sentinels name right now. */
  currentMaster(): Promise<RedisNode>;
}

/** `count` distinct free ports: all bound at once, so no two are the same, then released for redis-server. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

/** One short-lived admin connection per call: never the service's factory, never an offline queue, never a hang. */
export async function adminCall(port: number, ...args: (string | number)[]): Promise<unknown> {
  const redis = adminConnection(port);
  try {
    await redis.connect();
    return await redis.call(String(args[0]), ...args.slice(1));
  } finally {
    redis.disconnect();
  }
}

function adminConnection(port: number): Redis {
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: 1_000,
    commandTimeout: 2_000,
  });
  redis.on('error', () => {});
  return redis;
}

async function countKeys(port: number, pattern: string): Promise<number> {
  const redis = adminConnection(port);
  try {
    await redis.connect();
    let cursor = '0';
    let count = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      count += keys.length;
    } while (cursor !== '0');
    return count;
  } finally {
    redis.disconnect();
  }
}

/** Everything started by this process, so the exit hook can kill what a failed test left behind. */
const live = new Set<Processes>();
let exitHookInstalled = false;

/** The redis-server processes of one topology, their temp dir, and a watchdog that cleans up if this process dies. */
class Processes {
  readonly dir = mkdtempSync(join(tmpdir(), 'nemo-relay-redis-'));
  readonly nodes: RedisNode[] = [];
  private readonly children = new Map<RedisNode, ChildProcess>();
  private readonly watchdog: ChildProcess;

  constructor() {
    live.add(this);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => {
        for (const p of live) p.stopNow();
      });
    }
    // A SIGKILLed test process runs no exit hook: this shell outlives it, then kills the nodes still listed and the dir.
    const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; [ -f pids ] && kill -9 $(cat pids) 2>/dev/null; cd /; rm -rf '${this.dir}'`;
    this.watchdog = spawn('sh', ['-c', script], { cwd: this.dir, detached: true, stdio: 'ignore' });
    this.watchdog.unref();
  }

  async start(role: NodeRole, args: string[], port?: number): Promise<RedisNode> {
    const nodePort = port ?? (await freePorts(1))[0]!;
    const dir = join(this.dir, String(nodePort));
    mkdirSync(dir, { recursive: true });
    const logfile = ['--logfile', join(dir, 'redis.log')];
    // No persistence (throwaway data), noeviction (what /readyz demands), and replicas sync at once instead of after 5 s.
    const argv =
      role === 'sentinel'
        ? [this.sentinelConfig(dir, nodePort, args), '--sentinel', ...logfile]
        : ['--port', String(nodePort), '--bind', '127.0.0.1', '--dir', dir, ...logfile, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction', '--repl-diskless-sync-delay', '0', ...args];
    const child = spawn('redis-server', argv, { stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new Error(`cannot start redis-server (apt-get install redis-server): ${err.message}`)));
    });
    const node: RedisNode = { port: nodePort, pid: child.pid!, role, address: `127.0.0.1:${nodePort}`, alive: true, dir };
    child.once('exit', () => {
      node.alive = false;
      this.writePids();
    });
    this.children.set(node, child);
    this.nodes.push(node);
    this.writePids();
    await waitFor(async () => (await adminCall(nodePort, 'PING')) === 'PONG', { what: `redis-server on ${nodePort}`, timeoutMs: 10_000 });
    return node;
  }

  /** Sentinel needs a writable config file (it rewrites it with what it learns). */
  private sentinelConfig(dir: string, port: number, lines: string[]): string {
    const file = join(dir, 'sentinel.conf');
    writeFileSync(file, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, ...lines, ''].join('\n'));
    return file;
  }

  private writePids(): void {
    try {
      writeFileSync(join(this.dir, 'pids'), [...this.children.entries()].filter(([n]) => n.alive).map(([n]) => n.pid).join(' '));
    } catch {
      /* the dir is gone: stopping */
    }
  }

  async kill(node: RedisNode, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.children.get(node);
    if (!child || !node.alive) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  nodeAt(port: number): RedisNode {
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no node of this topology listens on ${port}`);
    return node;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.filter((n) => n.alive).map((n) => this.kill(n)));
    this.stopNow();
  }

  /** Synchronous: usable from the exit hook. */
  stopNow(): void {
    for (const [node, child] of this.children) if (node.alive) child.kill('SIGKILL');
    try {
      process.kill(this.watchdog.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }
}

function topologyBase(procs: Processes, settings: RedisSettings, masters: () => Promise<RedisNode[]>): Topology {
  return {
    settings,
    env: redisEnvOf(settings),
    nodes: procs.nodes,
    kill: (node, signal) => procs.kill(node, signal),
    async keyCountsPerMaster(pattern) {
      const counts: Record<string, number> = {};
      for (const node of await masters()) counts[node.address] = await countKeys(node.port, pattern);
      return counts;
    },
    stop: () => procs.stop(),
  };
}

/** One throwaway redis-server (noeviction, no persistence). */
export async function startSingle(opts: { args?: string[] } = {}): Promise<Topology & { node: RedisNode; url: string }> {
  const procs = new Processes();
  try {
    const node = await procs.start('master', opts.args ?? []);
    const url = `redis://${node.address}`;
    const settings: RedisSettings = { mode: 'single', url, tls: false, shards: 1, waitReplicas: 0, waitTimeoutMs: 100 };
    return { ...topologyBase(procs, settings, async () => [node]), node, url };
  } catch (err) {
    await procs.stop();
    throw err;
  }
}

/** `masters` masters with `replicasPerMaster` replicas each, joined by redis-cli --cluster create; resolves at cluster_state:ok. */
export async function startCluster(opts: { masters?: number; replicasPerMaster?: number; shards?: number } = {}): Promise<ClusterTopology> {
  const masters = opts.masters ?? 3;
  const replicas = opts.replicasPerMaster ?? 1;
  const procs = new Processes();
  try {
    const count = masters * (1 + replicas);
    const ports = await freePorts(count * 2);
    const nodes = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        // node-timeout 1 s: a dead master is failed over in ~2 s instead of the production 15 s. Full coverage off, as
        // the README asks of a production cluster: with it on (Redis's default) every master answers CLUSTERDOWN from
        // the moment the dead one is marked failed until its replica takes over, so no shard would go on meanwhile.
        procs.start(
          'master',
          [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '1000',
            '--cluster-require-full-coverage',
            'no',
            '--cluster-port',
            String(ports[count + i]),
          ],
          ports[i],
        ),
      ),
    );
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', String(replicas), '--cluster-yes'], { timeout: 30_000 });
    const currentMasters = async (): Promise<RedisNode[]> => {
      const alive = procs.nodes.find((n) => n.alive);
      if (!alive) return [];
      const text = String(await adminCall(alive.port, 'CLUSTER', 'NODES'));
      // Fields: id addr@bus flags master-id ping pong epoch link slots…; a serving master has no fail flag and some slots.
      return text
        .split('\n')
        .map((line) => line.split(' '))
        .filter((f) => f.length > 8 && f[2]!.split(',').includes('master') && !/fail/.test(f[2]!))
        .map((f) => procs.nodeAt(Number(/:(\d+)@/.exec(f[1]!)![1])));
    };
    await waitFor(
      async () => {
        for (const node of nodes) {
          const info = String(await adminCall(node.port, 'CLUSTER', 'INFO'));
          if (!info.includes('cluster_state:ok') || !info.includes(`cluster_known_nodes:${nodes.length}`)) return false;
        }
        // Replicas must have synced before a test kills their master (or WAITs for them).
        for (const node of nodes) {
          const repl = String(await adminCall(node.port, 'INFO', 'replication'));
          if (repl.includes('role:slave') && !repl.includes('master_link_status:up')) return false;
        }
        return (await currentMasters()).length === masters;
      },
      { what: 'cluster_state:ok on every node', timeoutMs: 20_000, intervalMs: 50 },
    );
    const roles = new Set((await currentMasters()).map((n) => n.port));
    for (const node of nodes) Object.assign(node, { role: roles.has(node.port) ? 'master' : 'replica' });
    const settings: RedisSettings = {
      mode: 'cluster',
      nodes: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
      tls: false,
      shards: opts.shards ?? 1,
      waitReplicas: replicas > 0 ? 1 : 0,
      waitTimeoutMs: 100,
    };
    const masterFor = async (key: string): Promise<RedisNode> => {
      const alive = procs.nodes.find((n) => n.alive)!;
      const slot = Number(await adminCall(alive.port, 'CLUSTER', 'KEYSLOT', key));
      const ranges = (await adminCall(alive.port, 'CLUSTER', 'SLOTS')) as [number, number, [string, number, string]][];
      const range = ranges.find(([first, last]) => slot >= first && slot <= last);
      if (!range) throw new Error(`slot ${slot} of ${key} has no master`);
      return procs.nodeAt(range[2][1]);
    };
    return { ...topologyBase(procs, settings, currentMasters), masterFor, nodeOwningSlotOf: masterFor, masters: currentMasters };
  } catch (err) {
    await procs.stop();
    throw err;
  }
}

/** A master, `replicas` replicas and `sentinels` sentinels (quorum 2), failing over ~2-4 s after the master dies. */
export async function startSentinel(opts: { replicas?: number; sentinels?: number; name?: string } = {}): Promise<SentinelTopology> {
  const name = opts.name ?? 'nemo-relay';
  const procs = new Processes();
  try {
    const master = await procs.start('master', []);
    const replicas = await Promise.all(
      Array.from({ length: opts.replicas ?? 1 }, () => procs.start('replica', ['--replicaof', '127.0.0.1', String(master.port)])),
    );
    const quorum = Math.min(2, opts.sentinels ?? 3);
    const sentinelLines = [
      `sentinel monitor ${name} 127.0.0.1 ${master.port} ${quorum}`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 5000`,
      `sentinel parallel-syncs ${name} 1`,
    ];
    const sentinels = await Promise.all(Array.from({ length: opts.sentinels ?? 3 }, () => procs.start('sentinel', sentinelLines)));
    // A failover needs the sentinels to know each other (hello messages every 2 s) and the replica to be in sync.
    await waitFor(
      async () => {
        for (const s of sentinels) {
          const peers = (await adminCall(s.port, 'SENTINEL', 'SENTINELS', name)) as unknown[];
          const known = (await adminCall(s.port, 'SENTINEL', 'REPLICAS', name)) as unknown[];
          if (peers.length < sentinels.length - 1 || known.length < replicas.length) return false;
        }
        for (const r of replicas) if (!String(await adminCall(r.port, 'INFO', 'replication')).includes('master_link_status:up')) return false;
        return true;
      },
      { what: 'sentinels that know each other and the replicas', timeoutMs: 20_000, intervalMs: 100 },
    );
    const settings: RedisSettings = {
      mode: 'sentinel',
      sentinels: sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
      sentinelName: name,
      tls: false,
      shards: 1,
      waitReplicas: replicas.length > 0 ? 1 : 0,
      waitTimeoutMs: 100,
    };
    const currentMaster = async (): Promise<RedisNode> => {
      for (const s of sentinels.filter((n) => n.alive)) {
        const addr = (await adminCall(s.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name).catch(() => null)) as [string, string] | null;
        if (addr) return procs.nodeAt(Number(addr[1]));
      }
      throw new Error('no sentinel answers');
    };
    return { ...topologyBase(procs, settings, async () => [await currentMaster()]), name, sentinels, currentMaster };
  } catch (err) {
    await procs.stop();
    throw err;
  }
}
