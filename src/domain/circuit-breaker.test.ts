import { describe, expect, it } from 'vitest';
import { afterFailure, afterSuccess, CLOSED, isOpen, type BreakerPolicy } from './circuit-breaker.ts';

const policy: BreakerPolicy = { threshold: 3, cooldownMs: 1000, maxCooldownMs: 5000 };

describe('circuit breaker', () => {
  it('stays closed below the threshold and opens at it', () => {
    let state = CLOSED;
    state = afterFailure(state, policy, 0);
    state = afterFailure(state, policy, 0);
    expect(isOpen(state, 0)).toBe(false);
    state = afterFailure(state, policy, 100);
    expect(isOpen(state, 100)).toBe(true);
    expect(state.openUntil).toBe(1100);
    expect(isOpen(state, 1100)).toBe(false);
  });

  it('re-opens on the first failed probe with a doubled cool-down, capped', () => {
    let state = CLOSED;
    for (let i = 0; i < 3; i++) state = afterFailure(state, policy, 0);
    state = afterFailure(state, policy, 2000);
    expect(state.openUntil).toBe(4000);
    state = afterFailure(state, policy, 5000);
    expect(state.openUntil).toBe(9000);
    state = afterFailure(state, policy, 10_000);
    expect(state.openUntil).toBe(15_000);
  });

  it('a success closes it and forgets the history', () => {
    let open = CLOSED;
    for (let i = 0; i < 3; i++) open = afterFailure(open, policy, 0);
    expect(isOpen(open, 0)).toBe(true);
    // Without the success, one more failure (a failed probe after the cool-down) re-opens it at once, for longer.
    expect(afterFailure(open, policy, 1000)).toMatchObject({ openUntil: 3000, opened: 2 });

    // A success (the probe went through) replaces whatever state there was.
    let state = afterSuccess();
    expect(state).toEqual(CLOSED);
    expect(isOpen(state, 1000)).toBe(false);
    // Failures count from zero again: the threshold's worth is needed to open it, with the first cool-down.
    state = afterFailure(state, policy, 1000);
    expect(state).toEqual({ failures: 1, openUntil: 0, opened: 0 });
    state = afterFailure(state, policy, 1000);
    expect(isOpen(state, 1000)).toBe(false);
    state = afterFailure(state, policy, 1000);
    expect(isOpen(state, 1000)).toBe(true);
    expect(state.openUntil).toBe(2000);
  });
});
