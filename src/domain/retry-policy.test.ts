import { describe, expect, it } from 'vitest';
import { nextRetry, type RetryPolicy } from './retry-policy.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.parse('2026-03-10T12:00:00Z');

/** SendGrid's schedule: 5-10 min for the first hour, then 2-3 h, for 72 h. */
const sendgrid: RetryPolicy = {
  fastIntervalMs: [5 * MIN, 10 * MIN],
  fastPhaseMs: HOUR,
  slowIntervalMs: [2 * HOUR, 3 * HOUR],
  maxAgeMs: 72 * HOUR,
};

const at = (ageMs: number, random: number, retryAfterMs?: number) =>
  nextRetry(sendgrid, { receivedAt: T0, now: T0 + ageMs, random: () => random, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });

/** Deterministic PRNG (mulberry32) so the simulation is reproducible. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('nextRetry: interval and jitter', () => {
  it('uses the fast interval within the first phase', () => {
    expect(at(0, 0)).toEqual({ retry: true, delayMs: 5 * MIN });
    expect(at(0, 1)).toEqual({ retry: true, delayMs: 10 * MIN });
    expect(at(30 * MIN, 0.5)).toEqual({ retry: true, delayMs: 7.5 * MIN });
    expect(at(HOUR - 1, 0)).toEqual({ retry: true, delayMs: 5 * MIN });
  });

  it('uses the slow interval once the first phase is over', () => {
    expect(at(HOUR, 0)).toEqual({ retry: true, delayMs: 2 * HOUR });
    expect(at(5 * HOUR, 1)).toEqual({ retry: true, delayMs: 3 * HOUR });
    expect(at(5 * HOUR, 0.25)).toEqual({ retry: true, delayMs: 2.25 * HOUR });
  });

  it('keeps the delay within [min, max] with the default random source', () => {
    for (let i = 0; i < 200; i++) {
      const decision = nextRetry(sendgrid, { receivedAt: T0, now: T0 + 10 * MIN });
      expect(decision.retry).toBe(true);
      if (!decision.retry) return;
      expect(decision.delayMs).toBeGreaterThanOrEqual(5 * MIN);
      expect(decision.delayMs).toBeLessThanOrEqual(10 * MIN);
    }
  });

  it('gives a whole number of milliseconds', () => {
    const decision = at(0, 0.123456789);
    expect(decision.retry && Number.isInteger(decision.delayMs)).toBe(true);
  });

  it('gives a fixed delay for a fixed interval', () => {
    const fixed: RetryPolicy = { ...sendgrid, fastIntervalMs: [MIN, MIN] };
    expect(nextRetry(fixed, { receivedAt: T0, now: T0, random: () => 0.9 })).toEqual({ retry: true, delayMs: MIN });
  });
});

describe('nextRetry: Retry-After', () => {
  it('waits for a Retry-After longer than the interval', () => {
    expect(at(0, 0, 30 * MIN)).toEqual({ retry: true, delayMs: 30 * MIN });
    expect(at(2 * HOUR, 0, 5 * HOUR)).toEqual({ retry: true, delayMs: 5 * HOUR });
  });

  it('keeps the interval when Retry-After is shorter', () => {
    expect(at(0, 0, 1000)).toEqual({ retry: true, delayMs: 5 * MIN });
    expect(at(0, 0, 0)).toEqual({ retry: true, delayMs: 5 * MIN });
  });

  it('stops when Retry-After would take the next attempt past the max age', () => {
    expect(at(70 * HOUR, 0, 3 * HOUR)).toEqual({ retry: false });
  });
});

describe('nextRetry: max age', () => {
  it('still retries when the next attempt lands exactly on the max age', () => {
    expect(at(70 * HOUR, 0)).toEqual({ retry: true, delayMs: 2 * HOUR });
  });

  it('stops once age + delay would pass the max age', () => {
    expect(at(70 * HOUR + 1, 0)).toEqual({ retry: false });
    expect(at(71 * HOUR, 0)).toEqual({ retry: false });
    expect(at(72 * HOUR, 0)).toEqual({ retry: false });
    expect(at(100 * HOUR, 0)).toEqual({ retry: false });
  });

  it('stops in the fast phase too when the max age is short', () => {
    const short: RetryPolicy = { ...sendgrid, maxAgeMs: 12 * MIN };
    expect(nextRetry(short, { receivedAt: T0, now: T0, random: () => 0 })).toEqual({ retry: true, delayMs: 5 * MIN });
    expect(nextRetry(short, { receivedAt: T0, now: T0 + 5 * MIN, random: () => 0 })).toEqual({ retry: true, delayMs: 5 * MIN });
    expect(nextRetry(short, { receivedAt: T0, now: T0 + 10 * MIN, random: () => 0 })).toEqual({ retry: false });
  });
});

describe('nextRetry: the SendGrid schedule, simulated from receipt', () => {
  /** First attempt at receipt; every attempt fails; returns the attempt times (ms after receipt). */
  function simulate(random: () => number): number[] {
    const times = [0];
    for (let guard = 0; guard < 1000; guard++) {
      const now = T0 + times[times.length - 1];
      const decision = nextRetry(sendgrid, { receivedAt: T0, now, random });
      if (!decision.retry) return times;
      times.push(now + decision.delayMs - T0);
    }
    throw new Error('never stopped');
  }

  it.each([1, 2, 3, 42, 1234, 99_999])('seed %d: 6-12 attempts in the first hour, 25-45 in all, none after 72 h', (seed) => {
    const times = simulate(seeded(seed));
    const fast = times.filter((t) => t < HOUR).length;
    expect(fast).toBeGreaterThanOrEqual(6);
    expect(fast).toBeLessThanOrEqual(12);
    expect(times.length).toBeGreaterThanOrEqual(25);
    expect(times.length).toBeLessThanOrEqual(45);
    expect(times[times.length - 1]).toBeLessThanOrEqual(72 * HOUR);
    // The last attempt is the last one that fits: even the longest slow wait (3 h) would pass 72 h.
    expect(times[times.length - 1]).toBeGreaterThan(69 * HOUR);
  });

  it('spaces attempts 5-10 min apart in the first hour and 2-3 h apart after it', () => {
    const times = simulate(seeded(7));
    for (let i = 1; i < times.length; i++) {
      const gap = times[i] - times[i - 1];
      if (times[i - 1] < HOUR) {
        expect(gap).toBeGreaterThanOrEqual(5 * MIN);
        expect(gap).toBeLessThanOrEqual(10 * MIN);
      } else {
        expect(gap).toBeGreaterThanOrEqual(2 * HOUR);
        expect(gap).toBeLessThanOrEqual(3 * HOUR);
      }
    }
  });

  it('with mid-range jitter: 8 attempts in the first hour and 37 in all', () => {
    const times = simulate(() => 0.5);
    expect(times.filter((t) => t < HOUR)).toEqual([0, 7.5, 15, 22.5, 30, 37.5, 45, 52.5].map((m) => m * MIN));
    expect(times).toHaveLength(37);
  });
});
