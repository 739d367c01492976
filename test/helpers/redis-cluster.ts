/**
 * A real Redis Cluster on loopback for tests: one redis-server per node, each in its own temp dir,
 * joined by `redis-cli --cluster create`. The node timeout is short (1 s) so a killed primary is
 * replaced within seconds. Nothing runs until startTestCluster is called; cleanup() ends it all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { REDIS_INSTALL_HINT } from '../../src/store/managed-redis.ts';

export interface ClusterNode {
  readonly port: number;
  readonly dir: string;
}

export interface ClusterPrimary {
  port: number;
  id: string;
  slots: [number, number][];
}

export interface TestCluster {
  /** "127.0.0.1:p1,127.0.0.1:p2,..." of all nodes (seed list). */
  readonly seeds: string;
  readonly nodes: readonly ClusterNode[];
  /** Current primaries from CLUSTER NODES (port and slot ranges), asking any live node. */
  primaries(): Promise<ClusterPrimary[]>;
  /** Keys per current primary (DBSIZE on each), port -> count. Optionally only keys matching a SCAN pattern. */
  keysPerPrimary(pattern?: string): Promise<Map<number, number>>;
  /** SIGKILL one node's redis-server. */
  kill(port: number): Promise<void>;
  /** Resolves once `port`'s former slots are served by another (promoted) node and cluster_state:ok on every live node; rejects after timeoutMs (default 20 s). */
  waitForFailover(port: number, timeoutMs?: number): Promise<void>;
  /** Restart a killed node (same dir/config), waits until it has rejoined (as a replica). */
  restart(port: number): Promise<void>;
  /** Stops all servers and removes temp dirs. */
  cleanup(): Promise<void>;
}

export interface TestClusterOptions {
  primaries?: number;
  replicasPerPrimary?: number;
  nodeTimeoutMs?: number;
}

const SLOT_COUNT = 16384;
const WAIT_MS = 20_000;

interface Member {
  port: number;
  readonly dir: string;
  child?: ChildProcess;
  /** The slots it served when kill() was called: what waitForFailover waits to see taken over. */
  slotsAtKill?: [number, number][];
}

