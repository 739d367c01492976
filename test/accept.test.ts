/**
 * The accept path against a real Redis and real BullMQ: a message is stored with all its jobs or
 * not at all, a failed job insert answers 451 and leaves nothing (after the sweep), the sweep keeps
 * a message whose jobs all exist and removes a half-accepted one, and an accept made while Redis
 * is down does not spoil the ones after it.
 */
import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryJobData, IncomingMessage } from '../src/domain/message.ts';
import { createAcceptMessage, type RefusedAccepts } from '../src/queue/accept.ts';
import { sweepAcceptJournal } from '../src/queue/accept-sweep.ts';
import { createDeliveryQueue, DELIVERY_JOB_NAME, DELIVERY_JOB_OPTIONS, deliveryId } from '../src/queue/delivery-queue.ts';
import { storeIncoming } from '../src/store/incoming.ts';
import { createKeySpace, type KeySpace } from '../src/store/keys.ts';
import { createRedis, waitForRedis } from '../src/store/redis.ts';
import { readRouteStats } from '../src/store/route-stats.ts';
import { startTestMxhook } from './helpers/mxhook.ts';
import { startReceiver } from './helpers/receiver.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';

const TTL_MS = 8 * 86_400_000;
const logger = pino({ level: 'silent' });
let server: TestRedis;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  server = await startTestRedis();
});
afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await server?.cleanup();
});

interface Setup {
  keys: KeySpace;
  redis: Redis;
  queue: Queue<DeliveryJobData>;
}

async function setup(): Promise<Setup> {
  const keys = createKeySpace(`t${randomBytes(4).toString('hex')}`);
  const redis = createRedis(server.socketPath, 'fail-fast', 'test-accept', true);
  redis.on('error', () => {});
  const queue = createDeliveryQueue(createRedis(server.socketPath, 'fail-fast', 'test-accept-queue'), keys);
  await queue.waitUntilReady();
  closers.push(() => queue.close(), async () => redis.disconnect());
  await waitForRedis(redis);
  return { keys, redis, queue };
}

const message = (hostnames: string[], extra: Partial<IncomingMessage> = {}): IncomingMessage => ({
  id: `m${randomBytes(6).toString('hex')}`, raw: Buffer.from('Subject: hi\r\n\r\nbody\r\n'), mailFrom: 'a@s.test', clientIp: '127.0.0.1',
  helo: 'c.test', receivedAt: Date.now(), deliveries: hostnames.map((hostname) => ({ hostname, recipients: [`x@${hostname}`] })), ...extra,
});

/** Every key of a message and its jobs that exists. */
async function leftovers({ redis, keys }: Setup, id: string): Promise<string[]> {
  const found = await redis.keys(`${keys.prefix}:*${id}*`);
  const journal = await redis.zrange(keys.acceptJournal, 0, -1);
  return [...found, ...journal.filter((m) => m.startsWith(id)).map((m) => `journal ${m}`)].sort();
}

