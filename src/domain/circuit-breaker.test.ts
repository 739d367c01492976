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
    let state = CLOSED;
    for (let i = 0; i < 3; i++) state = afterFailure(state, policy, 0);
    expect(afterSuccess()).toEqual(CLOSED);
    state = afterFailure(afterSuccess(), policy, 0);
    expect(isOpen(state, 0)).toBe(false);
  });
});
