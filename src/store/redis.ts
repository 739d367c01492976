/** Creates Redis connections (one Redis, or a Redis Cluster's client); nothing connects at import time. */
import { Cluster, Redis as SingleRedis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { STORE_INCOMING_COMMAND } from './incoming.ts';
import { defineMessageLogCommands } from './message-log-scripts.ts';
import { defineMessageCommands, RELEASE_DELIVERY_COMMAND } from './messages.ts';
import type { Redis } from './redis-client.ts';

/** Our scripts defined as commands whose key count is given per call. */
const DYNAMIC_KEY_COMMANDS = [STORE_INCOMING_COMMAND, RELEASE_DELIVERY_COMMAND] as const;

export type RedisRole =
  /** SMTP intake and the API: fail fast when Redis is down, so SMTP can answer 451 at once. */
  | 'fail-fast'
  /** BullMQ workers: wait for Redis to come back, as BullMQ requires. */
  | 'patient';

/** Where Redis is: a URL or socket path (REDIS_URL), or a cluster's seed nodes (MXHOOK_REDIS_CLUSTER). */
export type RedisTarget = string | { readonly cluster: readonly string[] };

export const isClusterTarget = (target: RedisTarget): target is { readonly cluster: readonly string[] } => typeof target !== 'string';

/**
 * `redis://...`, `rediss://...`, a unix socket path, or a cluster's seeds. `autoPipelining`:
 * commands issued in one event-loop turn go out in one write (many sessions or deliveries at
 * once share round trips; on a cluster, one write per node); never for a connection that runs
 * blocking commands (BullMQ's own).
 */
export function createRedis(target: RedisTarget, role: RedisRole, name = 'mxhook', autoPipelining = false): Redis {
  const common: RedisOptions = {
    connectionName: name,
    enableAutoPipelining: autoPipelining,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    ...(role === 'fail-fast'
      ? { enableOfflineQueue: false, maxRetriesPerRequest: 1 }
      : { maxRetriesPerRequest: null }),
  };
  const redis = isClusterTarget(target) ? createCluster(target.cluster, role, common)
    : target.startsWith('/') || target.startsWith('./') ? new SingleRedis({ ...common, path: target })
      : target.startsWith('unix://') ? new SingleRedis({ ...common, path: target.slice('unix://'.length) })
        : new SingleRedis(target, common);
  // Before any pipeline is made on it (a pipeline takes the commands defined by then).
  defineMessageLogCommands(redis);
  defineMessageCommands(redis);
  return redis;
}

/**
 * A Cluster client: the first seed written as a URL gives every node its credentials and TLS.
 * A fail-fast one queues nothing while a slot has no primary (a failover): the command fails,
 * and SMTP answers 451, rather than waiting for the cluster to heal.
 */
function createCluster(seeds: readonly string[], role: RedisRole, common: RedisOptions): Cluster {
  const auth = seeds.find((s) => /^rediss?:\/\//.test(s));
  const url = auth ? new URL(auth) : undefined;
  const nodeOptions: RedisOptions = {
    ...common,
    ...(url?.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url?.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url?.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  const nodes = seeds.map((seed) => {
    const { hostname, port } = /^rediss?:\/\//.test(seed) ? new URL(seed) : new URL(`redis://${seed}`);
    return { host: hostname.replace(/^\[|\]$/g, ''), port: Number(port || 6379) };
  });
  const options: ClusterOptions = {
    redisOptions: nodeOptions,
    enableAutoPipelining: common.enableAutoPipelining ?? false,
    clusterRetryStrategy: (times) => Math.min(times * 200, 2000),
    // MOVED / TRYAGAIN / CLUSTERDOWN during a failover: retried briefly, then the command fails.
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    maxRedirections: role === 'fail-fast' ? 4 : 16,
    // A command defined with a key count given per call has that count, not a key, first: the
    // auto-pipeline would group it by the slot of "8". Sent on their own they are routed by their keys.
    autoPipeliningIgnoredCommands: [...DYNAMIC_KEY_COMMANDS],
    enableOfflineQueue: role !== 'fail-fast',
    slotsRefreshTimeout: 2000,
  };
  return new Cluster(nodes, options);
}

/** Resolves once the connection is ready (or rejects after `timeoutMs`). */
export async function waitForRedis(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis did not become ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}

/** A new connection like `redis` (a Cluster's client too), with some options changed. */
export function duplicateConnection(redis: Redis, override: Pick<RedisOptions, 'enableAutoPipelining'>): Redis {
  return redis instanceof Cluster ? redis.duplicate(undefined, override) : redis.duplicate(override);
}
