/**
 * Fault soak: a few hundred messages from an MTA-like sender (retries on 4xx and on a lost
 * connection) through mxhook's smtp and worker roles, each its own process, while Redis is
 * SIGKILLed and restarted from its append-only file, the worker is SIGKILLed mid-POST and the
 * SMTP process is SIGKILLed while mail arrives.
 * Then: nothing that got a 250 is lost, and every duplicate POST has its documented cause:
 *   - the same delivery id again, with a strictly higher X-Mxhook-Attempt (a worker died, or its
 *     finish was not recorded, after the app answered);
 *   - the same message under a second message id, only when the sender resent because it never
 *     read the reply to its end of data (a 451, or any other reply, means nothing is delivered).
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startManagedRedis, type ManagedRedis } from '../src/store/managed-redis.ts';
import { pino } from 'pino';
import { sweepAcceptJournal } from '../src/queue/accept-sweep.ts';
import { createDeliveryQueue } from '../src/queue/delivery-queue.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { sendLikeAnMta, type SendResult, type TryRecord } from './helpers/mta.ts';
import { spawnMxhook, type MxhookProcess } from './helpers/process.ts';
import { startReceiver, type ReceivedPost, type Receiver } from './helpers/receiver.ts';

// ---- the run's size (env overrides for a longer soak by hand) ----
const MESSAGES = Number(process.env.SOAK_MESSAGES ?? 300);
/** Concurrent sending connections. */
const SENDERS = Number(process.env.SOAK_SENDERS ?? 4);
/** Worker SIGKILLs, each while a POST is in flight: at these fractions of MESSAGES POSTs seen. */
const WORKER_KILLS_AT = [0.15, 0.5];
/** Redis SIGKILLs: the first once this fraction of messages got 250 (sending is under way)... */
const REDIS_KILL_AT_ACCEPTED = 0.3;
/** ...the second while a POST is in flight, at this fraction of MESSAGES POSTs seen. */
const REDIS_KILL_AT_POSTS = 0.7;
/** The SMTP process is SIGKILLed (and restarted on the same port) once this fraction of messages got 250. */
const SMTP_KILL_AT_ACCEPTED = 0.6;
/** Redis stays down until the sender has seen this many failed tries, or this long at most. */
const OUTAGE_FAILED_TRIES = 10;
const OUTAGE_MAX_MS = 3_000;
/** Everything that got a 250 must have arrived within this long after the last send ended. */
const DRAIN_DEADLINE_MS = 45_000;

const HOST = 'soak.example';
const tokenOf = (post: ReceivedPost) => /^soak (\w+)$/.exec(post.fields.subject ?? '')?.[1];
const tryOf = (post: ReceivedPost) => Number(/^X-Soak-Try: (\d+)$/m.exec(post.fields.headers ?? '')?.[1]);
const attemptOf = (post: ReceivedPost) => Number(post.headers['x-mxhook-attempt']);
const deliveryOf = (post: ReceivedPost) => String(post.headers['x-mxhook-delivery-id']);
const messageOf = (deliveryId: string) => deliveryId.replace(/\.\d+$/, '');

/**
 * A free port below Linux's ephemeral range (32768-60999): the SMTP process is restarted on it, and
 * while it is down a port-0 listener of another test file running alongside must not take it.
 */
async function freePort(): Promise<number> {
  for (;;) {
    const candidate = 20_000 + Math.floor(Math.random() * 12_000);
    const server = net.createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(candidate, '127.0.0.1', () => resolve(true));
    });
    if (!bound) continue;
    await new Promise((resolve) => server.close(resolve));
    return candidate;
  }
}

