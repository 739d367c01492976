/**
 * The overview's per-minute figures against a real redis-server: counted in memory and added to
 * Redis in one script per minute (store/minute-figures.ts), read back and folded; bounded per
 * minute; refusals counted in batches.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { latencyBucket } from '../src/domain/overview.ts';
import { readOverview } from '../src/services/overview.ts';
import { createKeySpace, type KeySpace } from '../src/store/keys.ts';
import { logKeys, MINUTE_FIGURES_TTL_S } from '../src/store/message-log.ts';
import { createMinuteFigures } from '../src/store/minute-figures.ts';
import { readRefusals } from '../src/store/message-log-retention.ts';
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
/** A minute boundary, so the test's times fall in known minutes. */
const T0 = 29_400_000 * 60_000;
const SLOT = T0 / 60_000;
describe('per-minute figures', () => {
  it('counts mail in, deliveries with their latency and failed attempts per route, in the minute they happened', async () => {
    const keys = freshKeys();
    const figures = createMinuteFigures(redis, keys, { intervalMs: 60_000 });
    figures.received(T0 + 1_000);
    figures.received(T0 + 2_000);
    figures.delivered(T0 + 1_250, 'ok.example', 250);
    figures.failed(T0 + 1_140, 'bad.example');
    // the next minute: bad.example fails again, in.example is delivered 62 s after receipt
    figures.failed(T0 + 70_040, 'bad.example');
    figures.delivered(T0 + 64_000, 'in.example', 62_000);
    const k = logKeys(keys);
    expect(await redis.exists(k.minute(SLOT))).toBe(0); // held until the flush
    await figures.stop();
    expect(await redis.hgetall(k.minute(SLOT))).toEqual({
      r: '2', d: '1', f: '1', [`l.${latencyBucket(250)}`]: '1', 'hd.ok.example': '1', 'hf.bad.example': '1', 'n.hd.': '1', 'n.hf.': '1',
    });
    expect(await redis.hgetall(k.minute(SLOT + 1))).toEqual({
      d: '1', f: '1', [`l.${latencyBucket(62_000)}`]: '1', 'hd.in.example': '1', 'hf.bad.example': '1', 'n.hd.': '1', 'n.hf.': '1',
    });
    const ttl = await redis.ttl(k.minute(SLOT));
    expect(ttl).toBeGreaterThan(MINUTE_FIGURES_TTL_S - 60);
    expect(ttl).toBeLessThanOrEqual(MINUTE_FIGURES_TTL_S);
    // A second flush adds to what is there.
    const again = createMinuteFigures(redis, keys, { intervalMs: 60_000 });
    again.received(T0 + 5_000);
    await again.stop();
    expect(await redis.hget(k.minute(SLOT), 'r')).toBe('3');

    const minutes = await readMinuteFigures(redis, keys, SLOT - 5, SLOT + 5);
    expect(minutes.map((m) => m.slot)).toEqual([SLOT, SLOT + 1]);
    const answer = await readOverview(redis, keys, { minutes: 3, now: T0 + 90_000, queueCounts: async () => ({ waiting: 0, delayed: 1 }) });
    expect(answer.minutes.map((m) => [m.t, m.received, m.delivered, m.failed])).toEqual([
      [(SLOT - 1) * 60, 0, 0, 0], [SLOT * 60, 3, 1, 1], [(SLOT + 1) * 60, 0, 1, 1],
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

  it('keeps a minute bounded: past the cap of hostnames, new ones count as *, also across flushes', async () => {
    const keys = freshKeys();
    const k = logKeys(keys);
    for (const [from, to] of [[0, 700], [700, 1500]]) {
      const figures = createMinuteFigures(redis, keys, { intervalMs: 60_000 });
      for (let i = from; i < to; i++) figures.failed(T0 + 1_000, `h${i}.example`);
      await figures.stop();
    }
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
    const figures = createMinuteFigures(redis, keys, { intervalMs: 60_000 });
    for (let i = 0; i < 400; i++) {
      figures.received(T0 + i);
      if (i % 10 === 0) figures.failed(T0 + 500, hostnames[i % 20]);
      figures.delivered(T0 + i + 20 + (i % 50) * 97, hostnames[i % 20], 20 + (i % 50) * 97);
    }
    await figures.stop();
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
