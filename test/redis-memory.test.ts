/**
 * Redis near its maxmemory (a real redis-server with maxmemory 40mb and noeviction, filled up):
 * new mail gets 451 4.3.0, /healthz says degraded, the gauge is set, and mail is accepted again
 * once space is freed. An accept Redis refuses with OOM is answered 451 too, never 250.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAcceptMessage } from '../src/queue/accept.ts';
import { createDeliveryQueue } from '../src/queue/delivery-queue.ts';
import { createKeySpace } from '../src/store/keys.ts';
import { memoryLevel, parseMemoryInfo } from '../src/store/redis-memory.ts';
import { createRedis, waitForRedis } from '../src/store/redis.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { SmtpLineClient, sendMail } from './helpers/smtp.ts';

const MAX = 40 * 1024 * 1024;
let server: TestRedis;
let filler: Redis;
let mx: TestMxhook;

beforeAll(async () => {
  server = await startTestRedis();
  filler = createRedis(server.socketPath, 'patient', 'test-filler');
  await filler.config('SET', 'maxmemory', String(MAX));
  await filler.config('SET', 'maxmemory-policy', 'noeviction');
  mx = await startTestMxhook(server.socketPath, [], ['smtp', 'api']);
  await mx.addRoute('full.example', 'http://127.0.0.1:9/unused');
});
afterAll(async () => {
  await mx?.close();
  filler?.disconnect();
  await server?.cleanup();
});

const used = async () => parseMemoryInfo(await filler.info('memory')).usedBytes;

/**
 * Junk values until Redis uses `share` of maxmemory, or refuses (OOM). Past maxmemory, smaller
 * and smaller values: a refused big value's own bytes are freed again, leaving room for small writes.
 */
async function fillTo(share: number): Promise<void> {
  let i = 0;
  for (const size of [512 * 1024, 16 * 1024, 256]) {
    const junk = randomBytes(size);
    try {
      while ((await used()) < MAX * share) await filler.set(`junk:${i++}`, junk);
      return;
    } catch (err) {
      if (!/OOM/.test(String(err))) throw err;
    }
  }
}
const freeAll = async () => {
  for (;;) {
    const junk = await filler.keys('junk:*');
    if (!junk.length) return;
    await filler.del(...junk);
  }
};

const healthz = async () => {
  const res = await fetch(`http://127.0.0.1:${mx.apiPort}/healthz`);
  return { status: res.status, body: (await res.json()) as { status: string; reasons?: string[] } };
};
const gauge = async () => /^mxhook_redis_memory_high (\d)/m.exec(await (await fetch(`http://127.0.0.1:${mx.apiPort}/metrics`)).text())?.[1];

describe('Redis memory watch (pure parts)', () => {
  it('reads used_memory and maxmemory from INFO memory, and is never high without maxmemory', () => {
    expect(parseMemoryInfo('# Memory\r\nused_memory:1234\r\nused_memory_human:1.2K\r\nmaxmemory:10000\r\n')).toEqual({ usedBytes: 1234, maxBytes: 10000 });
    expect(memoryLevel(9000, 10000, 0.9)).toBe('high');
    expect(memoryLevel(8999, 10000, 0.9)).toBe('ok');
    expect(memoryLevel(10 ** 12, 0, 0.9)).toBe('ok');
  });
});

describe('Redis near maxmemory', () => {
  it('answers 451 4.3.0 above the watermark, says degraded on /healthz and /metrics, and accepts again once space is freed', async () => {
    expect(await healthz()).toEqual({ status: 200, body: { status: 'ok' } });
    // A session that got as far as DATA before Redis filled up.
    const { client: early } = await SmtpLineClient.connect(mx.smtpPort!);
    await early.command('EHLO c.test');
    await early.command('MAIL FROM:<a@s.test>');
    expect(await early.command('RCPT TO:<x@full.example>')).toMatch(/^250 /);
    expect(await early.command('DATA')).toMatch(/^354 /);
    await fillTo(0.93);
    await expect.poll(async () => (await healthz()).body.status, { timeout: 10_000 }).toBe('degraded');
    const health = await healthz();
    expect(health.status).toBe(200);
    expect(health.body.reasons?.[0]).toMatch(/redis memory at \d+% of maxmemory \(watermark 90%\): new mail is answered 451 4\.3\.0/);
    expect(await gauge()).toBe('1');
    early.write('Subject: late\r\n\r\nbody\r\n.\r\n');
    expect(await early.nextReply()).toMatch(/^451 4\.3\.0 /);
    early.close();

    const { client } = await SmtpLineClient.connect(mx.smtpPort!);
    await client.command('EHLO c.test');
    expect(await client.command('MAIL FROM:<a@s.test>')).toMatch(/^451 4\.3\.0 .*nearly full/);
    client.close();
    await expect(sendMail(mx.smtpPort!, { from: 'a@s.test', to: 'x@full.example', subject: 's', text: 'x' })).rejects.toMatchObject({ responseCode: 451 });

    await freeAll();
    await expect.poll(async () => (await healthz()).body.status, { timeout: 10_000 }).toBe('ok');
    expect(await gauge()).toBe('0');
    const info = await sendMail(mx.smtpPort!, { from: 'a@s.test', to: 'x@full.example', subject: 'after', text: 'x' });
    expect(info.response).toMatch(/^250 /);
  });

  it('an accept Redis refuses as out of memory rejects with STORE_FULL (451 4.3.0), stores nothing, and works again once space is freed', async () => {
    const keys = createKeySpace(`t${randomBytes(4).toString('hex')}`);
    const redis = createRedis(server.socketPath, 'fail-fast', 'test-oom', true);
    const queue = createDeliveryQueue(createRedis(server.socketPath, 'fail-fast', 'test-oom-queue'), keys);
    try {
      await Promise.all([waitForRedis(redis), queue.waitUntilReady()]);
      const accept = createAcceptMessage(queue, redis, keys, { messageTtlMs: 8 * 86_400_000 });
      const message = (id: string) => ({
        id, raw: Buffer.from('Subject: x\r\n\r\nbody\r\n'), mailFrom: '', clientIp: '127.0.0.1', helo: 'c', receivedAt: Date.now(),
        deliveries: [{ hostname: 'full.example', recipients: ['x@full.example'] }],
      });
      await fillTo(1.5); // until Redis answers OOM
      await expect(accept(message('oom1'))).rejects.toMatchObject({ code: 'STORE_FULL' });
      expect(await filler.exists(keys.messageRaw('oom1'), keys.messageMeta('oom1'), keys.messagePending('oom1'))).toBe(0);
      expect(await filler.zcard(keys.acceptJournal)).toBe(0);
      await freeAll();
      await accept(message('oom2'));
      expect(await filler.exists(keys.messageRaw('oom2'))).toBe(1);
    } finally {
      await queue.close();
      redis.disconnect();
    }
  });
});
