/**
 * What to do with a delivery, decided in one place from what a job run found: before its attempt
 * (is it still pending, is the message there, did workers die on it, is the route there, is the
 * destination's breaker open) and after it (the attempt's outcome, or an unexpected error). Pure:
 * the worker gathers the facts and carries out the answer.
 */
import type { DeliveryOutcome } from './outcome.ts';
import { nextRetry, type RetryPolicy } from './retry-policy.ts';

export type DeliveryDecision =
  /** Make the POST (only before an attempt). */
  | { readonly kind: 'attempt' }
  /** Delivered: release the delivery. */
  | { readonly kind: 'finish' }
  /** Try again after `delayMs`; the attempt is used. */
  | { readonly kind: 'retry'; readonly delayMs: number; readonly reason: string }
  /** The destination's breaker is open: run again at `untilMs` without using an attempt. */
  | { readonly kind: 'wait'; readonly untilMs: number }
  | { readonly kind: 'dead-letter'; readonly reason: string }
  /**
   * Nothing left to deliver: end the job without a POST (and log why). `ended`: the delivery had
   * ended before (a re-run after its finish), the normal case, not worth a warning.
   */
  | { readonly kind: 'drop'; readonly reason: string; readonly ended: boolean };

/** What went wrong in an attempt that did not come to an outcome (a bug, Redis, the disk). */
export interface UnexpectedError {
  readonly kind: 'error';
  readonly reason: string;
}

export interface DeliveryFacts {
  readonly now: number;
  /** The delivery id is still in its message's pending set (false: it ended before). */
  readonly pending: boolean;
  /** When the message was received; undefined when the message is gone. */
  readonly receivedAt: number | undefined;
  /** Attempt number of this run: attempts started, counting this one and runs whose worker died. */
  readonly attempt: number;
  /** Runs of this delivery whose worker died (the job stalled) before they ended. */
  readonly crashes: number;
  readonly maxCrashes: number;
  /** The route's retry policy (the server's when the route cannot be read). */
  readonly policy: RetryPolicy;
  /** false: the route was deleted. */
  readonly routeExists: boolean;
  /** The destination (origin) and its breaker's open-until time (0 or past: closed). */
  readonly destination?: { readonly origin: string; readonly openUntil: number } | undefined;
  /** Absent before the attempt; an unexpected error may come before it too (e.g. an unreadable route). */
  readonly result?: DeliveryOutcome | UnexpectedError | undefined;
  /** For the retry and breaker jitter; default Math.random. */
  readonly random?: () => number;
}

/** Spread of the wake-up after a breaker's cool-down, so waiting deliveries do not all probe at once. */
const WAIT_JITTER_MS = 1000;

export function decideDelivery(facts: DeliveryFacts): DeliveryDecision {
  const { receivedAt, result } = facts;
  if (!facts.pending) return { kind: 'drop', reason: 'the delivery already ended (delivered or dead-lettered)', ended: true };
  if (receivedAt === undefined) {
    return { kind: 'drop', reason: 'the message is gone (its TTL ran out, or it was removed as an orphan after its sender got 451)', ended: false };
  }
  if (result === undefined || result.kind === 'error') {
    // Checked on every run before an attempt: a message that kills workers never gets another.
    if (facts.crashes >= facts.maxCrashes) {
      return { kind: 'dead-letter', reason: `worker died ${facts.crashes} times while delivering (the message may crash workers: check its size and content)` };
    }
  }
  if (result !== undefined) return afterAttempt(facts, receivedAt, result);
  if (!facts.routeExists) return { kind: 'dead-letter', reason: 'route deleted before delivery' };
  const destination = facts.destination;
  if (destination && destination.openUntil > facts.now) {
    if (destination.openUntil - receivedAt > facts.policy.maxAgeMs) {
      return { kind: 'dead-letter', reason: `gave up after ${facts.attempt - 1} attempts: ${destination.origin} unavailable (circuit open past the retry window)` };
    }
    return { kind: 'wait', untilMs: destination.openUntil + Math.round((facts.random ?? Math.random)() * WAIT_JITTER_MS) };
  }
  return { kind: 'attempt' };
}

function afterAttempt(facts: DeliveryFacts, receivedAt: number, result: DeliveryOutcome | UnexpectedError): DeliveryDecision {
  if (result.kind === 'delivered') return { kind: 'finish' };
  if (result.kind === 'permanent') return { kind: 'dead-letter', reason: result.reason };
  // Retryable failures and unexpected errors alike follow the route's retry window.
  const reason = result.kind === 'error' ? `unexpected error: ${result.reason}` : result.reason;
  const next = nextRetry(facts.policy, {
    receivedAt, now: facts.now,
    ...(result.kind === 'retry' && result.retryAfterMs !== undefined ? { retryAfterMs: result.retryAfterMs } : {}),
    ...(facts.random ? { random: facts.random } : {}),
  });
  if (!next.retry) return { kind: 'dead-letter', reason: `gave up after ${facts.attempt} attempts: ${reason}` };
  return { kind: 'retry', delayMs: next.delayMs, reason };
}

/**
 * The wait before a job runs again after a failure nothing could decide on (Redis unreachable or
 * full while carrying out a decision): the policy's next interval, even past the retry window (the
 * next run decides to dead-letter then; the delivery must not be lost meanwhile).
 */
export function fallbackRetryDelay(policy: RetryPolicy, receivedAt: number, now: number, random: () => number = Math.random): number {
  const next = nextRetry(policy, { receivedAt, now, random });
  const [min, max] = policy.fastIntervalMs;
  return next.retry ? next.delayMs : min + Math.round((max - min) * random());
}
