/** CLI commands talk to Redis directly: REDIS_URL, or the managed server's socket in the data dir. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Redis } from '../../store/redis-client.ts';
import type { Config } from '../../config/schema.ts';
import { MxhookError } from '../../domain/errors.ts';
import type { KeySpace } from '../../store/keys.ts';
import { createRedis, waitForRedis } from '../../store/redis.ts';
import { createShardDirectory, createShardSet, type ShardDirectory } from '../../store/shards.ts';

export type Output = { out: (text: string) => void; err: (text: string) => void };

/**
 * Runs a command with a connection; a refusal from the services (MxhookError) is printed, each
 * field on its line, and exits 2 for bad input, 1 for what is missing or taken.
 */
export async function withRedis(config: Config, output: Output, run: (redis: Redis, keys: KeySpace, shards: ShardDirectory) => Promise<number>): Promise<number> {
  const redisUrl = config.redisUrl ?? path.resolve(config.dataDir, 'redis', 'redis.sock');
  if (!config.redisUrl && !config.redisCluster && !existsSync(redisUrl)) {
    output.err(`mxhook: no Redis at ${redisUrl}: start the server first (npm start), or set REDIS_URL\n`);
    return 1;
  }
  const redis = createRedis(config.redisCluster ? { cluster: config.redisCluster } : redisUrl, 'fail-fast', 'mxhook-cli');
  redis.on('error', () => {});
  try {
    await waitForRedis(redis, 5000);
    const shards = createShardSet(config.redisPrefix, config.shards, config.redisCluster !== undefined);
    return await run(redis, shards.shared, createShardDirectory(redis, shards));
  } catch (err) {
    if (!(err instanceof MxhookError)) throw err;
    const lines = err.fieldErrors.length ? err.fieldErrors.map((e) => `${e.field ? `${e.field}: ` : ''}${e.message}`) : [err.message];
    output.err(lines.map((line) => `mxhook: ${line}\n`).join(''));
    return err.code === 'VALIDATION_FAILED' || err.code === 'INVALID_EVENT_DESTINATION' || err.code === 'BAD_DEAD_LETTER_ID' ? 2 : 1;
  } finally {
    redis.disconnect();
  }
}
