/**
 * Finishing a delivery: idempotent (a re-run after the finish does not POST or touch another
 * route's delivery), done even when Redis is full, unexpected errors follow the retry window,
 * and a failed ECDSA key load is not remembered.
 */
import { getLoggedMessage } from '../src/store/message-log.ts';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Job, Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { DELIVERY_JOB_NAME, DELIVERY_QUEUE_NAME, BACKOFF_TYPE } from '../src/queue/delivery-queue.ts';
import { attemptsKey, readAttempts } from '../src/store/attempts.ts';
import { deadLetterDelivery, getDeadLetter } from '../src/store/dead-letters.ts';
import { releaseDelivery } from '../src/store/messages.ts';
import { readRouteStats } from '../src/store/route-stats.ts';
import { startTestRedis } from './helpers/redis.ts';
import { redisPerFile } from './helpers/suite.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver } from './helpers/receiver.ts';
import { sendMail } from './helpers/smtp.ts';

const suite = redisPerFile();
const later = suite.later;

const queuedId = (response: string) => /queued as (\w+)/.exec(response)![1];
const messageKeys = (mx: TestMxhook, id: string) => [mx.keys.messageRaw(id), mx.keys.messageMeta(id), mx.keys.messagePending(id)];
const jobKey = (mx: TestMxhook, deliveryId: string) => `${mx.keys.prefix}:deliveries:${deliveryId}`;

/** Adds the delivery's job again, as a job re-run after its finish committed would find it. */
async function rerun(mx: TestMxhook, messageId: string, deliveryId: string, hostname: string, attempts = 5): Promise<void> {
  const queue = new Queue(DELIVERY_QUEUE_NAME, { connection: mx.redis.duplicate({ maxRetriesPerRequest: null }), prefix: mx.keys.prefix });
  try {
    await queue.remove(deliveryId);
    await Job.create(queue, DELIVERY_JOB_NAME, { messageId, hostname }, { jobId: deliveryId, attempts, backoff: { type: BACKOFF_TYPE }, removeOnComplete: true });
  } finally {
    await queue.close();
  }
}

describe('idempotent finish', () => {
  it('finishing route 1 twice leaves route 2 its message, and route 2 is delivered normally; route 1 is not POSTed', async () => {
    const mx = later(await startTestMxhook(suite.redis.socketPath, [], ['smtp']));
    const one = later(await startReceiver());
    const two = later(await startReceiver());
    await mx.addRoute('one.example', one.url);
    await mx.addRoute('two.example', two.url);
    const id = queuedId((await sendMail(mx.smtpPort!, { from: 'a@s.test', to: ['x@one.example', 'y@two.example'], subject: 'twice', text: 'x' })).response);
    // The first finish of route 1's delivery, then its re-run (crash after the commit, lost lock).
    expect(await releaseDelivery(mx.redis, mx.keys, id, `${id}.1`)).toBe('released');
    expect(await releaseDelivery(mx.redis, mx.keys, id, `${id}.1`)).toBe('already-finished');
    expect(await mx.redis.exists(...messageKeys(mx, id))).toBe(3);
    later(await startTestMxhook(suite.redis.socketPath, ['--redis-prefix', mx.keys.prefix], ['worker']));
    const [post] = await two.waitFor(1);
    expect(post.fields.subject).toBe('twice');
    await expect.poll(() => mx.redis.exists(...messageKeys(mx, id), jobKey(mx, `${id}.1`), jobKey(mx, `${id}.2`)), { timeout: 10_000 }).toBe(0);
    expect(one.posts).toHaveLength(0);
    expect(await getDeadLetter(mx.redis, mx.keys, `${id}.2`)).toBeUndefined();
  });

  it('a delivered job run again (its completion lost) does not POST again while the message is still held by another route', async () => {
    const mx = later(await startTestMxhook(suite.redis.socketPath, ['--worker-lock-duration', '1s']));
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const one = later(await startReceiver());
    const two = later(await startReceiver(async () => (await held, { status: 200 })));
    await mx.addRoute('again-one.example', one.url);
    await mx.addRoute('again-two.example', two.url);
    const id = queuedId((await sendMail(mx.smtpPort!, { from: 'a@s.test', to: ['x@again-one.example', 'y@again-two.example'], subject: 'again', text: 'x' })).response);
    await one.waitFor(1);
    await two.waitFor(1); // route 2 holds the message
    await expect.poll(() => mx.redis.exists(jobKey(mx, `${id}.1`)), { timeout: 10_000 }).toBe(0);
    await rerun(mx, id, `${id}.1`, 'again-one.example');
    // The re-run ends (its job completes) without a POST.
    await expect.poll(() => mx.redis.exists(jobKey(mx, `${id}.1`)), { timeout: 10_000 }).toBe(0);
    expect(one.posts).toHaveLength(1);
    release();
    await expect.poll(() => mx.redis.exists(...messageKeys(mx, id)), { timeout: 10_000 }).toBe(0);
    expect(await readRouteStats(mx.redis, mx.keys, 'again-one.example')).toMatchObject({ delivered: 1, retrying: 0, dead: 0 });
  });
});

