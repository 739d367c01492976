/**
 * A local Redis Cluster for `npm run bench -- --cluster`: the tested harness the cluster tests use
 * (test/helpers/redis-cluster.ts, imported as TypeScript: Node strips the types), then each node
 * set as the managed single Redis is (store/managed-redis.ts), so the two runs differ in topology
 * and not in settings: `appendfsync always` unless told otherwise, the same AOF rewrite
 * thresholds, noeviction and the message log's hash encoding limit.
 *
 * Differences that remain, said in the output: the cluster is reached over TCP on loopback (the
 * single Redis over a unix socket), and every write is also replicated (and, with mxhook's default
 * of one replica per accept on a cluster, WAITed for) to the primary's replica.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DIST, ROOT } from './procs.mjs';

/**
 * `nodeTimeoutMs`: set once every node agrees on the topology. The cluster forms with the
 * harness's 1 s (nodes gossip every half node timeout, so roles spread within a second or two),
 * but 1 s would let a node starved of CPU by the load on a small machine be voted failed mid-run;
 * Redis's own default is 15 s.
 */
export async function startBenchCluster({ primaries = 3, replicasPerPrimary = 1, appendfsync = 'always', nodeTimeoutMs = 15_000 } = {}) {
  const { startTestCluster } = await import(pathToFileURL(path.join(ROOT, 'test/helpers/redis-cluster.ts')).href);
  const { LOG_FRIENDLY_REDIS_SETTINGS } = await import(pathToFileURL(path.join(DIST, 'store/managed-redis.js')).href);
  const { Redis } = await import(pathToFileURL(path.join(ROOT, 'node_modules/ioredis/built/index.js')).href);
  const cluster = await startTestCluster({ primaries, replicasPerPrimary });
  const settings = {
    appendfsync,
    'auto-aof-rewrite-min-size': '256mb',
    'auto-aof-rewrite-percentage': '200',
    'maxmemory-policy': 'noeviction',
    ...LOG_FRIENDLY_REDIS_SETTINGS,
  };
  const clients = new Map();
  try {
    for (const { port } of cluster.nodes) {
      const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1 });
      client.on('error', () => {});
      await client.connect();
      clients.set(port, client);
      for (const [name, value] of Object.entries(settings)) await client.config('SET', name, value);
      const [, got] = await client.config('GET', 'appendfsync');
      if (got !== appendfsync) throw new Error(`cluster node ${port}: appendfsync is ${got} after CONFIG SET ${appendfsync}`);
    }
    // The harness waits for slots, known nodes and synced replicas, not for every node to have heard
    // which nodes are replicas: mxhook's start-up check (a replica per primary) asks any node.
    await agreed(clients, primaries, replicasPerPrimary);
    for (const client of clients.values()) await client.config('SET', 'cluster-node-timeout', String(nodeTimeoutMs));
  } catch (err) {
    for (const c of clients.values()) c.disconnect();
    await cluster.cleanup();
    throw err;
  }
  return {
    seeds: cluster.seeds,
    ports: cluster.nodes.map((n) => n.port),
    settings: { ...settings, 'cluster-node-timeout': String(nodeTimeoutMs), primaries, replicasPerPrimary },
    /** A stats connection to each node (port -> ioredis), the bench's own, not mxhook's. */
    clients,
    /** Current primaries' ports. */
    async primaryPorts() {
      return (await cluster.primaries()).map((p) => p.port).sort((a, b) => a - b);
    },
    /** Keys on each current primary (DBSIZE), port -> count. */
    async keysPerPrimary() {
      return Object.fromEntries([...(await cluster.keysPerPrimary()).entries()].sort(([a], [b]) => a - b));
    },
    async stop() {
      for (const c of clients.values()) c.disconnect();
      await cluster.cleanup();
    },
  };
}

/** Waits until every node's CLUSTER NODES shows `primaries` primaries, each with `replicas` connected replicas. */
async function agreed(clients, primaries, replicas, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const views = await Promise.all([...clients].map(async ([port, client]) => {
      const rows = String(await client.call('CLUSTER', 'NODES')).trim().split('\n').map((l) => l.split(' '));
      const masters = rows.filter(([, , flags]) => flags.split(',').includes('master') && !flags.includes('fail'));
      const ok = masters.length === primaries && masters.every(([id]) => rows.filter(([, , flags, of, , , , link]) => of === id && flags.includes('slave') && !flags.includes('fail') && link === 'connected').length === replicas);
      return ok ? true : `${port} sees ${masters.length} primaries`;
    }));
    last = views.find((v) => v !== true) ?? '';
    if (!last) return;
    if (Date.now() > deadline) throw new Error(`the cluster's nodes did not agree on its topology within ${timeoutMs} ms (last: ${last})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