export async function startTestCluster(options: TestClusterOptions = {}): Promise<TestCluster> {
  const primaryCount = options.primaries ?? 3;
  const replicas = options.replicasPerPrimary ?? 1;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 1000;
  const root = await mkdtemp(path.join(os.tmpdir(), 'mxhook-cluster-'));
  const members: Member[] = [];
  let cleaned: Promise<void> | undefined;

  const member = (port: number): Member => {
    const found = members.find((m) => m.port === port);
    if (!found) throw new Error(`no cluster node on port ${port}`);
    return found;
  };
  const live = () => members.filter((m) => m.child);

  /** One live node's view of the cluster (the first that answers). */
  const clusterView = async (): Promise<NodeLine[]> => {
    let lastError: unknown = new Error('no live node');
    for (const m of live()) {
      try {
        return parseClusterNodes(await query(m.port, (r) => r.call('CLUSTER', 'NODES')));
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  };

  const cluster: TestCluster = {
    seeds: '',
    nodes: [],
    async primaries() {
      // A primary without slots (a restarted node, before it learns it was replaced) serves no keys;
      // one the cluster has marked failed is gone.
      return (await clusterView())
        .filter((n) => n.flags.includes('master') && !n.flags.includes('fail') && n.slots.length > 0)
        .map(({ port, id, slots }) => ({ port, id, slots }));
    },
    async keysPerPrimary(pattern) {
      const counts = new Map<number, number>();
      for (const primary of await cluster.primaries()) {
        counts.set(primary.port, await query(primary.port, (r) => (pattern === undefined ? r.dbsize() : countMatching(r, pattern))));
      }
      return counts;
    },
    async kill(port) {
      const m = member(port);
      const proc = m.child;
      if (!proc) throw new Error(`cluster node ${port} is not running`);
      m.slotsAtKill = (await clusterView()).find((n) => n.port === port)?.slots ?? [];
      await stopProcess(proc, 'SIGKILL');
    },
    async waitForFailover(port, timeoutMs = WAIT_MS) {
      const slots = member(port).slotsAtKill;
      if (!slots) throw new Error(`cluster node ${port} was not killed by kill()`);
      if (slots.length === 0) throw new Error(`cluster node ${port} served no slots when killed (a replica): nothing fails over`);
      await waitUntil(`failover of ${port}'s slots`, timeoutMs, async () => {
        // Every live node must agree, or a client asking a slower one is still sent to the dead node.
        const reasons = await Promise.all(live().map((m) => query(m.port, async (r) => {
          const info = String(await r.call('CLUSTER', 'INFO'));
          if (!info.includes('cluster_state:ok')) return `${m.port} is not cluster_state:ok`;
          const view = parseClusterNodes(await r.call('CLUSTER', 'NODES'));
          const owners = slotOwners(view);
          for (const [from, to] of slots) {
            for (let slot = from; slot <= to; slot++) {
              const owner = owners[slot];
              if (!owner || owner.port === port || owner.flags.includes('fail')) return `${m.port} sees slot ${slot} on ${owner?.port ?? 'nobody'}`;
            }
          }
          return true;
        })));
        return reasons.find((r) => r !== true) ?? true;
      });
    },
    async restart(port) {
      const m = member(port);
      if (m.child) throw new Error(`cluster node ${port} is still running`);
      await launch(m, nodeTimeoutMs);
      m.slotsAtKill = undefined;
      await waitUntil(`${port} rejoining as a replica`, WAIT_MS, async () => {
        const own = await query(port, async (r) => ({
          info: String(await r.call('CLUSTER', 'INFO')),
          replication: String(await r.call('INFO', 'replication')),
        }));
        if (!own.info.includes('cluster_state:ok')) return `${port} is not cluster_state:ok`;
        if (!own.replication.includes('role:slave')) return `${port} is not a replica yet`;
        if (!own.replication.includes('master_link_status:up')) return `${port} has not synced from its primary yet`;
        // And the others have dropped their FAIL flag for it.
        for (const other of live()) {
          const seen = parseClusterNodes(await query(other.port, (r) => r.call('CLUSTER', 'NODES'))).find((n) => n.port === port);
          if (!seen || !seen.flags.includes('slave') || seen.flags.includes('fail')) return `${other.port} sees ${port} as ${seen?.flags.join(',') ?? 'unknown'}`;
        }
        return true;
      });
    },
    cleanup() {
      cleaned ??= (async () => {
        await Promise.all(members.map((m) => (m.child ? stopProcess(m.child, 'SIGKILL') : undefined)));
        await rm(root, { recursive: true, force: true });
      })();
      return cleaned;
    },
  };

  try {
    const taken = new Set<number>();
    const count = primaryCount * (1 + replicas);
    for (let i = 0; i < count; i++) {
      const m: Member = { port: 0, dir: path.join(root, `node-${i}`) };
      members.push(m);
      await mkdir(m.dir);
    }
    // Settled, not all: cleanup after one failed start must not miss a sibling still spawning.
    const launched = await Promise.allSettled(members.map((m) => launchOnFreePort(m, nodeTimeoutMs, taken)));
    const failed = launched.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    const addresses = members.map((m) => `127.0.0.1:${m.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes']);
    await waitUntil('the new cluster', WAIT_MS, async () => {
      const reasons = await Promise.all(members.map((m) => query(m.port, async (r) => {
        const info = String(await r.call('CLUSTER', 'INFO'));
        if (!info.includes('cluster_state:ok')) return `${m.port} is not cluster_state:ok`;
        if (!info.includes(`cluster_slots_assigned:${SLOT_COUNT}`)) return `${m.port} sees unassigned slots`;
        if (!info.includes(`cluster_known_nodes:${count}`)) return `${m.port} does not know every node yet`;
        // A replica that has not synced yet would fail over empty.
        const replication = String(await r.call('INFO', 'replication'));
        if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) return `${m.port} has not synced from its primary`;
        return true;
      })));
      return reasons.find((r) => r !== true) ?? true;
    });
    return Object.assign(cluster, {
      seeds: addresses.join(','),
      nodes: members.map(({ port, dir }) => ({ port, dir })),
    });
  } catch (err) {
    await cluster.cleanup();
    throw err;
  }
}

/**
 * Ports below Linux's ephemeral range (32768 up), with the cluster bus port (port + 10000) below it
 * too: a port from listening on port 0 may be over 55535, and it is one the kernel also hands to
 * other tests' port-0 servers and to outgoing connections in the meantime.
 */
const PORT_MIN = 20_000;
const PORT_MAX = 32_767 - 10_000;

async function launchOnFreePort(m: Member, nodeTimeoutMs: number, taken: Set<number>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    m.port = await freePort(taken);
    try {
      await launch(m, nodeTimeoutMs);
      return;
    } catch (err) {
      // Another test took the port between our check and redis-server binding it: try another.
      if (attempt >= 3 || !/Address already in use/.test(String(err))) throw err;
    }
  }
}

async function freePort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN + 1));
    if (taken.has(port)) continue;
    taken.add(port);
    if ((await canListen(port)) && (await canListen(port + 10_000))) return port;
  }
  throw new Error(`no free port pair (p, p + 10000) with p in ${PORT_MIN}-${PORT_MAX}`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Starts m's redis-server (a restart reuses its dir, so its nodes.conf and append-only file) and waits for PONG. */
async function launch(m: Member, nodeTimeoutMs: number): Promise<void> {
  const logPath = path.join(m.dir, 'redis.log');
  const logFd = openSync(logPath, 'a');
  const logStart = statSync(logPath).size;
  const args = [
    '--port', String(m.port), '--bind', '127.0.0.1', '--protected-mode', 'no', '--daemonize', 'no',
    '--dir', m.dir, '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
    '--cluster-node-timeout', String(nodeTimeoutMs),
    // A replica fails over however long ago it last heard from its primary (a test kills at will).
    '--cluster-replica-validity-factor', '0',
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '',
    // Replicas sync straight away over the socket, no RDB file and no 5 s wait for more replicas.
    '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0',
  ];
  const proc = spawn('redis-server', args, { cwd: m.dir, stdio: ['ignore', logFd, logFd] });
  try {
    await new Promise<void>((resolve, reject) => {
      proc.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'ENOENT' ? new Error(REDIS_INSTALL_HINT) : err));
      proc.once('spawn', () => resolve());
    });
  } finally {
    closeSync(logFd); // the child has its own copy
  }
  m.child = proc;
  proc.once('exit', () => {
    if (m.child === proc) m.child = undefined;
  });
  try {
    await waitUntil(`redis-server on ${m.port}`, WAIT_MS, async () => {
      if (!m.child) throw new Error(`exited at start: ${readFileSync(logPath, 'utf8').slice(logStart).trim().split('\n').slice(-5).join(' | ')}`);
      return (await query(m.port, (r) => r.ping())) === 'PONG' || 'no PONG';
    }, { stopOnError: (err) => String(err).includes('exited at start') });
  } catch (err) {
    if (m.child) await stopProcess(m.child, 'SIGKILL');
    throw err;
  }
}

function stopProcess(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    proc.once('exit', () => resolve());
    proc.kill(signal);
  });
}

/** Runs a command to completion; rejects with its output (less redis-cli's colours) if it fails. */
function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout!.on('data', (d) => (output += d));
    proc.stderr!.on('data', (d) => (output += d));
    proc.once('error', reject);
    proc.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output.replace(/\x1b\[[0-9;]*m/g, '')}`))));
  });
}