describe('the queue\'s backstop', () => {
  it('a job BullMQ fails for good (its attempts limit) is dead-lettered, not left in the failed set with its message', async () => {
    const mx = later(await startTestMxhook(suite.redis.socketPath, [], ['smtp']));
    const app = later(await startReceiver(() => ({ status: 500 })));
    await mx.addRoute('backstop.example', app.url);
    const id = queuedId((await sendMail(mx.smtpPort!, { from: 'a@s.test', to: 'x@backstop.example', subject: 'backstop', text: 'x' })).response);
    await rerun(mx, id, `${id}.1`, 'backstop.example', 1);
    later(await startTestMxhook(suite.redis.socketPath, ['--redis-prefix', mx.keys.prefix], ['worker']));
    await expect.poll(async () => (await getDeadLetter(mx.redis, mx.keys, `${id}.1`))?.reason, { timeout: 10_000 }).toBe('the queue gave up on the job: HTTP 500');
    expect(await mx.redis.exists(...messageKeys(mx, id))).toBe(0);
    expect(app.posts).toHaveLength(1);
    // The message log (and so the event webhook) says so too.
    await expect.poll(async () => (await getLoggedMessage(mx.redis, mx.keys, id))?.deliveries[0]?.state, { timeout: 10_000 }).toBe('dead-lettered');
  });
});

async function usedMemory(mx: TestMxhook): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await mx.redis.info('memory'))![1]);
}

describe('Redis full (maxmemory, noeviction)', () => {
  it('releases and dead-letter scripts: a release works, a dead letter is refused whole, a MULTI is refused', async () => {
    const own = await startTestRedis();
    suite.afterwards(() => own.cleanup());
    const mx = later(await startTestMxhook(own.socketPath, [], []));
    const { keys } = mx;
    const meta = { mailFrom: 'a@s.test', clientIp: '127.0.0.1', helo: 'h', receivedAt: Date.now(), size: 5, recipients: { 'h.example': ['x@h.example'] } };
    for (const id of ['m1', 'm2']) {
      await mx.redis.set(keys.messageRaw(id), 'hello');
      await mx.redis.hset(keys.messageMeta(id), 'meta', JSON.stringify(meta));
      await mx.redis.sadd(keys.messagePending(id), `${id}.1`, `${id}.2`);
    }
    await mx.redis.config('SET', 'maxmemory', String((await usedMemory(mx)) - 256 * 1024));
    try {
      await expect(mx.redis.set('probe', 'x')).rejects.toThrow(/OOM/);
      await expect(mx.redis.multi().srem(keys.messagePending('m1'), 'm1.1').exec()).rejects.toThrow(/EXECABORT/);
      await expect(deadLetterDelivery(mx.redis, keys, { deliveryId: 'm2.1', messageId: 'm2', hostname: 'h.example', reason: 'r', meta, retentionMs: 60_000, now: Date.now() }))
        .rejects.toThrow(/OOM/);
      // Nothing of it was written: the delivery is still pending and has no dead letter.
      expect(await mx.redis.smembers(keys.messagePending('m2'))).toHaveLength(2);
      expect(await mx.redis.exists(keys.deadLetter('m2.1'), keys.deadLetterRaw('m2.1'))).toBe(0);
      expect(await releaseDelivery(mx.redis, keys, 'm1', 'm1.1')).toBe('released');
      expect(await releaseDelivery(mx.redis, keys, 'm1', 'm1.2')).toBe('last');
      expect(await mx.redis.exists(...messageKeys(mx, 'm1'))).toBe(0);
    } finally {
      await mx.redis.config('SET', 'maxmemory', '0');
    }
    // With room again, the last pending delivery's dead letter takes the raw message (moved).
    await releaseDelivery(mx.redis, keys, 'm2', 'm2.2');
    expect(await deadLetterDelivery(mx.redis, keys, { deliveryId: 'm2.1', messageId: 'm2', hostname: 'h.example', reason: 'r', meta, retentionMs: 60_000, now: Date.now() })).toBe('dead-lettered');
    expect(await mx.redis.exists(...messageKeys(mx, 'm2'))).toBe(0);
    expect((await mx.redis.get(keys.deadLetterRaw('m2.1')))).toBe('hello');
    // Counted by the dead letter's own script: once (the refused try counted nothing), and not
    // again by a second try of an ended delivery.
    expect(await readRouteStats(mx.redis, keys, 'h.example')).toMatchObject({ dead: 1 });
    expect(await deadLetterDelivery(mx.redis, keys, { deliveryId: 'm2.1', messageId: 'm2', hostname: 'h.example', reason: 'r', meta, retentionMs: 60_000, now: Date.now() })).toBe('already-finished');
    expect(await readRouteStats(mx.redis, keys, 'h.example')).toMatchObject({ dead: 1 });
  });

  it('a successful POST is released though Redis is full (its counters with it), is not POSTed again, and frees memory', async () => {
    const own = await startTestRedis();
    suite.afterwards(() => own.cleanup());
    const mx = later(await startTestMxhook(own.socketPath, ['--worker-lock-duration', '1s']));
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const app = later(await startReceiver(async () => (await held, { status: 200 })));
    await mx.addRoute('full.example', app.url);
    const id = queuedId((await sendMail(mx.smtpPort!, { from: 'a@s.test', to: 'x@full.example', subject: 'full', text: 'x'.repeat(100_000) })).response);
    await app.waitFor(1);
    // Full, with a margin larger than the message: its release alone does not make room.
    await mx.redis.config('SET', 'maxmemory', String((await usedMemory(mx)) - 512 * 1024));
    try {
      await expect(mx.redis.set('probe', 'x')).rejects.toThrow(/OOM/);
      release();
      await expect.poll(() => mx.redis.exists(...messageKeys(mx, id)), { timeout: 10_000 }).toBe(0);
      // Still full. The counters went in the release script, after its deletes: Redis lets a
      // script that has written go on, so they are counted all the same.
      await expect(mx.redis.set('probe', 'x')).rejects.toThrow(/OOM/);
      expect((await readRouteStats(mx.redis, mx.keys, 'full.example')).delivered).toBe(1);
      // A run of the job after this (BullMQ's completion may not be writable) finds it ended.
      await rerunWhenGone(mx, id);
    } finally {
      await mx.redis.config('SET', 'maxmemory', '0');
    }
    await expect.poll(() => mx.redis.exists(jobKey(mx, `${id}.1`)), { timeout: 10_000 }).toBe(0);
    expect(app.posts).toHaveLength(1);
  });
});

