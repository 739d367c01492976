/**
 * A per-destination circuit breaker, so one dead app does not keep every worker busy: after
 * `threshold` consecutive retryable failures the destination is "open" for a cool-down (doubling
 * each time it opens again, up to a cap), and its deliveries wait without using attempts. Pure.
 */

export interface BreakerPolicy {
  /** Consecutive failures that open the circuit. Default 5. */
  readonly threshold: number;
  /** First cool-down, ms. Default 30 s; doubles on each re-open. */
  readonly cooldownMs: number;
  /** Longest cool-down, ms. Default 10 min. */
  readonly maxCooldownMs: number;
}

export interface BreakerState {
  readonly failures: number;
  /** Epoch ms until which the destination gets no POSTs; 0 when closed. */
  readonly openUntil: number;
  /** How many times in a row it opened (drives the doubling). */
  readonly opened: number;
}

export const CLOSED: BreakerState = { failures: 0, openUntil: 0, opened: 0 };

export function isOpen(state: BreakerState, now: number): boolean {
  return state.openUntil > now;
}

export function afterSuccess(): BreakerState {
  return CLOSED;
}

export function afterFailure(state: BreakerState, policy: BreakerPolicy, now: number): BreakerState {
  const failures = state.failures + 1;
  if (failures < policy.threshold) return { ...state, failures };
  const cooldown = Math.min(policy.cooldownMs * 2 ** state.opened, policy.maxCooldownMs);
  // Failures restart from threshold - 1, so one more failed probe after the cool-down re-opens it.
  return { failures: policy.threshold - 1, openUntil: now + cooldown, opened: state.opened + 1 };
}
