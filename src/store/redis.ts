/** Creates Redis connections; nothing connects at import time. */
import { Redis, type RedisOptions } from 'ioredis';
import { defineMessageLogCommands } from './message-log-scripts.ts';
import { defineMessageCommands } from './messages.ts';

export type RedisRole =
  /** SMTP intake and the API: fail fast when Redis is down, so SMTP can answer 451 at once. */
  | 'fail-fast'
  /** BullMQ workers: wait for Redis to come back, as BullMQ requires. */
  | 'patient';

/**
 * `redis://...`, `rediss://...` or a unix socket path. `autoPipelining`: commands issued in one
 * event-loop turn go out in one write (many sessions or deliveries at once share round trips);
 * never for a connection that runs blocking commands (BullMQ's own).
 */
export function createRedis(url: string, role: RedisRole, name = 'mxhook', autoPipelining = false): Redis {
  const common: RedisOptions = {
    connectionName: name,
    enableAutoPipelining: autoPipelining,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    ...(role === 'fail-fast'
      ? { enableOfflineQueue: false, maxRetriesPerRequest: 1 }
      : { maxRetriesPerRequest: null }),
  };
  const redis = url.startsWith('/') || url.startsWith('./') ? new Redis({ ...common, path: url })
    : url.startsWith('unix://') ? new Redis({ ...common, path: url.slice('unix://'.length) })
      : new Redis(url, common);
  // Before any pipeline is made on it (a pipeline takes the commands defined by then).
  defineMessageLogCommands(redis);
  defineMessageCommands(redis);
  return redis;
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
