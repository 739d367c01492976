/**
 * The overview's per-minute figures against a real redis-server: written by the log's own scripts
 * (accept, state, attempt), read back and folded; bounded per minute; refusals counted in batches.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import type { MessageRecord } from '../src/domain/message-log.ts';
import { latencyBucket } from '../src/domain/overview.ts';
import { readOverview } from '../src/services/overview.ts';
import { createKeySpace, type KeySpace } from '../src/store/keys.ts';
import { logAccepted, logAttempt, logDeliveryState, logKeys, MINUTE_FIGURES_TTL_S } from '../src/store/message-log.ts';
import { readRefusals } from '../src/store/message-log-retention.ts';
import { execOrThrow } from '../src/store/messages.ts';
import { readMinuteFigures } from '../src/store/overview-figures.ts';
import { createRefusalCounter } from '../src/store/refusal-counter.ts';
import { createRedis } from '../src/store/redis.ts';
import { redisPerFile } from './helpers/suite.ts';

const suite = redisPerFile();
let redis: Redis;
beforeAll(() => {
  redis = createRedis(suite.redis.socketPath, 'patient', 'test-figures', true);
  suite.afterwards(async () => redis.disconnect());
});

const freshKeys = () => createKeySpace(`t${randomBytes(4).toString('hex')}`);
const options = { retentionMs: 3 * 86_400_000, maxRecords: 1000 };
/** A minute boundary, so the test's times fall in known minutes. */
const T0 = 29_400_000 * 60_000;
const SLOT = T0 / 60_000;
const record = (id: string, receivedAt: number, hostnames: string[] = ['in.example'], over: Partial<MessageRecord> = {}): MessageRecord => ({
  id, receivedAt, clientIp: '192.0.2.1', helo: 'mx.sender.org', mailFrom: 'a@sender.org',
  recipients: Object.fromEntries(hostnames.map((h) => [h, [`x@${h}`]])), size: 100, ...over,
});
async function step(build: (m: ReturnType<Redis['multi']>) => void): Promise<void> {
  const multi = redis.multi();
  build(multi);
  await execOrThrow(multi);
}
const attempt = (at: number, outcome: 'delivered' | 'retry' | 'permanent') => ({ at, durationMs: 40, outcome, status: outcome === 'delivered' ? 200 : 503, bytesSent: 10 });