describe('accept', () => {
  it('stores a two-route message with both jobs, its pending set and the same TTL on all three keys, and clears its journal entry', async () => {
    const s = await setup();
    const m = message(['one.example', 'two.example']);
    await createAcceptMessage(s.queue, s.redis, s.keys, { messageTtlMs: TTL_MS })(m);
    expect((await s.queue.getJob(deliveryId(m.id, 0)))?.data).toEqual({ messageId: m.id, hostname: 'one.example' });
    expect((await s.queue.getJob(deliveryId(m.id, 1)))?.data).toEqual({ messageId: m.id, hostname: 'two.example' });
    expect((await s.redis.smembers(s.keys.messagePending(m.id))).sort()).toEqual([`${m.id}.1`, `${m.id}.2`]);
    expect(await s.redis.hexists(s.keys.messageMeta(m.id), 'pending')).toBe(0);
    for (const key of [s.keys.messageRaw(m.id), s.keys.messageMeta(m.id), s.keys.messagePending(m.id)]) {
      const ttl = await s.redis.pttl(key);
      expect(ttl).toBeGreaterThan(TTL_MS - 60_000);
      expect(ttl).toBeLessThanOrEqual(TTL_MS);
    }
    expect((await readRouteStats(s.redis, s.keys, 'two.example')).received).toBe(1);
    await expect.poll(() => s.redis.zcard(s.keys.acceptJournal)).toBe(0);
  });

  it('a burst of first messages on a fresh auto-pipelining connection is stored whole (the store script is defined before traffic)', async () => {
    const s = await setup();
    const accept = createAcceptMessage(s.queue, s.redis, s.keys, { messageTtlMs: TTL_MS });
    // In one turn: another command opens the auto pipeline, then twenty accepts join it.
    const other = s.redis.get(`${s.keys.prefix}:nothing`);
    const burst = Array.from({ length: 20 }, () => message(['one.example']));
    const results = await Promise.allSettled(burst.map((m) => accept(m)));
    await other;
    expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    expect(await s.queue.getJobCounts('waiting')).toEqual({ waiting: 20 });
  });

  it('an accept so slow that a sweep took it for half done is refused, and never published as received', async () => {
    const s = await setup();
    const m = message(['one.example']);
    let calls = 0;
    const accept = createAcceptMessage(s.queue, s.redis, s.keys, {
      messageTtlMs: TTL_MS, messageLog: { retentionMs: 3_600_000, maxRecords: 1000 },
      // The second reading of the clock comes after the jobs: 60 s later, and a sweep has just dropped the journal entry.
      now: () => (++calls === 2 ? (void s.redis.zrem(s.keys.acceptJournal, `${m.id}:1`), Date.now() + 60_000) : Date.now()),
    });
    await expect(accept(m)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(await s.redis.xlen(`${s.keys.prefix}:log:events`)).toBe(0);
    expect(await s.redis.exists(`${s.keys.prefix}:log:m:${m.id}`)).toBe(0);
  });

  it('a job insert that Redis refuses half way gives STORE_UNAVAILABLE, removes the message at once, and the sweep leaves nothing', async () => {
    const s = await setup();
    // BullMQ writes the job hash, then fails on its events stream: a real half-done insert.
    await s.redis.set(`${s.keys.prefix}:deliveries:events`, 'not a stream');
    const refused: RefusedAccepts = new Map();
    const m = message(['one.example', 'two.example']);
    const messageLog = { retentionMs: 3_600_000, maxRecords: 1000 };
    await expect(createAcceptMessage(s.queue, s.redis, s.keys, { messageTtlMs: TTL_MS, refused, messageLog })(m)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(await s.redis.exists(s.keys.messageRaw(m.id), s.keys.messageMeta(m.id), s.keys.messagePending(m.id))).toBe(0);
    // Logged before its jobs were added; the undo that could not finish left the record too.
    const record = `${s.keys.prefix}:log:m:${m.id}`;
    expect(await s.redis.exists(record)).toBe(1);
    // ...but never published: no `received` for mail its sender was refused, nor counted as mail in.
    expect(await s.redis.xlen(`${s.keys.prefix}:log:events`)).toBe(0);
    expect(await s.redis.keys(`${s.keys.prefix}:log:min:*`)).toEqual([]);
    // The partial jobs could not be removed while the fault lasts: the journal and `refused` keep them.
    expect(refused.has(m.id)).toBe(true);
    expect(await leftovers(s, m.id)).not.toEqual([]);
    await s.redis.del(`${s.keys.prefix}:deliveries:events`);
    const swept = await sweepAcceptJournal({ queue: s.queue, redis: s.redis, keys: s.keys, logger, refused });
    expect(swept.removed).toContain(m.id);
    expect(refused.size).toBe(0);
    expect(await leftovers(s, m.id)).toEqual([]);
    // The log shows no message its sender was refused.
    expect(await s.redis.exists(record)).toBe(0);
    expect(await s.redis.zscore(`${s.keys.prefix}:log:idx`, m.id)).toBeNull();
  });

  it('the same undo is finished by any process\'s sweep from the journal alone (message already removed, jobs left)', async () => {
    const s = await setup();
    await s.redis.set(`${s.keys.prefix}:deliveries:events`, 'not a stream');
    const m = message(['one.example', 'two.example']);
    // No `refused` map: as if the process that answered 451 died before it could clean up.
    await expect(createAcceptMessage(s.queue, s.redis, s.keys, { messageTtlMs: TTL_MS })(m)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await s.redis.del(`${s.keys.prefix}:deliveries:events`);
    const swept = await sweepAcceptJournal({ queue: s.queue, redis: s.redis, keys: s.keys, logger, refused: new Map(), graceMs: 0 });
    expect(swept.removed).toEqual([m.id]);
    expect(await leftovers(s, m.id)).toEqual([]);
  });

  it('the sweep removes a stored message that got only one of its two jobs (the sender never saw 250)', async () => {
    const s = await setup();
    const m = message(['one.example', 'two.example']);
    const ids = [deliveryId(m.id, 0), deliveryId(m.id, 1)];
    await storeIncoming(s.redis, s.keys, m, ids, TTL_MS, Date.now());
    await s.queue.add(DELIVERY_JOB_NAME, { messageId: m.id, hostname: 'one.example' }, { ...DELIVERY_JOB_OPTIONS, jobId: ids[0] });
    const sweep = (graceMs?: number) => sweepAcceptJournal({ queue: s.queue, redis: s.redis, keys: s.keys, logger, refused: new Map(), ...(graceMs === undefined ? {} : { graceMs }) });
    // Within the grace period an accept may still be adding its jobs: left alone.
    expect(await sweep()).toMatchObject({ removed: [], confirmed: [], swept: true });
    expect(await s.redis.exists(s.keys.messageRaw(m.id))).toBe(1);
    expect((await sweep(0)).removed).toEqual([m.id]);
    expect(await s.queue.getJob(ids[0])).toBeUndefined();
    expect(await leftovers(s, m.id)).toEqual([]);
  });

  it('a journal entry whose jobs all exist (the SMTP process died after enqueueing) is dropped by the sweep and the message delivered once per route', async () => {
    // No worker yet: the sweep must see the message as the dead SMTP process left it.
    const mx = await startTestMxhook(server.socketPath, [], []);
    closers.push(() => mx.close());
    const app = await startReceiver();
    closers.push(() => app.close());
    await mx.addRoute('one.example', app.url);
    await mx.addRoute('two.example', app.url);
    const redis = createRedis(server.socketPath, 'fail-fast', 'test-accept-died', true);
    const queue = createDeliveryQueue(createRedis(server.socketPath, 'fail-fast', 'test-accept-died-queue'), mx.keys);
    closers.push(() => queue.close(), async () => redis.disconnect());
    await Promise.all([waitForRedis(redis), queue.waitUntilReady()]);
    const m = message(['one.example', 'two.example']);
    const ids = [deliveryId(m.id, 0), deliveryId(m.id, 1)];
    // Steps 1 and 2 of an accept, and no step 3: the journal entry is never cleared.
    await storeIncoming(redis, mx.keys, m, ids, TTL_MS, Date.now() - 120_000);
    await queue.addBulk(m.deliveries.map((d, i) => ({ name: DELIVERY_JOB_NAME, data: { messageId: m.id, hostname: d.hostname }, opts: { ...DELIVERY_JOB_OPTIONS, jobId: ids[i] } })));
    const swept = await sweepAcceptJournal({ queue, redis, keys: mx.keys, logger, refused: new Map() });
    expect(swept).toMatchObject({ confirmed: [m.id], removed: [] });
    expect(await redis.zcard(mx.keys.acceptJournal)).toBe(0);
    const worker = await startTestMxhook(server.socketPath, ['--redis-prefix', mx.keys.prefix], ['worker']);
    closers.push(() => worker.close());
    await app.waitFor(2);
    await expect.poll(() => redis.exists(mx.keys.messageRaw(m.id), mx.keys.messagePending(m.id)), { timeout: 10_000 }).toBe(0);
    // A second sweep finds nothing to do, and nothing is posted again.
    expect(await sweepAcceptJournal({ queue, redis, keys: mx.keys, logger, refused: new Map(), graceMs: 0 })).toMatchObject({ removed: [], confirmed: [] });
    expect(app.posts.map((p) => p.headers['x-mxhook-delivery-id']).sort()).toEqual(ids);
  });

  it('an accept made while Redis is down fails at once, and accepts work again once it is back, without a new accept function', async () => {
    const own = await startTestRedis();
    closers.push(() => own.cleanup());
    const keys = createKeySpace(`t${randomBytes(4).toString('hex')}`);
    const redis = createRedis(own.socketPath, 'fail-fast', 'test-accept-outage', true);
    redis.on('error', () => {});
    const queueConnection = createRedis(own.socketPath, 'fail-fast', 'test-accept-outage-queue');
    queueConnection.on('error', () => {});
    const queue = createDeliveryQueue(queueConnection, keys);
    queue.on('error', () => {});
    await Promise.all([waitForRedis(redis), queue.waitUntilReady()]);
    closers.push(() => queue.close(), async () => redis.disconnect());
    const accept = createAcceptMessage(queue, redis, keys, { messageTtlMs: TTL_MS });
    await own.kill();
    // The first use of this accept function happens during the outage.
    await expect(accept(message(['one.example']))).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await own.restart();
    const m = message(['one.example', 'two.example']);
    await expect.poll(() => accept(m).then(() => 'accepted', (err: unknown) => String(err)), { timeout: 15_000, interval: 200 }).toBe('accepted');
    expect(await queue.getJob(deliveryId(m.id, 1))).toBeDefined();
    const next = message(['one.example']);
    await accept(next);
    expect(await redis.exists(keys.messageRaw(next.id))).toBe(1);
  });
});
