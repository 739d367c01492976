import { describe, expect, it } from 'vitest';
import { decodeMinute, foldOverview, LATENCY_LAST_BUCKET, latencyBucket, latencyBucketBounds, percentileFromHistogram } from './overview.ts';

describe('latency buckets', () => {
  it('puts a time in the log-scale bucket whose bounds hold it', () => {
    for (const ms of [0, 0.5, 1, 1.2, 7, 10, 99, 100, 101, 1000, 2500, 60_000, 3_600_000, 72 * 3_600_000]) {
      const [lower, upper] = latencyBucketBounds(latencyBucket(ms));
      expect(ms, `${ms} ms in bucket ${latencyBucket(ms)}`).toBeLessThanOrEqual(upper * (1 + 1e-9));
      if (ms > 1) expect(ms).toBeGreaterThan(lower);
    }
    expect(latencyBucket(10)).toBe(8);
    expect(latencyBucket(1000)).toBe(24);
    expect(latencyBucket(1001)).toBe(25);
  });

  it('has a last bucket for anything longer, and bucket 0 for nonsense', () => {
    expect(latencyBucket(1e12)).toBe(LATENCY_LAST_BUCKET);
    expect(latencyBucket(-5)).toBe(0);
    expect(latencyBucket(Number.NaN)).toBe(0);
  });
});

describe('percentiles from a histogram', () => {
  it('is null when nothing was delivered', () => {
    expect(percentileFromHistogram({}, 0.5)).toBeNull();
    expect(percentileFromHistogram({ 3: 0 }, 0.5)).toBeNull();
  });

  it('lands within a bucket of the true percentile', () => {
    const times = Array.from({ length: 1000 }, (_, i) => 5 + i * 3); // 5 .. 3002 ms
    const histogram: Record<number, number> = {};
    for (const t of times) histogram[latencyBucket(t)] = (histogram[latencyBucket(t)] ?? 0) + 1;
    const p50 = percentileFromHistogram(histogram, 0.5)!;
    const p99 = percentileFromHistogram(histogram, 0.99)!;
    expect(p50 / times[499]).toBeGreaterThan(1 / 1.34);
    expect(p50 / times[499]).toBeLessThan(1.34);
    expect(p99 / times[989]).toBeGreaterThan(1 / 1.34);
    expect(p99 / times[989]).toBeLessThan(1.34);
    expect(p99).toBeGreaterThan(p50);
  });

  it('one slow delivery in a hundred shows in p99, not p50', () => {
    const histogram = { [latencyBucket(20)]: 99, [latencyBucket(60_000)]: 1 };
    expect(percentileFromHistogram(histogram, 0.5)).toBeLessThan(30);
    expect(percentileFromHistogram(histogram, 0.99)).toBeLessThan(30);
    expect(percentileFromHistogram(histogram, 0.999)).toBeGreaterThan(40_000);
  });
});

describe('folding minutes into the overview', () => {
  const minute = (slot: number, fields: Record<string, string>) => decodeMinute(slot, fields);

  it('reads a minute hash, per route and per latency bucket', () => {
    const m = minute(7, { r: '3', d: '2', f: '1', 'l.8': '2', 'hd.a.example': '2', 'hf.b.example': '1', 'hf.a.example': '0' });
    expect(m).toEqual({ slot: 7, received: 3, delivered: 2, failed: 1, latency: { 8: 2 }, routes: { 'a.example': { delivered: 2, failed: 0 }, 'b.example': { delivered: 0, failed: 1 } } });
    expect(minute(8, {})).toMatchObject({ received: 0, delivered: 0, failed: 0, latency: {}, routes: {} });
  });

  it('gives every minute of the window, oldest first, with zeros where nothing happened', () => {
    const answer = foldOverview({
      window: 3, lastSlot: 100, queue: { waiting: 1 }, refusals: {},
      minutes: [minute(100, { r: '2' }), minute(98, { r: '1', d: '1', 'l.10': '1' }), minute(50, { r: '9' })],
    });
    expect(answer.minutes).toEqual([
      { t: 98 * 60, received: 1, delivered: 1, failed: 0 },
      { t: 99 * 60, received: 0, delivered: 0, failed: 0 },
      { t: 100 * 60, received: 2, delivered: 0, failed: 0 },
    ]);
    expect(answer.window_minutes).toBe(3);
    expect(answer.queue).toEqual({ waiting: 1 });
    expect(answer.latency_ms.p50).toBeGreaterThan(10);
    expect(answer.latency_ms.p50).toBeLessThanOrEqual(20);
  });

  it('sums routes over the window, worst error rate first, and splits refusal fields', () => {
    const answer = foldOverview({
      window: 2, lastSlot: 2, queue: {},
      minutes: [minute(1, { 'hd.ok.example': '4', 'hf.bad.example': '1' }), minute(2, { 'hd.bad.example': '1', 'hf.bad.example': '2', 'hd.ok.example': '1' })],
      refusals: { 'RELAY_DENIED|spam.example': 2, 'TOO_MANY_CLIENTS|': 5, 'RELAY_DENIED|*': 1 },
    });
    expect(answer.routes).toEqual([
      { hostname: 'bad.example', delivered: 1, failed: 3, error_rate: 0.75 },
      { hostname: 'ok.example', delivered: 5, failed: 0, error_rate: 0 },
    ]);
    expect(answer.refusals).toEqual([
      { reason: 'TOO_MANY_CLIENTS', hostname: '', count: 5 },
      { reason: 'RELAY_DENIED', hostname: 'spam.example', count: 2 },
      { reason: 'RELAY_DENIED', hostname: '*', count: 1 },
    ]);
    expect(answer.latency_ms).toEqual({ p50: null, p99: null });
  });
});
