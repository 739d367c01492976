/**
 * Redis at maxmemory (40 MB, noeviction): while the app is down and 100 KB messages pile up,
 * mxhook must stop taking mail (451 4.3.0) and say it is degraded before Redis itself refuses
 * writes; once the app is back every stored message is POSTed once (a POST answered 2xx is
 * released even from a full Redis, never re-POSTed), memory falls and mail is taken again. Copies
 * of delivered messages kept for the message log (the default) give way to mail.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createDeliveryQueue } from '../src/queue/delivery-queue.ts';
import { getDeadLetter } from '../src/store/dead-letters.ts';
import { startManagedRedis } from '../src/store/managed-redis.ts';
import { startTestMxhook } from './helpers/mxhook.ts';
import { sendLikeAnMta, type TryEnd } from './helpers/mta.ts';
import { spawnMxhook } from './helpers/process.ts';
import { startReceiver, type ReceivedPost } from './helpers/receiver.ts';

const MAXMEMORY = 40 * 1024 * 1024;
/** The fraction of maxmemory at which mxhook stops taking mail (its default; the env var overrides both). */
const WATERMARK = Number(process.env.MXHOOK_REDIS_MEMORY_HIGH ?? 0.9);
/** The share of maxmemory below which delivered messages are kept for the log (the default). */
const RAW_SHARE = 0.7;
const MESSAGE_BYTES = 100 * 1024;
/** More than fits: filling stops at the first refusal, or here when none ever comes. */
const MAX_FILL = Math.ceil((MAXMEMORY * 1.5) / MESSAGE_BYTES);
const SENDERS = 4;
/** Retry interval of the worker (the app is down meanwhile): after the app is back, every delivery is tried within it. */
const RETRY_INTERVAL = '3s-5s';
/**
 * Proving "not POSTed again" needs a window: longer than the lock duration (2 s, a stalled job's
 * re-run) and the retry interval (5 s), the periods after which a loop would re-POST.
 */
const QUIET_WINDOW_MS = 6_000;

const HOST = 'full.example';
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

function message(token: string): string {
  const lines = [`Message-ID: <${token}@origin.test>`, 'From: sender@origin.test', `To: inbox@${HOST}`, `Subject: full ${token}`, '', `token ${token}`];
  // Incompressible text, as mail bodies are to Redis (it stores bytes as given).
  const filler = randomBytes(Math.ceil((MESSAGE_BYTES * 3) / 4)).toString('base64');
  for (let i = 0; i < filler.length; i += 76) lines.push(filler.slice(i, i + 76));
  return `${lines.join('\r\n')}\r\n`;
}

/** A long list as its count and first few entries, so a failure message stays readable. */
const some = (list: string[]) => ({ count: list.length, first: list.slice(0, 10) });
const replyOf = (end: TryEnd) => (end.kind === 'reply' ? end.reply : `(no reply: ${end.error})`);

