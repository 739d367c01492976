/** CLI commands talk to Redis directly: REDIS_URL, or the managed server's socket in the data dir. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Config } from '../../config/schema.ts';
import { createKeySpace, type KeySpace } from '../../store/keys.ts';
import { createRedis, waitForRedis } from '../../store/redis.ts';

export type Output = { out: (text: string) => void; err: (text: string) => void };

export async function withRedis(config: Config, output: Output, run: (redis: Redis, keys: KeySpace) => Promise<number>): Promise<number> {
  const redisUrl = config.redisUrl ?? path.resolve(config.dataDir, 'redis', 'redis.sock');
  if (!config.redisUrl && !existsSync(redisUrl)) {
    output.err(`mxhook: no Redis at ${redisUrl}: start the server first (npm start), or set REDIS_URL\n`);
    return 1;
  }
  const redis = createRedis(redisUrl, 'fail-fast', 'mxhook-cli');
  redis.on('error', () => {});
  try {
    await waitForRedis(redis, 5000);
    return await run(redis, createKeySpace(config.redisPrefix));
  } finally {
    redis.disconnect();
  }
}
