/**
 * The usual frame of a test file that runs mxhook processes: one redis-server for the file, and
 * everything a test starts (`later(thing)`) closed after the file, last started first.
 */
import { afterAll, beforeAll } from 'vitest';
import { startTestRedis, type TestRedis } from './redis.ts';

export interface RedisSuite {
  /** The file's redis-server (started before the first test). */
  readonly redis: TestRedis;
  later<T extends { close(): Promise<unknown> }>(thing: T): T;
  /** Runs `cleanup` after the file, with the things passed to later(). */
  afterwards(cleanup: () => Promise<unknown>): void;
}

export function redisPerFile(): RedisSuite {
  let redis: TestRedis | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await redis?.cleanup();
  });
  return {
    get redis() {
      if (!redis) throw new Error('redisPerFile: Redis is started in beforeAll; use it inside a test');
      return redis;
    },
    later(thing) {
      cleanups.push(() => thing.close());
      return thing;
    },
    afterwards(cleanup) {
      cleanups.push(cleanup);
    },
  };
}