describe('Redis at maxmemory', () => {
  it('near full: 451 4.3.0 and /healthz degraded before Redis refuses; app back: each message POSTed once, memory falls, 250 again', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mxhook-full-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const redis = await startManagedRedis({ dir: path.join(dir, 'redis'), appendfsync: 'always', supervise: false });
    cleanups.push(() => redis.stop());
    const probe = await startTestMxhook(redis.socketPath, [], []);
    cleanups.push(() => probe.close());
    // The managed server already runs noeviction; this is its `--maxmemory 40mb`.
    await probe.redis.config('SET', 'maxmemory', String(MAXMEMORY));
    const memory = async () => {
      const info = await probe.redis.info('memory');
      const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)![1]);
      return { used: field('used_memory'), max: field('maxmemory') };
    };
    expect((await memory()).max).toBe(MAXMEMORY);
    /** Commands Redis refused for want of memory (INFO errorstats), from any client. */
    const oomErrors = async () => Number(/^errorstat_OOM:count=(\d+)/m.exec(await probe.redis.info('errorstats'))?.[1] ?? 0);

    let appUp = false;
    const answers = new Map<ReceivedPost, number>();
    let onAnswer: (() => void) | undefined;
    const app = await startReceiver((post) => {
      const status = appUp ? 200 : 503;
      answers.set(post, status);
      onAnswer?.();
      return { status };
    });
    cleanups.push(() => app.close());
    await probe.addRoute(HOST, app.url);

    const server = spawnMxhook(['start', '--redis-url', redis.socketPath, '--redis-prefix', probe.keys.prefix, '--data-dir', path.join(dir, 'data'),
      '--smtp-host', '127.0.0.1', '--smtp-port', '0', '--api-host', '127.0.0.1', '--api-port', '0', '--api-key', 'k', '--hostname', 'mx.test',
      '--auth-checks', 'false', '--worker-concurrency', '8', '--worker-lock-duration', '2s',
      '--retry-fast-interval', RETRY_INTERVAL, '--retry-slow-interval', RETRY_INTERVAL,
      // The app is down on purpose: no circuit cool-down delaying the recovery under test.
      '--breaker-threshold', '1000000',
      // Delivered messages are kept, as by default: they must give way, never hold mail off.
      '--raw-retention', '24h',
    ], process.env.MXHOOK_REDIS_MEMORY_HIGH ? { MXHOOK_REDIS_MEMORY_HIGH: process.env.MXHOOK_REDIS_MEMORY_HIGH } : {});
    cleanups.push(async () => server.proc.kill('SIGKILL'));
    const smtpPort = Number((await server.waitForLog((e) => e.event === 'smtp_listening', 30_000)).port);
    const apiPort = Number((await server.waitForLog((e) => e.event === 'api_listening', 30_000)).port);
    await server.waitForLog((e) => e.event === 'worker_started', 30_000);
    const send = (token: string) => sendLikeAnMta({ from: 'sender@origin.test', to: `inbox@${HOST}`, build: () => message(token) },
      { port: smtpPort, maxTries: 1, retryDelayMs: () => 0, replyTimeoutMs: 20_000 });
    const healthz = async () => {
      const res = await fetch(`http://127.0.0.1:${apiPort}/healthz`);
      return { status: res.status, body: await res.text() };
    };

    const t0 = Date.now();
    const at = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    // ---- fill while the app is down, until mxhook refuses ----
    const accepted = new Map<string, string>(); // message id -> token
    let refusal: { reply: string; memory: { used: number; max: number }; redisOomErrors: number } | undefined;
    let sent = 0;
    await Promise.all(Array.from({ length: SENDERS }, async () => {
      while (!refusal && sent < MAX_FILL) {
        sent++;
        const token = randomBytes(6).toString('hex');
        const result = await send(token);
        const queuedAs = result.tries[0].queuedAs;
        if (queuedAs) accepted.set(queuedAs, token);
        else if (!refusal) refusal = { reply: replyOf(result.final), memory: await memory(), redisOomErrors: await oomErrors() };
      }
    }));
    const peak = await memory();
    console.log(`full redis at ${at()}: ${accepted.size} accepted of ${sent} sent; first refusal ${JSON.stringify(refusal)}; used at the end of filling ${peak.used}`);
    expect(refusal, `no refusal in ${sent} messages of ${MESSAGE_BYTES} bytes into ${MAXMEMORY} bytes`).toBeDefined();
    expect(accepted.size, 'most of Redis was filled before the refusal').toBeGreaterThan((MAXMEMORY * (WATERMARK - 0.2)) / MESSAGE_BYTES);

    // ---- near full: what mxhook says ----
    expect.soft(refusal!.reply, 'near full, SMTP answers 451 with enhanced code 4.3.0').toMatch(/^451[ -]4\.3\.0/);
    expect.soft(refusal!.redisOomErrors, 'mxhook refused on its watermark before Redis refused any write (OOM errors so far)').toBe(0);
    expect.soft(refusal!.memory.used, 'and not far below the watermark').toBeGreaterThanOrEqual(MAXMEMORY * (WATERMARK - 0.05));
    const again = await send('still-full');
    if (again.tries[0].queuedAs) accepted.set(again.tries[0].queuedAs, 'still-full');
    expect.soft(replyOf(again.final), 'while still near full, new mail keeps getting 451 4.3.0').toMatch(/^451[ -]4\.3\.0/);
    const degraded = await healthz();
    expect.soft(degraded.body, '/healthz reports degraded while Redis is near full').toMatch(/degraded/i);
    const metricsText = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text();
    const memoryMetrics = [...new Set([...metricsText.matchAll(/^(mxhook_\w*memory\w*)/gm)].map((m) => m[1]))];
    expect.soft(memoryMetrics, '/metrics has an mxhook metric about Redis memory').not.toEqual([]);

    // ---- the app comes back ----
    const postsBeforeUp = app.posts.length;
    appUp = true;
    const delivered = () => new Set(app.posts.filter((p) => answers.get(p) === 200).map((p) => String(p.headers['x-mxhook-delivery-id'])));
    const notYet = () => [...accepted.keys()].filter((id) => !delivered().has(`${id}.1`));
    if (notYet().length) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 30_000);
        onAnswer = () => { if (!notYet().length) { clearTimeout(timer); resolve(); } };
      });
    }
    // Each one missing, with what became of it (a dead letter's reason, or the keys still stored).
    const whereabouts = await Promise.all(notYet().map(async (id) => {
      const dead = await getDeadLetter(probe.redis, probe.keys, `${id}.1`);
      return `${id}: ${dead ? `dead-lettered: ${dead.reason}` : `not dead-lettered, message keys stored: ${await probe.redis.exists(probe.keys.messageRaw(id), probe.keys.messageMeta(id))}`}`;
    }));
    expect.soft(some(whereabouts), 'every accepted message is POSTed (answered 200) within 30 s of the app coming back').toEqual(some([]));
    const bull = createDeliveryQueue(probe.redis, probe.keys);
    cleanups.push(() => bull.close());
    // Messages still held for delivery; copies kept for the message log (listed in its raw index) do not count.
    const left = async () => {
      const kept = new Set((await probe.redis.zrange(`${probe.keys.prefix}:log:raw`, 0, -1)).map((m) => m.slice(0, m.indexOf('|'))));
      const held = (await probe.redis.keys(`${probe.keys.prefix}:msg:*`)).filter((key) => !kept.has(key.split(':').at(-2)!));
      return { ...(await bull.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed')), messages: held.length };
    };
    const drained = { waiting: 0, active: 0, delayed: 0, prioritized: 0, failed: 0, messages: 0 };
    await expect.poll(left, { timeout: 15_000, interval: 250 }).toEqual(drained).catch(() => {});
    expect.soft(await left(), 'delivered messages are released from Redis (nothing left queued or stored)').toEqual(drained);
    const postsAtDrain = app.posts.length;
    console.log(`full redis at ${at()}: drained`);
    await new Promise((resolve) => setTimeout(resolve, QUIET_WINDOW_MS));

    const okPerDelivery = new Map<string, number>();
    for (const p of app.posts) {
      if (answers.get(p) !== 200) continue;
      const id = String(p.headers['x-mxhook-delivery-id']);
      okPerDelivery.set(id, (okPerDelivery.get(id) ?? 0) + 1);
    }
    const rePosted = [...okPerDelivery].filter(([, n]) => n > 1).map(([id, n]) => `${id}: ${n} POSTs answered 200`);
    console.log(`full redis at ${at()}: Redis OOM errors in all ${await oomErrors()}; POSTs while down ${postsBeforeUp}, after up ${app.posts.length - postsBeforeUp}, during the quiet window ${app.posts.length - postsAtDrain}, re-POSTed deliveries ${rePosted.length}`);
    expect.soft(some(rePosted), 'a POST answered 200 is never POSTed again').toEqual(some([]));
    expect.soft(app.posts.length - postsAtDrain, `POSTs in the ${QUIET_WINDOW_MS} ms after the queue drained`).toBe(0);

    const after = await memory();
    // Kept copies may fill up to MXHOOK_RAW_RETENTION_MEMORY (default 0.7), never up to the watermark.
    expect.soft(after.used, 'Redis memory falls below the raw-retention share once the deliveries are done').toBeLessThan(MAXMEMORY * RAW_SHARE);
    const healthy = await healthz();
    expect.soft({ status: healthy.status, degraded: /degraded/i.test(healthy.body) }, '/healthz is ok again').toEqual({ status: 200, degraded: false });
    const token = 'room-again';
    const back = await send(token);
    expect(replyOf(back.final), 'with space back, new mail gets 250').toMatch(/^250 /);
    await expect.poll(() => app.posts.some((p) => p.fields.subject === `full ${token}`), { timeout: 15_000, message: 'and it is delivered' }).toBe(true);
  }, 120_000);
});