/** A long list as its count and first few entries, so a failure message stays readable. */
const some = (list: string[]) => ({ count: list.length, first: list.slice(0, 10) });

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** One role as its own process; an exit nobody asked for is recorded (and fails the test). */
function roleProcess(role: 'smtp' | 'worker', args: string[], readyEvent: string, unexpectedExits: string[]) {
  let current: MxhookProcess | undefined;
  let killing = false;
  const start = () => {
    const p = spawnMxhook([role, ...args]);
    current = p;
    void p.exited.then((code) => {
      if (!killing && current === p) unexpectedExits.push(`${role} exited (${code}): ${p.stderr().slice(-2000)}`);
    });
    return p;
  };
  cleanups.push(async () => {
    killing = true;
    current?.proc.kill('SIGKILL');
  });
  return {
    start,
    get current() { return current!; },
    /** SIGKILL, then a fresh process of the same role, once it is ready. */
    async killAndRestart() {
      killing = true;
      const old = current!;
      old.proc.kill('SIGKILL');
      await old.exited;
      killing = false;
      await start().waitForLog((e) => e.event === readyEvent, 30_000);
    },
  };
}

describe('fault soak', () => {
  it(`${MESSAGES} messages through Redis kills and worker kills: zero lost, every duplicate explained`, async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mxhook-soak-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    // appendfsync always, as the product runs its own Redis: a write answered is on disk.
    const redis: ManagedRedis = await startManagedRedis({ dir: path.join(dir, 'redis'), appendfsync: 'always', supervise: false });
    cleanups.push(() => redis.stop());
    const probe: TestMxhook = await startTestMxhook(redis.socketPath, [], []);
    probe.redis.on('error', () => {}); // Redis is killed on purpose; the connection reconnects
    cleanups.push(() => probe.close());

    const unexpectedExits: string[] = [];
    const common = ['--redis-url', redis.socketPath, '--redis-prefix', probe.keys.prefix, '--data-dir', path.join(dir, 'data')];
    // A fixed port, so the restarted SMTP process is where the sender keeps trying.
    const port = await freePort();
    const smtp = roleProcess('smtp', [...common, '--smtp-host', '127.0.0.1', '--smtp-port', String(port), '--hostname', 'mx.test', '--auth-checks', 'false'],
      'smtp_listening', unexpectedExits);
    const worker = roleProcess('worker', [...common, '--worker-concurrency', '8', '--worker-lock-duration', '2s',
      '--retry-fast-interval', '200ms-400ms', '--retry-slow-interval', '200ms-400ms', '--request-timeout', '10s'], 'worker_started', unexpectedExits);

    // ---- faults, one at a time ----
    const faultLog: string[] = [];
    let faults = Promise.resolve();
    const fault = (name: string, run: () => Promise<void>) => {
      faults = faults.then(async () => {
        const at = Date.now();
        await run().then(
          () => faultLog.push(`${name} (${Date.now() - at} ms)`),
          (err: unknown) => faultLog.push(`${name} FAILED: ${String(err)}`),
        );
      });
      return faults;
    };
    let failedTries = 0;
    let failedTriesWaiter: { atLeast: number; resolve: () => void } | undefined;
    const redisOutage = (why: string) => fault(`redis SIGKILL ${why}`, async () => {
      await redis.kill();
      // Down until the sender has felt it (or a bounded while, when little is being sent).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, OUTAGE_MAX_MS);
        failedTriesWaiter = { atLeast: failedTries + OUTAGE_FAILED_TRIES, resolve: () => { clearTimeout(timer); resolve(); } };
      });
      failedTriesWaiter = undefined;
      await redis.restart();
    });

    // ---- the app: records every POST; the kills happen while chosen POSTs are in flight ----
    const workerKillIndexes = new Set(WORKER_KILLS_AT.map((f) => Math.floor(f * MESSAGES)));
    const redisKillIndex = Math.floor(REDIS_KILL_AT_POSTS * MESSAGES);
    let arrivals: (() => void) | undefined;
    const app: Receiver = await startReceiver(async (_post, index) => {
      arrivals?.();
      if (workerKillIndexes.has(index)) await fault(`worker SIGKILL at POST ${index}`, () => worker.killAndRestart());
      // Answered after Redis is gone: the app has the message, the worker cannot record it.
      if (index === redisKillIndex) await redisOutage(`at POST ${index}`).then(() => undefined, () => undefined);
      return { status: 200 };
    });
    cleanups.push(() => app.close());
    await probe.addRoute(HOST, app.url);

    const started = Date.now();
    smtp.start();
    await smtp.current.waitForLog((e) => e.event === 'smtp_listening', 30_000);
    worker.start();
    await worker.current.waitForLog((e) => e.event === 'worker_started', 30_000);

    // ---- the sender ----
    const tokens = Array.from({ length: MESSAGES }, () => randomBytes(6).toString('hex'));
    const results = new Map<string, SendResult>();
    let accepted = 0;
    let redisKillFromSender = false;
    let smtpKilled = false;
    const onTry = (record: TryRecord) => {
      if (record.queuedAs) accepted++;
      else failedTries++;
      if (failedTriesWaiter && failedTries >= failedTriesWaiter.atLeast) failedTriesWaiter.resolve();
      if (!redisKillFromSender && accepted >= REDIS_KILL_AT_ACCEPTED * MESSAGES) {
        redisKillFromSender = true;
        void redisOutage(`after ${accepted} accepted`);
      }
      if (!smtpKilled && accepted >= SMTP_KILL_AT_ACCEPTED * MESSAGES) {
        smtpKilled = true;
        void fault(`smtp SIGKILL after ${accepted} accepted`, () => smtp.killAndRestart());
      }
    };
    const queue = [...tokens];
    await Promise.all(Array.from({ length: SENDERS }, async () => {
      for (let token = queue.shift(); token; token = queue.shift()) {
        const result = await sendLikeAnMta({
          from: 'sender@origin.test', to: `inbox@${HOST}`,
          build: (n) => [
            `Message-ID: <${token}@origin.test>`, 'From: sender@origin.test', `To: inbox@${HOST}`, `Subject: soak ${token}`,
            // Which try of the message this is, so a POST names the try that produced it.
            `X-Soak-Try: ${n}`, '', `token ${token}`, '',
          ].join('\r\n'),
        }, { port, maxTries: 40, retryDelayMs: (n) => Math.min(100 * n, 1_000), replyTimeoutMs: 15_000, onTry });
        results.set(token, result);
      }
    }));
    await faults;

    // ---- drain: every message that got a 250 arrives, then nothing is left in Redis ----
    const acceptedIds = new Map<string, string>(); // message id -> token, for every try that got 250
    for (const [token, r] of results) for (const t of r.tries) if (t.queuedAs) acceptedIds.set(t.queuedAs, token);
    const arrivedIds = () => new Set(app.posts.map((p) => messageOf(deliveryOf(p))));
    const missing = () => [...acceptedIds.keys()].filter((id) => !arrivedIds().has(id));
    if (missing().length) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, DRAIN_DEADLINE_MS);
        arrivals = () => { if (!missing().length) { clearTimeout(timer); resolve(); } };
      });
    }
    const lostIds = missing();
    const bull = createDeliveryQueue(probe.redis, probe.keys);
    cleanups.push(() => bull.close());
    const leftInRedis = async () => {
      const counts = await bull.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed');
      const messages = (await probe.redis.keys(`${probe.keys.prefix}:msg:*`)).length;
      return { ...counts, messages };
    };
    const emptied = { waiting: 0, active: 0, delayed: 0, prioritized: 0, failed: 0, messages: 0 };
    if (!lostIds.length) await expect.poll(leftInRedis, { timeout: 20_000, interval: 250 }).toEqual(emptied).catch(() => {});
    // A message whose jobs could not be added while Redis was being killed, and whose clean-up
    // failed too, waits in the accept journal for the SMTP role's sweep (entries older than a
    // minute, every 30 s). Run that same sweep now instead of waiting for it.
    if ((await leftInRedis()).messages) {
      const swept = await sweepAcceptJournal({ queue: bull, redis: probe.redis, keys: probe.keys, logger: pino({ level: 'silent' }), refused: new Map(), graceMs: 0 });
      console.log(`accept-journal sweep after the drain: removed ${swept.removed.length}, confirmed ${swept.confirmed.length}`);
      if (swept.confirmed.length) await expect.poll(leftInRedis, { timeout: 20_000, interval: 250 }).toEqual(emptied).catch(() => {});
    }

    // ---- the ledger ----
    const byDelivery = new Map<string, ReceivedPost[]>();
    for (const p of app.posts) byDelivery.set(deliveryOf(p), [...(byDelivery.get(deliveryOf(p)) ?? []), p]);
    const attemptNotHigher: string[] = [];
    let redelivered = 0;
    for (const [id, posts] of byDelivery) {
      for (let i = 1; i < posts.length; i++) {
        redelivered++;
        if (!(attemptOf(posts[i]) > attemptOf(posts[i - 1]))) {
          attemptNotHigher.push(`${id}: POST ${i + 1} says X-Mxhook-Attempt ${posts[i].headers['x-mxhook-attempt']} after ${posts[i - 1].headers['x-mxhook-attempt']}`);
        }
      }
    }
    const unexplainedResends: string[] = [];
    let resent = 0;
    for (const [id, posts] of byDelivery) {
      const token = tokenOf(posts[0])!;
      const result = results.get(token);
      const record = result?.tries.find((t) => t.n === tryOf(posts[0]));
      if (acceptedIds.get(messageOf(id)) === token) continue; // the message id the sender saw a 250 for
      resent++;
      // Delivered, yet the sender never got a 250 for it: only right if it never read the reply to its data.
      if (!record || !(record.end.kind === 'lost' && record.end.stage === 'end-of-data')) {
        unexplainedResends.push(`${id} (token ${token}, try ${tryOf(posts[0])}): that try ended ${record ? JSON.stringify(record.end) : 'unknown'}`);
      }
    }
    const notAccepted = [...results].filter(([, r]) => !r.got250).map(([token, r]) => `${token}: ${JSON.stringify(r.final)}`);
    const replies451 = [...results.values()].flatMap((r) => r.tries).filter((t) => t.end.kind === 'reply' && /^451/.test(t.end.reply)).length;
    const lostConnections = [...results.values()].flatMap((r) => r.tries).filter((t) => t.end.kind === 'lost').length;

    console.log(`fault soak (${((Date.now() - started) / 1000).toFixed(1)} s): sent ${MESSAGES}, 250s ${acceptedIds.size}, 451s ${replies451}, connections lost ${lostConnections}, ` +
      `POSTs ${app.posts.length}, duplicates: ${redelivered} same delivery id re-POSTed, ${resent} resent by the sender (new message id); ` +
      `faults: ${faultLog.join('; ')}`);

    expect(unexpectedExits, 'an mxhook process died by itself').toEqual([]);
    expect(faultLog.filter((f) => f.startsWith('worker')), 'every planned worker kill happened').toHaveLength(WORKER_KILLS_AT.length);
    expect(faultLog.filter((f) => f.startsWith('redis')), 'both Redis kills happened').toHaveLength(2);
    expect(faultLog.filter((f) => f.startsWith('smtp')), 'the SMTP kill happened').toHaveLength(1);
    expect(faultLog.filter((f) => f.includes('FAILED')), 'every fault was carried out (and the process came back)').toEqual([]);
    expect.soft(some(lostIds.map((id) => `${id} (token ${acceptedIds.get(id)})`)), 'answered 250 but never POSTed (lost)').toEqual(some([]));
    expect.soft(some(attemptNotHigher), 'a re-POST of a delivery must count its attempt up (attempts counted as started)').toEqual(some([]));
    expect.soft(some(unexplainedResends), 'delivered under a message id the sender was not told 250 for, though it read the reply').toEqual(some([]));
    expect.soft(some(notAccepted), 'messages the sender gave up on (mxhook never accepted them again)').toEqual(some([]));
    const failedJobs = (await bull.getFailed()).map((j) => `${j.id}: ${j.failedReason}`);
    expect.soft({ ...(await leftInRedis()), failedJobs }, 'after the drain nothing is queued, failed or stored').toEqual({ ...emptied, failedJobs: [] });
  // Its own deadlines (sender tries, drain) end it well before this on a quiet machine; the rest is room for a loaded one.
  }, 300_000);
});
