/**
 * Wires the pipeline for the roles this process runs (smtp, worker, api; all three by default),
 * against REDIS_URL or a managed local redis-server. Each role starts in its own module
 * (app/roles/); this one owns what they share, and stopping them in order.
 */
import type { Redis } from '../store/redis-client.ts';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { redactConfig } from '../config/load.ts';
import { createShardQueues } from '../queue/delivery-queue.ts';
import { createRouteRegistry } from '../routes/registry.ts';
import type { DnsResolver } from '../smtp/auth-check.ts';
import { createShardDirectory, createShardSet, recordShards, sumOverShards } from '../store/shards.ts';
import { lockDataDir } from '../store/data-dir-lock.ts';
import { startManagedRedis, type ManagedRedis } from '../store/managed-redis.ts';
import { createRedis, waitForRedis, type RedisRole, type RedisTarget } from '../store/redis.ts';
import { checkClusterReplicas } from '../store/cluster-check.ts';
import { createRedisMemoryWatch } from '../store/redis-memory.ts';
import { closeHttp } from './http-listener.ts';
import { createMetrics, serveMetrics } from './metrics.ts';
import { readEventCounts } from '../store/event-destinations.ts';
import { readLogCuts } from '../store/message-log-retention.ts';
import { startApiRole } from './roles/api.ts';
import type { RoleContext } from './roles/context.ts';
import { startSmtpRole } from './roles/smtp.ts';
import { startWorkerRole } from './roles/worker.ts';

export type Role = 'smtp' | 'worker' | 'api';

/** How often Redis's memory use is read (store/redis-memory.ts). */
const REDIS_MEMORY_CHECK_MS = 1_000;
export const ALL_ROLES: readonly Role[] = ['smtp', 'worker', 'api'];

export interface RunningMxhook {
  /** Bound SMTP port (useful with port 0), when the smtp role runs. */
  readonly smtpPort?: number;
  /** Bound implicit-TLS SMTP port, when --smtp-tls-port is set. */
  readonly smtpTlsPort?: number;
  readonly apiPort?: number;
  /** Bound port of the /metrics-only listener, when --metrics-port is set. */
  readonly metricsPort?: number;
  /** The Redis URL or socket in use. */
  readonly redisUrl: string;
  /** Set when no API key was configured and this start generated one. */
  readonly generatedApiKey?: string;
  stop(): Promise<void>;
}

/** What tests may swap for a stand-in: the DNS resolver of the authentication checks. */
export interface MxhookDependencies {
  readonly dnsResolver?: DnsResolver;
}