describe('per-minute figures', () => {
  it('counts mail in, deliveries with their latency and failed attempts per route, in the minute they happened', async () => {
    const keys = freshKeys();
    await step((m) => {
      logAccepted(m, keys, options, record('m1', T0 + 1_000, ['ok.example', 'bad.example']));
      logAccepted(m, keys, options, record('m2', T0 + 2_000));
      // a replay is not mail in
      logAccepted(m, keys, options, record('m3', T0 + 3_000, ['ok.example'], { replayOf: 'm1.1' }));
    });
    await step((m) => {
      logDeliveryState(m, keys, 'm1.1', 'ok.example', T0 + 1_000, { kind: 'attempt-started' }, T0 + 1_100);
      logAttempt(m, keys, 'm1.1', 'ok.example', attempt(T0 + 1_100, 'delivered'));
      logDeliveryState(m, keys, 'm1.1', 'ok.example', T0 + 1_000, { kind: 'delivered' }, T0 + 1_250);
      logAttempt(m, keys, 'm1.2', 'bad.example', attempt(T0 + 1_100, 'retry'));
      logDeliveryState(m, keys, 'm1.2', 'bad.example', T0 + 1_000, { kind: 'retry-scheduled', nextAttemptAt: T0 + 70_000 }, T0 + 1_200);
      // the next minute: bad.example fails again, in.example is delivered 62 s after receipt
      logAttempt(m, keys, 'm1.2', 'bad.example', attempt(T0 + 70_000, 'permanent'));
      logDeliveryState(m, keys, 'm1.2', 'bad.example', T0 + 1_000, { kind: 'dead-lettered' }, T0 + 70_100);
      logDeliveryState(m, keys, 'm2.1', 'in.example', T0 + 2_000, { kind: 'delivered' }, T0 + 64_000);
      // a repeated delivered write (a job run twice) is not counted twice
      logDeliveryState(m, keys, 'm2.1', 'in.example', T0 + 2_000, { kind: 'delivered' }, T0 + 64_500);
    });
    const k = logKeys(keys);
    expect(await redis.hgetall(k.minute(SLOT))).toEqual({
      r: '2', d: '1', f: '1', [`l.${latencyBucket(250)}`]: '1', 'hd.ok.example': '1', 'hf.bad.example': '1', 'n.hd.': '1', 'n.hf.': '1',
    });
    expect(await redis.hgetall(k.minute(SLOT + 1))).toEqual({
      d: '1', f: '1', [`l.${latencyBucket(62_000)}`]: '1', 'hd.in.example': '1', 'hf.bad.example': '1', 'n.hd.': '1', 'n.hf.': '1',
    });
    const ttl = await redis.ttl(k.minute(SLOT));
    expect(ttl).toBeGreaterThan(MINUTE_FIGURES_TTL_S - 60);
    expect(ttl).toBeLessThanOrEqual(MINUTE_FIGURES_TTL_S);

    const minutes = await readMinuteFigures(redis, keys, SLOT - 5, SLOT + 5);
    expect(minutes.map((m) => m.slot)).toEqual([SLOT, SLOT + 1]);
    const answer = await readOverview(redis, keys, { minutes: 3, now: T0 + 90_000, queueCounts: async () => ({ waiting: 0, delayed: 1 }) });
    expect(answer.minutes.map((m) => [m.t, m.received, m.delivered, m.failed])).toEqual([
      [(SLOT - 1) * 60, 0, 0, 0], [SLOT * 60, 2, 1, 1], [(SLOT + 1) * 60, 0, 1, 1],
    ]);
    expect(answer.latency_ms.p50).toBeGreaterThan(150);
    expect(answer.latency_ms.p50).toBeLessThan(350);
    expect(answer.latency_ms.p99).toBeGreaterThan(45_000);
    expect(answer.latency_ms.p99).toBeLessThan(85_000);
    expect(answer.routes).toEqual([
      { hostname: 'bad.example', delivered: 0, failed: 2, error_rate: 1 },
      { hostname: 'in.example', delivered: 1, failed: 0, error_rate: 0 },
      { hostname: 'ok.example', delivered: 1, failed: 0, error_rate: 0 },
    ]);
    expect(answer.queue).toEqual({ waiting: 0, delayed: 1 });
  });

  it('keeps a minute bounded: past the cap of hostnames, new ones count as *', async () => {
    const keys = freshKeys();
    await step((m) => logAccepted(m, keys, options, record('big', T0)));
    const pipe = redis.pipeline();
    for (let i = 0; i < 1500; i++) logAttempt(pipe, keys, 'big.1', `h${i}.example`, attempt(T0 + 1_000, 'retry'));
    await pipe.exec();
    const k = logKeys(keys);
    const fields = await redis.hgetall(k.minute(SLOT));
    const hostnames = Object.keys(fields).filter((f) => f.startsWith('hf.'));
    expect(hostnames.length).toBe(1000 + 1);
    expect(Number(fields['hf.*'])).toBe(500);
    expect(fields.f).toBe('1500');
    const bytes = Number(await redis.memory('USAGE', k.minute(SLOT)));
    console.log(`overview figures: a minute with ${hostnames.length - 1} hostnames + * takes ${bytes} bytes`);
    expect(bytes).toBeLessThan(200_000);
  });

  it('measures a typical minute: 20 routes, a spread of latencies', async () => {
    const keys = freshKeys();
    const hostnames = Array.from({ length: 20 }, (_, i) => `parse${i}.example.com`);
    await step((m) => {
      for (let i = 0; i < 400; i++) logAccepted(m, keys, options, record(`t${i}`, T0 + i, [hostnames[i % 20]]));
    });
    await step((m) => {
      for (let i = 0; i < 400; i++) {
        if (i % 10 === 0) logAttempt(m, keys, `t${i}.1`, hostnames[i % 20], attempt(T0 + 500, 'retry'));
        logDeliveryState(m, keys, `t${i}.1`, hostnames[i % 20], T0 + i, { kind: 'delivered' }, T0 + i + 20 + (i % 50) * 97);
      }
    });
    const k = logKeys(keys);
    const fields = await redis.hlen(k.minute(SLOT));
    const bytes = Number(await redis.memory('USAGE', k.minute(SLOT)));
    console.log(`overview figures: a typical minute (20 routes, ${fields} fields) takes ${bytes} bytes; 130 minutes kept: ${Math.round((bytes * 130) / 1024)} KiB`);
    expect(bytes).toBeLessThan(8_000);
  });
});

describe('refusal counter', () => {
  it('counts refusals in memory and writes them in one batch, bounded', async () => {
    const keys = freshKeys();
    const counter = createRefusalCounter(redis, keys, { intervalMs: 60_000 });
    const started = Date.now();
    counter.count('RELAY_DENIED', 'spam.example');
    counter.count('RELAY_DENIED', 'spam.example');
    counter.count('TOO_MANY_CLIENTS', undefined);
    expect(await readRefusals(redis, keys, 'm', started, Date.now())).toEqual({});
    await counter.flush();
    expect(await readRefusals(redis, keys, 'm', started - 60_000, Date.now())).toEqual({ 'RELAY_DENIED|spam.example': 2, 'TOO_MANY_CLIENTS|': 1 });
    for (let i = 0; i < 1200; i++) counter.count('RELAY_DENIED', `h${i}.example`);
    await counter.stop();
    const totals = await readRefusals(redis, keys, 'm', started - 60_000, Date.now());
    // 1,000 pairs held in memory, and Redis's own cap of 1,000 fields a minute (2 taken before)
    expect(totals['RELAY_DENIED|*']).toBe(202);
    expect(Object.keys(totals).length).toBeLessThanOrEqual(1001);
    expect(Object.values(totals).reduce((a, b) => a + b, 0)).toBe(1203);
  });
});
