/**
 * One mxhook deployment for a scenario: its own redis-server (started with mxhook's managed-redis
 * module, `appendfsync always` unless told otherwise, as in production), or a Redis Cluster the
 * caller started (bench/lib/cluster.mjs), the route to the sink, and mxhook from dist/ either
 * all-in-one (`mxhook start`) or split (`mxhook smtp` plus N `mxhook worker` processes).
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CLI, DIST, ROOT, cpuMs, peakRss, runTimed, startMxhook, stopProcess } from './procs.mjs';

export const HOSTNAME = 'parse.bench';

async function load(relative) {
  return import(pathToFileURL(path.join(DIST, relative)).href);
}

/**
 * `layout`: 'all' or 'split'; `workers`: worker processes when split. `args`: extra mxhook flags.
 * The SMTP listener allows many connections from 127.0.0.1 (the load comes from one IP) and the
 * SPF/DKIM/DMARC checks are off: they wait on DNS, which this machine does not have.
 * `cluster`: a running cluster from bench/lib/cluster.mjs instead of a managed redis-server of its
 * own (`fsync` is then the cluster's business): mxhook gets `--redis-cluster <seeds> --shards
 * <shards>`, and the Redis figures (CPU, commands, peak memory) are summed over its nodes, each
 * node's also given as `redis@<port>`. The deployment leaves the cluster running.
 */
