import { describe, expect, it } from 'vitest';
import { decideDelivery, fallbackRetryDelay, type DeliveryFacts } from './delivery-decision.ts';
import type { RetryPolicy } from './retry-policy.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.parse('2026-03-10T12:00:00Z');
const policy: RetryPolicy = { fastIntervalMs: [5 * MIN, 10 * MIN], fastPhaseMs: HOUR, slowIntervalMs: [2 * HOUR, 3 * HOUR], maxAgeMs: 72 * HOUR };

/** A first run, five minutes after receipt, of a pending delivery whose route and breaker are fine. */
const facts = (over: Partial<DeliveryFacts> = {}): DeliveryFacts => ({
  now: T0 + 5 * MIN, pending: true, receivedAt: T0, attempt: 1, crashes: 0, maxCrashes: 3, policy, routeExists: true,
  destination: { origin: 'https://app.test', openUntil: 0 }, random: () => 0, ...over,
});

describe('before the attempt', () => {
  it('attempts a pending delivery with its message, route and a closed breaker', () => {
    expect(decideDelivery(facts())).toEqual({ kind: 'attempt' });
  });

  it('drops a delivery that already ended, quietly, even if workers died on it or its route is gone', () => {
    expect(decideDelivery(facts({ pending: false, crashes: 9, routeExists: false }))).toEqual({ kind: 'drop', ended: true, reason: expect.stringMatching(/already ended/) });
  });

  it('drops, with a reason to log, a delivery whose message is gone', () => {
    expect(decideDelivery(facts({ receivedAt: undefined }))).toEqual({ kind: 'drop', ended: false, reason: expect.stringMatching(/message is gone.*TTL.*451/) });
  });

  it('dead-letters, without attempting, once workers died maxCrashes times on the delivery', () => {
    expect(decideDelivery(facts({ crashes: 2 }))).toEqual({ kind: 'attempt' });
    expect(decideDelivery(facts({ crashes: 3, attempt: 4 }))).toEqual({ kind: 'dead-letter', reason: expect.stringMatching(/^worker died 3 times while delivering/) });
  });

  it('dead-letters a delivery whose route was deleted', () => {
    expect(decideDelivery(facts({ routeExists: false, destination: undefined }))).toEqual({ kind: 'dead-letter', reason: 'route deleted before delivery' });
  });

  it('waits out an open breaker without an attempt, with up to 1 s of jitter', () => {
    const openUntil = T0 + 10 * MIN;
    expect(decideDelivery(facts({ destination: { origin: 'https://app.test', openUntil } }))).toEqual({ kind: 'wait', untilMs: openUntil });
    expect(decideDelivery(facts({ destination: { origin: 'https://app.test', openUntil }, random: () => 1 }))).toEqual({ kind: 'wait', untilMs: openUntil + 1000 });
  });

  it('dead-letters when the breaker stays open past the retry window', () => {
    const decision = decideDelivery(facts({ attempt: 6, destination: { origin: 'https://app.test', openUntil: T0 + 73 * HOUR } }));
    expect(decision).toEqual({ kind: 'dead-letter', reason: 'gave up after 5 attempts: https://app.test unavailable (circuit open past the retry window)' });
  });

  it('an error before the attempt (an unreadable route) follows the retry window', () => {
    expect(decideDelivery(facts({ result: { kind: 'error', reason: 'Unexpected token' } }))).toEqual({ kind: 'retry', delayMs: 5 * MIN, reason: 'unexpected error: Unexpected token' });
  });
});

describe('after the attempt', () => {
  it('a delivered attempt finishes', () => {
    expect(decideDelivery(facts({ result: { kind: 'delivered', status: 200 } }))).toEqual({ kind: 'finish' });
  });

  it('a permanent failure is dead-lettered with its reason', () => {
    expect(decideDelivery(facts({ result: { kind: 'permanent', reason: 'HTTP 400: nope' } }))).toEqual({ kind: 'dead-letter', reason: 'HTTP 400: nope' });
  });

  it('a retryable failure is retried on the schedule, honouring a longer Retry-After', () => {
    expect(decideDelivery(facts({ result: { kind: 'retry', reason: 'HTTP 503' } }))).toEqual({ kind: 'retry', delayMs: 5 * MIN, reason: 'HTTP 503' });
    expect(decideDelivery(facts({ result: { kind: 'retry', reason: 'HTTP 429', retryAfterMs: 20 * MIN } }))).toMatchObject({ kind: 'retry', delayMs: 20 * MIN });
  });

  it('a retryable failure past the retry window is dead-lettered, counting the attempts', () => {
    expect(decideDelivery(facts({ now: T0 + 71.99 * HOUR, attempt: 30, result: { kind: 'retry', reason: 'HTTP 503' } })))
      .toEqual({ kind: 'dead-letter', reason: 'gave up after 30 attempts: HTTP 503' });
  });

  it('an unexpected error follows the route\'s retry window too, then is dead-lettered with its reason', () => {
    const short = { ...policy, maxAgeMs: 6 * MIN };
    expect(decideDelivery(facts({ now: T0, policy: short, result: { kind: 'error', reason: 'EACCES: spool' } }))).toEqual({ kind: 'retry', delayMs: 5 * MIN, reason: 'unexpected error: EACCES: spool' });
    expect(decideDelivery(facts({ now: T0 + 2 * MIN, attempt: 2, policy: short, result: { kind: 'error', reason: 'EACCES: spool' } })))
      .toEqual({ kind: 'dead-letter', reason: 'gave up after 2 attempts: unexpected error: EACCES: spool' });
  });

  it('the crash limit also stops an error from being retried', () => {
    expect(decideDelivery(facts({ crashes: 3, result: { kind: 'error', reason: 'x' } }))).toMatchObject({ kind: 'dead-letter', reason: expect.stringMatching(/^worker died 3 times/) });
  });
});

describe('fallbackRetryDelay', () => {
  it('is the schedule inside the window and the fast interval past it (the next run decides then)', () => {
    expect(fallbackRetryDelay(policy, T0, T0 + 2 * HOUR, () => 0)).toBe(2 * HOUR);
    expect(fallbackRetryDelay(policy, T0, T0 + 80 * HOUR, () => 1)).toBe(10 * MIN);
  });
});
