/**
 * When to try a failed delivery again. SendGrid retries 5xx for 72 h: every 5-10 minutes in the
 * first hour, then about every 3 hours. Pure: the caller passes the clock and the random source.
 */

export interface RetryPolicy {
  /** Wait between attempts in the fast phase, [min, max] ms. Default 5-10 minutes. */
  readonly fastIntervalMs: readonly [number, number];
  /** Length of the fast phase, measured from receipt. Default 1 hour. */
  readonly fastPhaseMs: number;
  /** Wait between attempts after the fast phase, [min, max] ms. Default 2-3 hours. */
  readonly slowIntervalMs: readonly [number, number];
  /** No attempt is scheduled later than this after receipt; the delivery is dead-lettered instead. Default 72 hours. */
  readonly maxAgeMs: number;
}

export type RetryDecision = { readonly retry: true; readonly delayMs: number } | { readonly retry: false };

/**
 * The wait before the next attempt, or `retry: false` once the policy's max age would be passed.
 * `retryAfterMs` (from the app's Retry-After header) is honoured when it asks for a longer wait.
 */
export function nextRetry(
  policy: RetryPolicy,
  input: { receivedAt: number; now: number; retryAfterMs?: number; random?: () => number },
): RetryDecision {
  const age = input.now - input.receivedAt;
  const [min, max] = age < policy.fastPhaseMs ? policy.fastIntervalMs : policy.slowIntervalMs;
  const jittered = min + Math.round((max - min) * (input.random ?? Math.random)());
  const delayMs = Math.max(jittered, input.retryAfterMs ?? 0);
  if (age + delayMs > policy.maxAgeMs) return { retry: false };
  return { retry: true, delayMs };
}
