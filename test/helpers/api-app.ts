/** The API's Fastify app on a real Redis, for inject() tests (no port, no other roles). */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { resolveApiKey } from '../../src/api/api-key.ts';
import { buildApiApp, type ApiDependencies } from '../../src/api/app.ts';
import { createAcceptMessage } from '../../src/queue/accept.ts';
import { createDeliveryQueue } from '../../src/queue/delivery-queue.ts';
import { createSigningSecrets } from '../../src/routes/signing-secrets.ts';
import { createDeadLetterAdmin } from '../../src/services/dead-letter-admin.ts';
import { createRouteAdmin } from '../../src/services/route-admin.ts';
import { createEventDestinationAdmin } from '../../src/services/event-destination-admin.ts';
import { createKeySpace, type KeySpace } from '../../src/store/keys.ts';
import { createRedis } from '../../src/store/redis.ts';
import { startTestRedis, type TestRedis } from './redis.ts';

export interface TestApiApp {
  readonly app: FastifyInstance;
  readonly redis: Redis;
  readonly keys: KeySpace;
  close(): Promise<void>;
}

/** `prefix` defaults to a fresh one; pass a running mxhook's to act on its data. `extra` replaces dependencies. */
export async function buildTestApiApp(
  redisUrl: string, apiKey: string, prefix = `t${randomBytes(4).toString('hex')}`, extra: Partial<ApiDependencies> = {},
): Promise<TestApiApp> {
  const redis = createRedis(redisUrl, 'patient', 'inject-test');
  const keys = createKeySpace(prefix);
  const queueRedis = createRedis(redisUrl, 'fail-fast', 'inject-test-queue');
  const queue = createDeliveryQueue(queueRedis, keys);
  const accept = createAcceptMessage(queue, redis, keys, { messageTtlMs: 8 * 86_400_000 });
  const app = await buildApiApp({
    redis, keys, secrets: createSigningSecrets(redis, keys),
    routes: createRouteAdmin(redis, keys),
    deadLetters: createDeadLetterAdmin({ redis, keys, accept }),
    eventDestinations: createEventDestinationAdmin(redis, keys, { messageLog: true }),
    messages: { accept, preview: async () => ({ fields: {}, attachments: [], truncated: [] }), testMail: async () => 'unused', queueCounts: () => queue.getJobCounts('waiting', 'active', 'delayed', 'failed') },
    extractAttachment: async () => undefined,
    ecdsaPublicKey: async () => 'test-public-key', apiKeyHash: (await resolveApiKey(redis, keys, apiKey)).hash, logger: pino({ level: 'silent' }),
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4', body: 'x 1\n' }),
    ...extra,
  });
  return {
    app, redis, keys,
    async close() {
      await app.close();
      await queue.close();
      queueRedis.disconnect();
      redis.disconnect();
    },
  };
}

export interface ApiAppSuite {
  /** The file's app (set once its beforeAll ran). */
  readonly api: () => TestApiApp;
  /** Its redis-server's socket path, for a CLI run against the same data. */
  readonly redisUrl: () => string;
  /** An inject() with the API key: the status, the JSON answer (undefined when empty) and the raw response. */
  call(method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT', url: string, body?: unknown, headers?: Record<string, string>): Promise<{
    status: number; body: any; raw: Awaited<ReturnType<FastifyInstance['inject']>>;
  }>;
}

/** The usual frame of an API test file: one redis-server and one API app for the file, closed after it. */
export function apiAppPerFile(apiKey: string): ApiAppSuite {
  let testRedis: TestRedis | undefined;
  let api: TestApiApp | undefined;
  beforeAll(async () => {
    testRedis = await startTestRedis();
    api = await buildTestApiApp(testRedis.socketPath, apiKey);
  });
  afterAll(async () => {
    await api?.close();
    await testRedis?.cleanup();
  });
  const current = () => {
    if (!api) throw new Error('the API app is made in beforeAll');
    return api;
  };
  return {
    api: current,
    redisUrl: () => {
      if (!testRedis) throw new Error('the redis-server is started in beforeAll');
      return testRedis.socketPath;
    },
    async call(method, url, body, headers = {}) {
      const raw = await current().app.inject({ method, url, headers: { authorization: `Bearer ${apiKey}`, ...headers }, ...(body === undefined ? {} : { payload: body as string }) });
      return { status: raw.statusCode, body: raw.body ? JSON.parse(raw.body) : undefined, raw };
    },
  };
}