/** One short-lived connection to a node: these are probes, so no retries and no waiting on a dead node. */
async function query<T>(port: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({
    host: '127.0.0.1', port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0,
    connectTimeout: 1000, commandTimeout: 2000,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

async function countMatching(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let count = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    count += keys.length;
  } while (cursor !== '0');
  return count;
}

/**
 * Polls an external process's state (Redis has no event for "the cluster is ok") until `check`
 * returns true; a string it returns says what is still missing, for the timeout's message.
 */
async function waitUntil(
  what: string,
  timeoutMs: number,
  check: () => Promise<true | string>,
  { stopOnError = () => false }: { stopOnError?: (err: unknown) => boolean } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let reason: string;
    try {
      const result = await check();
      if (result === true) return;
      reason = result;
    } catch (err) {
      if (stopOnError(err)) throw new Error(`${what}: ${err instanceof Error ? err.message : err}`);
      reason = String(err); // a node still starting refuses connections: try again
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready within ${timeoutMs} ms (last: ${reason})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface NodeLine {
  id: string;
  port: number;
  flags: string[];
  slots: [number, number][];
}

/** CLUSTER NODES: `<id> <ip:port@busport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot ranges...>`. */
function parseClusterNodes(text: unknown): NodeLine[] {
  return String(text).trim().split('\n').flatMap((line) => {
    const [id, address, flags, , , , , , ...slotFields] = line.trim().split(' ');
    const port = Number(address.slice(address.lastIndexOf(':') + 1).split('@')[0]);
    // A node still in the handshake has no id the others agree on, nor an address yet.
    if (flags.includes('handshake') || flags.includes('noaddr') || !port) return [];
    const slots = slotFields
      .filter((field) => !field.startsWith('[')) // [slot->-id] and [slot-<-id]: a migration in progress
      .map((field): [number, number] => {
        const [from, to = from] = field.split('-').map(Number);
        return [from, to];
      });
    return [{ id, port, flags: flags.split(','), slots }];
  });
}

function slotOwners(view: NodeLine[]): (NodeLine | undefined)[] {
  const owners = new Array<NodeLine | undefined>(SLOT_COUNT);
  for (const node of view) {
    for (const [from, to] of node.slots) owners.fill(node, from, to + 1);
  }
  return owners;
}
