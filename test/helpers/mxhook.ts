/** Starts mxhook in-process against a test Redis, with a fresh key prefix and ports 0. */
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { startMxhook, type MxhookDependencies, type Role, type RunningMxhook } from '../../src/app/start.ts';
import { createFixtureResolver } from './dns.ts';
import { createRedis } from '../../src/store/redis.ts';
import type { KeySpace } from '../../src/store/keys.ts';
import { createShardSet } from '../../src/store/shards.ts';
import { createRouteRegistry } from '../../src/routes/registry.ts';
import { validateParseSetting } from '../../src/domain/route.ts';
import type { Redis } from '../../src/store/redis-client.ts';

export const TEST_API_KEY = 'test-api-key';

export interface TestMxhook extends RunningMxhook {
  readonly config: Config;
  readonly keys: KeySpace;
  /** A connection for assertions on Redis state. */
  readonly redis: Redis;
  addRoute(hostname: string, url: string, extra?: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

/**
 * `flags` are real command-line flags, so tests exercise the same config path as users. DNS for the
 * authentication checks comes from `deps.dnsResolver`: by default a fixture resolver with no records.
 */
export async function startTestMxhook(
  redisUrl: string | { readonly cluster: string }, flags: string[] = [], roles: Role[] = ['smtp', 'worker', 'api'],
  deps: MxhookDependencies = { dnsResolver: createFixtureResolver({}) },
): Promise<TestMxhook> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'mxhook-data-'));
  const prefix = flags.includes('--redis-prefix') ? flags[flags.indexOf('--redis-prefix') + 1]! : `t${randomBytes(4).toString('hex')}`;
  const { config } = loadConfig([
    ...(typeof redisUrl === 'string' ? ['--redis-url', redisUrl] : ['--redis-cluster', redisUrl.cluster]), '--redis-prefix', prefix, '--data-dir', dataDir,
    '--smtp-host', '127.0.0.1', '--smtp-port', '0', '--api-host', '127.0.0.1', '--api-port', '0',
    '--hostname', 'mx.test', '--api-key', TEST_API_KEY, '--log-level', process.env.MXHOOK_TEST_LOG ?? 'silent',
    '--retry-fast-interval', '50ms-100ms', '--retry-slow-interval', '50ms-100ms', '--worker-concurrency', '8',
    // A delivered message is freed at once, so tests of the release path see it gone; the message
    // log's tests turn keeping on (`--raw-retention 1h`), as the default (24 h) does.
    '--raw-retention', '0',
    ...flags,
  ], {});
  const logger = pino({ level: config.logLevel });
  const running = await startMxhook(config, roles, logger, deps);
  // The shared key space (routes; with one shard on a single Redis, also the mail).
  const keys = createShardSet(prefix, config.shards, typeof redisUrl !== 'string').shared;
  const redis = createRedis(typeof redisUrl === 'string' ? redisUrl : { cluster: redisUrl.cluster.split(',') }, 'patient', 'test-assertions');
  const routes = createRouteRegistry(redis, keys);
  return {
    ...running,
    config,
    keys,
    redis,
    async addRoute(hostname, url, extra = {}) {
      const checked = validateParseSetting({ hostname, url, ...extra });
      if (checked.errors) throw new Error(JSON.stringify(checked.errors));
      await routes.create(checked.setting);
    },
    async close() {
      await running.stop();
      redis.disconnect();
    },
  };
}