export async function deploy({ name, layout, workers = 1, fsync = 'always', dir, sinkUrl, args = [], nodeArgs = [], cluster, shards = 16 }) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let redis;
  let env;
  let redisArgs = [];
  if (cluster) {
    // Not REDIS_URL as well: mxhook refuses both.
    env = { REDIS_URL: undefined, MXHOOK_REDIS_CLUSTER: cluster.seeds, MXHOOK_API_KEY: 'bench-api-key' };
    redisArgs = ['--redis-cluster', cluster.seeds, '--shards', String(shards)];
  } else {
    const { startManagedRedis } = await load('store/managed-redis.js');
    redis = await startManagedRedis({ dir: path.join(dir, 'redis'), appendfsync: fsync, supervise: false });
    env = { REDIS_URL: redis.socketPath, MXHOOK_API_KEY: 'bench-api-key' };
  }
  const added = await runTimed(process.execPath, [CLI, 'routes', 'add', HOSTNAME, sinkUrl], { env: { ...process.env, ...env } });
  if (added.code !== 0) throw new Error(`routes add failed: ${added.output}`);
  const common = [
    '--smtp-host', '127.0.0.1', '--smtp-port', '0', '--api-host', '127.0.0.1', '--api-port', '0', '--hostname', 'mx.bench',
    '--max-connections-per-ip', '1000', '--max-connections-per-ipv4-24', '1000', '--auth-checks', 'false', '--data-dir', path.join(dir, 'data'), ...redisArgs, ...args,
  ];
  const procs = [];
  const start = (role, procName, ready) => startMxhook({ name: `${name}-${procName}`, args: [role, ...common], env, logDir: dir, ready, nodeArgs });
  try {
    if (layout === 'all') procs.push(await start('start', 'all', ['smtp_listening', 'worker_started', 'api_listening']));
    else {
      procs.push(await start('smtp', 'smtp', ['smtp_listening']));
      for (let i = 0; i < workers; i++) procs.push(await start('worker', `worker${i + 1}`, ['worker_started']));
    }
  } catch (err) {
    for (const p of procs) await stopProcess(p.child);
    await redis?.stop();
    throw err;
  }
  // The bench's own stats connections: the one redis-server, or each cluster node (port -> client).
  let client;
  let nodes;
  if (cluster) nodes = cluster.clients;
  else {
    const { Redis } = await import(pathToFileURL(path.join(ROOT, 'node_modules/ioredis/built/index.js')).href);
    client = new Redis({ path: redis.socketPath, lazyConnect: true });
    await client.connect();
    nodes = new Map([[undefined, client]]);
  }
  const infoOf = async (node, section) => Object.fromEntries((await node.info(section)).split('\r\n').filter((l) => l.includes(':')).map((l) => l.split(':')));
  /** `redis`: the sum over nodes of `value(info)`; on a cluster also `redis@<port>`: each node's. */
  const overNodes = async (section, value) => {
    const each = await Promise.all([...nodes].map(async ([port, node]) => [port, value(await infoOf(node, section))]));
    return { redis: each.reduce((n, [, v]) => n + v, 0), ...(cluster ? Object.fromEntries(each.map(([port, v]) => [`redis@${port}`, v])) : {}) };
  };
  return {
    name,
    layout,
    smtpPort: procs[0].lines.smtp_listening.port,
    apiPort: procs[0].lines.api_listening?.port,
    procs,
    cluster: cluster ? { seeds: cluster.seeds, shards } : undefined,
    /** CPU ms used so far by each mxhook process and by redis-server (`redis`: all cluster nodes, primaries and replicas). */
    async cpu() {
      const redisCpu = await overNodes('cpu', (info) => (Number(info.used_cpu_sys) + Number(info.used_cpu_user)) * 1000);
      return { ...Object.fromEntries(procs.map((p) => [p.name, cpuMs(p.pid)])), ...redisCpu };
    },
    /**
     * Redis commands run so far (INFO commandstats, those scripts call included), all kinds
     * together; on a cluster those the primaries ran (a replica's count would add again every
     * write it applies from its primary).
     */
    async commands() {
      let calls = 0;
      for (const node of nodes.values()) {
        if (cluster && !(await node.info('replication')).includes('role:master')) continue;
        for (const [, n] of (await node.info('commandstats')).matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) calls += Number(n);
      }
      return calls;
    },
    /** Calls so far of one command (`wait`: the replica WAITs before a 250), over the primaries on a cluster. */
    async calls(command) {
      let calls = 0;
      for (const node of nodes.values()) {
        if (cluster && !(await node.info('replication')).includes('role:master')) continue;
        calls += Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(await node.info('commandstats'))?.[1] ?? 0);
      }
      return calls;
    },
    /** Peak RSS of each mxhook process, bytes, and redis-server's peak memory (summed over cluster nodes). */
    async memory() {
      const redisPeak = await overNodes('memory', (info) => Number(info.used_memory_peak));
      return { ...Object.fromEntries(procs.map((p) => [p.name, peakRss(p.pid)])), ...redisPeak };
    },
    /** Deliveries not finished yet (waiting, active, delayed), and failed ones, straight from Redis (over every shard on a cluster). */
    async queue() {
      const total = { wait: 0, active: 0, delayed: 0, failed: 0 };
      const prefixes = cluster ? await clusterShardPrefixes(cluster) : ['mxhook'];
      for (const shard of prefixes) {
        const prefix = `${shard}:deliveries`;
        const counts = cluster ? await clusterQueue(cluster, prefix) : await Promise.all([
          client.llen(`${prefix}:wait`), client.llen(`${prefix}:active`), client.zcard(`${prefix}:delayed`), client.zcard(`${prefix}:failed`),
        ]);
        for (const [i, k] of ['wait', 'active', 'delayed', 'failed'].entries()) total[k] += counts[i];
      }
      return total;
    },
    /** Log lines at warn or above per mxhook process, and how many of each event. */
    problems() {
      return Object.fromEntries(procs.map((p) => {
        const events = {};
        let count = 0;
        for (const line of readFileSync(p.log, 'utf8').split('\n')) {
          if (!/^\{"level":([4-9]\d)/.test(line)) continue;
          count++;
          let event = 'unparsed';
          try { event = JSON.parse(line).event ?? 'no event'; } catch { /* a line being written */ }
          events[event] = (events[event] ?? 0) + 1;
        }
        return [p.name, { count, events }];
      }));
    },
    async stop() {
      // SIGTERM drains: workers finish, SMTP closes; then redis-server goes (a cluster stays: its caller's).
      for (const p of procs) await stopProcess(p.child);
      client?.disconnect();
      await redis?.stop();
    },
  };
}

/** The key prefixes of the shards mail was written to (mxhook records them in the shared space, `{mxhook}:shards`). */
async function clusterShardPrefixes(cluster) {
  for (const node of cluster.clients.values()) {
    try {
      return await node.smembers('{mxhook}:shards');
    } catch (err) {
      if (!String(err).includes('MOVED')) throw err; // another node holds the slot: ask the next
    }
  }
  return [];
}

/** [wait, active, delayed, failed] of one shard's BullMQ queue, asking each node until one holds its slot. */
async function clusterQueue(cluster, prefix) {
  for (const node of cluster.clients.values()) {
    try {
      return await Promise.all([node.llen(`${prefix}:wait`), node.llen(`${prefix}:active`), node.zcard(`${prefix}:delayed`), node.zcard(`${prefix}:failed`)]);
    } catch (err) {
      if (!String(err).includes('MOVED')) throw err;
    }
  }
  return [0, 0, 0, 0];
}
