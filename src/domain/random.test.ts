import { describe, expect, it } from 'vitest';
import { randomHex } from './random.ts';

describe('randomHex', () => {
  it('gives the asked number of bytes as hex, never the same twice across pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const hex = randomHex(16);
      expect(hex).toMatch(/^[0-9a-f]{32}$/);
      seen.add(hex);
    }
    expect(seen.size).toBe(2000);
  });

  it('refuses more than the pool holds', () => {
    expect(() => randomHex(5000)).toThrow(RangeError);
  });
});
