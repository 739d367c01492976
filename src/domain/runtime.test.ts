import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NODE_ENGINES, runtimeProblem } from './runtime.ts';

describe('runtimeProblem', () => {
  it('accepts the supported lines: 22 from 22.19, 24, 26 and later', () => {
    for (const v of ['22.19.0', '22.20.1', '24.0.0', '24.21.0', '26.0.0', '27.3.0', '100.0.0']) expect(runtimeProblem(v)).toBeUndefined();
  });
  it('refuses older and odd lines in one line naming both versions and the way out', () => {
    for (const v of ['20.20.2', '22.12.0', '22.18.9', '18.0.0', '23.11.0', '25.2.1']) {
      const problem = runtimeProblem(v)!;
      expect(problem).toContain(`needs Node.js ${NODE_ENGINES}`);
      expect(problem).toContain(`found ${v}`);
      expect(problem).toContain('npm start');
      expect(problem).not.toContain('\n');
    }
  });
});

describe('package.json engines', () => {
  it('states the same range the runtime check enforces', () => {
    const { engines } = JSON.parse(readFileSync('package.json', 'utf8'));
    expect(engines.node).toBe(NODE_ENGINES);
  });
});