/** The job is either gone (BullMQ completed it under OOM) or is run again after its lock lapses. */
async function rerunWhenGone(mx: TestMxhook, id: string): Promise<void> {
  await expect.poll(async () => (await mx.redis.exists(jobKey(mx, `${id}.1`))) === 0 || Number(await mx.redis.hget(jobKey(mx, `${id}.1`), 'ats')) >= 2, { timeout: 10_000 }).toBe(true);
}

describe('unexpected errors', () => {
  it('follow the route\'s retry window and end in the dead-letter store with the reason (not a 30 s loop)', async () => {
    const mx = later(await startTestMxhook(suite.redis.socketPath));
    const app = later(await startReceiver());
    await mx.addRoute('spool.example', app.url, { retry_policy: { fast_interval: '100ms', max_age: '1s' } });
    // The spool directory cannot be made: a file is in its place.
    await writeFile(path.join(mx.config.dataDir, 'spool'), 'not a directory');
    const big = Buffer.alloc(600 * 1024, 7);
    const id = queuedId((await sendMail(mx.smtpPort!, { from: 'a@s.test', to: 'x@spool.example', subject: 'spool', text: 'x', attachments: [{ filename: 'big.bin', content: big }] })).response);
    await expect.poll(async () => (await getDeadLetter(mx.redis, mx.keys, `${id}.1`))?.reason, { timeout: 15_000 }).toMatch(/^gave up after \d+ attempts: unexpected error: .*(ENOTDIR|EEXIST)/);
    const dead = (await getDeadLetter(mx.redis, mx.keys, `${id}.1`))!;
    expect(dead.attempts.length).toBeGreaterThanOrEqual(2);
    expect(dead.attempts.every((a) => a.outcome === 'error')).toBe(true);
    expect(await readRouteStats(mx.redis, mx.keys, 'spool.example')).toMatchObject({ delivered: 0, retrying: 0, dead: 1 });
    await expect.poll(() => mx.redis.exists(...messageKeys(mx, id), jobKey(mx, `${id}.1`)), { timeout: 10_000 }).toBe(0);
  });

  it('an ECDSA key load that fails once does not fail later deliveries', async () => {
    const mx = later(await startTestMxhook(suite.redis.socketPath));
    const app = later(await startReceiver());
    await mx.addRoute('ecdsa.example', app.url, { sendgrid_signature: true, retry_policy: { fast_interval: '100ms' } });
    const keyName = `${mx.keys.prefix}:ecdsa-private-key`;
    await mx.redis.set(keyName, 'not a PEM key');
    const id = queuedId((await sendMail(mx.smtpPort!, { from: 'a@s.test', to: 'x@ecdsa.example', subject: 'ecdsa', text: 'x' })).response);
    await expect.poll(async () => (await readAttempts(mx.redis, attemptsKey(mx.keys, `${id}.1`))).some((a) => a.outcome === 'error'), { timeout: 10_000 }).toBe(true);
    await mx.redis.del(keyName); // the next load makes a key
    const [post] = await app.waitFor(1);
    expect(post.headers['x-twilio-email-event-webhook-signature']).toBeTruthy();
    expect(Number(post.headers['x-mxhook-attempt'])).toBeGreaterThanOrEqual(2);
  });
});
