/** The README's configuration table is derived from the schema: fail when they drift. */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { settingsMarkdownTable } from '../src/config/load.ts';

describe('README', () => {
  it('configuration table matches the settings schema (run node scripts/sync-readme.mjs)', async () => {
    const readme = await readFile('README.md', 'utf8');
    const table = /<!-- settings-table:start -->\n([\s\S]*?)\n<!-- settings-table:end -->/.exec(readme)?.[1];
    expect(table).toBe(settingsMarkdownTable());
  });
});