export async function startMxhook(config: Config, roles: readonly Role[], logger: Logger, deps: MxhookDependencies = {}): Promise<RunningMxhook> {
  logger.info({ event: 'starting', roles, config: redactConfig(config) });
  // Listeners close first (no new sessions or requests), then workers finish their POSTs,
  // then connections and the managed redis-server go, in reverse order of creation.
  const listenerStops: (() => Promise<unknown>)[] = [];
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    const run = (stop: () => Promise<unknown>) => stop().catch((err) => logger.warn({ event: 'stop_error', err: String(err) }));
    await Promise.all(listenerStops.map(run));
    for (const stop of [...stops].reverse()) await run(stop);
  };
  try {
    let managed: ManagedRedis | undefined;
    let redisUrl = config.redisUrl ?? (config.redisCluster ? config.redisCluster.join(',') : undefined);
    const target: RedisTarget | undefined = config.redisCluster ? { cluster: config.redisCluster } : config.redisUrl;
    if (!redisUrl) {
      // Refused here, before a second redis-server could take over the first one's socket and file.
      const lock = await lockDataDir(config.dataDir);
      stops.push(() => lock.release());
      managed = await startManagedRedis({
        dir: path.join(config.dataDir, 'redis'),
        onEvent: (event, detail) => logger.warn({ event, ...detail }),
      });
      stops.push(() => managed!.stop());
      redisUrl = managed.socketPath;
      logger.info({ event: 'managed_redis_started', socket: redisUrl });
    }
    const cluster = config.redisCluster !== undefined;
    const shardSet = createShardSet(config.redisPrefix, config.shards, cluster);
    const keys = shardSet.shared;
    // Closed together, after everything that uses them has stopped (registered first, so run
    // last of all but the managed redis-server): one at a time, a process with a connection per
    // shard (and a cluster client's per node) took seconds to close them.
    const connections: Redis[] = [];
    stops.push(() => Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect()))));
    const connect = (role: RedisRole, name: string, autoPipelining = false): Redis => {
      const redis = createRedis(target ?? redisUrl, role, name, autoPipelining);
      redis.on('error', (err) => logger.debug({ event: 'redis_error', connection: name, err: String(err) }));
      connections.push(redis);
      return redis;
    };
    const redis = connect('fail-fast', 'mxhook', true);
    await waitForRedis(redis);
    // Refused at start, not at the first 451: a cluster whose primaries lack the replicas an
    // accept waits for would refuse every message.
    const waitReplicas = config.redisWaitReplicas ?? (cluster ? 1 : 0);
    if (cluster && waitReplicas > 0) await checkClusterReplicas(redis, waitReplicas);
    await recordShards(redis, shardSet);
    const shards = createShardDirectory(redis, shardSet);
    const routes = createRouteRegistry(redis, keys);
    // One metrics registry per process (app/metrics.ts); queue depth is read from Redis when scraped.
    const metricsConnection = roles.includes('api') || config.metricsPort !== undefined ? connect('fail-fast', 'mxhook-metrics') : undefined;
    if (metricsConnection) await waitForRedis(metricsConnection);
    const metricsQueue = metricsConnection ? createShardQueues(metricsConnection, shards) : undefined;
    if (metricsQueue) stops.push(() => metricsQueue.close());
    const redisMemory = createRedisMemoryWatch({
      redis, highFraction: config.redisMemoryHigh,
      // One line per change, not per message refused.
      onChange: (state) => state.level === 'high'
        ? logger.warn({ event: 'redis_memory_high', usedBytes: state.usedBytes, maxBytes: state.maxBytes, highFraction: state.highFraction })
        : logger.info({ event: 'redis_memory_ok', usedBytes: state.usedBytes, maxBytes: state.maxBytes, highFraction: state.highFraction }),
    });
    // Workers keep delivered messages' raw bytes for the message log only while Redis has room.
    const watchesMemory = roles.includes('smtp') || roles.includes('api') || (roles.includes('worker') && config.messageLog);
    if (watchesMemory) {
      redisMemory.start(REDIS_MEMORY_CHECK_MS);
      stops.push(async () => redisMemory.stop());
    }
    const metrics = createMetrics({
      ...(config.messageLog ? { logCuts: () => sumOverShards(shards, (k) => readLogCuts(redis, k)), eventCounts: () => readEventCounts(redis, keys) } : {}),
      ...(watchesMemory ? { redisMemory: () => redisMemory.state() } : {}),
      ...(metricsQueue ? { queueCounts: () => metricsQueue.counts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed') } : {}),
    });
    const ctx: RoleContext = {
      config, logger, keys, shards, waitReplicas, redis, routes, metrics, connect, redisMemory,
      onStopListening: (stop) => listenerStops.push(stop),
      onStop: (stop) => stops.push(stop),
    };
    const result: { smtpPort?: number; smtpTlsPort?: number; apiPort?: number; metricsPort?: number; generatedApiKey?: string } = {};
    if (roles.includes('smtp')) Object.assign(result, await startSmtpRole(ctx, deps.dnsResolver));
    if (roles.includes('worker')) await startWorkerRole(ctx);
    // The API's "send a test mail" goes to this process's own SMTP listener when it has one.
    if (roles.includes('api')) Object.assign(result, await startApiRole(ctx, result.smtpPort));
    if (config.metricsPort !== undefined) {
      // For processes without the API (e.g. `mxhook worker`): each serves its own registry.
      const listener = await serveMetrics(metrics, config.apiHost, config.metricsPort);
      listenerStops.push(() => closeHttp(listener.server));
      result.metricsPort = listener.port;
      logger.info({ event: 'metrics_listening', host: config.apiHost, port: listener.port });
    }
    return { ...result, redisUrl, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
