/** The folder layering of DEVELOPERS.md, checked with dependency-cruiser on the real source tree. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('architecture', () => {
  it('no stage imports a later one (dependency-cruiser rules pass)', async () => {
    const { stdout } = await run(process.execPath, ['node_modules/dependency-cruiser/bin/dependency-cruiser.mjs', '--config', '.dependency-cruiser.cjs', '--output-type', 'json', 'src'], { maxBuffer: 64 * 1024 * 1024 }).catch((err) => err);
    const result = JSON.parse(stdout);
    expect(result.summary.totalCruised).toBeGreaterThan(20);
    expect(result.summary.violations.map((v: { rule: { name: string }; from: string; to: string }) => `${v.rule.name}: ${v.from} -> ${v.to}`)).toEqual([]);
  });
});
