/** A private redis-server per test file, on a unix socket in a temp dir (never the machine's 6379). */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startManagedRedis, type ManagedRedis } from '../../src/store/managed-redis.ts';

export interface TestRedis extends ManagedRedis {
  readonly dir: string;
  cleanup(): Promise<void>;
}

export async function startTestRedis(): Promise<TestRedis> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mxhook-redis-'));
  const redis = await startManagedRedis({ dir, appendfsync: 'everysec', supervise: false });
  return Object.assign(redis, {
    dir,
    async cleanup() {
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    },
  });
}
