import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MIN_NODE_VERSION, runtimeProblem } from './runtime.ts';

describe('runtimeProblem', () => {
  it('accepts the minimum and anything newer', () => {
    for (const v of [MIN_NODE_VERSION, '22.20.0', '23.0.0', '24.21.0', '100.0.0']) expect(runtimeProblem(v)).toBeUndefined();
  });
  it('refuses older ones in one line naming both versions and the way out', () => {
    for (const v of ['20.20.2', '22.12.0', '22.18.9', '18.0.0']) {
      const problem = runtimeProblem(v)!;
      expect(problem).toContain(`>= ${MIN_NODE_VERSION}`);
      expect(problem).toContain(`found ${v}`);
      expect(problem).toContain('npm start');
      expect(problem).not.toContain('\n');
    }
  });
});

describe('package.json engines', () => {
  it('states the same minimum the runtime check enforces', () => {
    const { engines } = JSON.parse(readFileSync('package.json', 'utf8'));
    const [major, minor] = MIN_NODE_VERSION.split('.');
    expect(engines.node).toBe(`>=${major}.${minor}`);
    expect(MIN_NODE_VERSION.endsWith('.0')).toBe(true);
  });
});
