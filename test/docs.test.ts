/**
 * The docs as a maintained set: the generated parts (settings table, API reference) match what
 * their scripts would write, and every relative link in README.md and docs/*.md resolves.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { settingsMarkdownTable } from '../src/config/load.ts';
// @ts-expect-error: a plain .mjs script, without types
import { API_DOC, currentIntro, openApiDocument, renderApiReference } from '../scripts/api-reference.mjs';

describe('generated docs', () => {
  it('the configuration table matches the settings schema (run node scripts/sync-docs.mjs)', async () => {
    const doc = await readFile('docs/configuration.md', 'utf8');
    const table = /<!-- settings-table:start -->\n([\s\S]*?)\n<!-- settings-table:end -->/.exec(doc)?.[1];
    expect(table).toBe(settingsMarkdownTable());
  });

  it('docs/api.md is what scripts/api-reference.mjs writes from the OpenAPI document (run node scripts/sync-docs.mjs)', async () => {
    const doc = await readFile(API_DOC, 'utf8');
    const document = await openApiDocument();
    expect(doc).toBe(renderApiReference(document, currentIntro(doc)));
    // Every operation is there, by method and path.
    for (const [route, item] of Object.entries(document.paths as Record<string, object>)) {
      for (const method of Object.keys(item)) expect(doc).toContain(`### ${method.toUpperCase()} \`${route}\``);
    }
    expect(doc).toContain('Authorization: Bearer');
    expect(doc).toContain('{"errors":[{"field":');
  });
});

/** GitHub's heading anchors: lower case, punctuation removed, spaces to `-`, repeats get -1, -2. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of outsideCode(markdown, false)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const slug = heading.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n ? `${slug}-${n}` : slug);
  }
  return anchors;
}

/** Lines outside fenced code blocks, with inline code removed (or only its backticks). */
function outsideCode(markdown: string, dropInlineCode = true): string[] {
  let fenced = false;
  const lines: string[] = [];
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    else if (!fenced) lines.push(dropInlineCode ? line.replace(/`[^`]*`/g, '') : line);
  }
  return lines;
}

/** Problems with the relative links of `file` (its text given): missing files and missing anchors. */
export async function brokenLinks(file: string, markdown: string, read = (f: string) => readFile(f, 'utf8')): Promise<string[]> {
  const problems: string[] = [];
  for (const line of outsideCode(markdown)) {
    for (const [, target] of line.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [pathPart, anchor] = target.split('#') as [string, string | undefined];
      const resolved = pathPart ? path.normalize(path.join(path.dirname(file), decodeURIComponent(pathPart))) : file;
      if (!existsSync(resolved)) {
        problems.push(`${file}: ${target}: no file ${resolved}`);
        continue;
      }
      if (anchor !== undefined && resolved.endsWith('.md') && !headingAnchors(await read(resolved)).has(anchor)) {
        problems.push(`${file}: ${target}: no heading #${anchor} in ${resolved}`);
      }
    }
  }
  return problems;
}

describe('links in README.md and docs/', () => {
  it('every relative link names a file that exists and every #anchor a heading in it', async () => {
    const files = ['README.md', ...(await readdir('docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    expect(files.length).toBeGreaterThan(5);
    const problems = (await Promise.all(files.map(async (f) => brokenLinks(f, await readFile(f, 'utf8'))))).flat();
    expect(problems).toEqual([]);
  });

  it('every docs/ page is linked from the README\'s index', async () => {
    const readme = await readFile('README.md', 'utf8');
    const pages = (await readdir('docs')).filter((f) => f.endsWith('.md'));
    expect(pages.filter((page) => !readme.includes(`](docs/${page})`))).toEqual([]);
  });

  it('the checker finds a missing file, a missing anchor, and GitHub\'s slugs', async () => {
    const bad = '[a](docs/nope.md) [b](README.md#no-such-heading) [c](#quick-start) `[d](x.md)`\n```\n[e](y.md)\n```\n[f](https://example.com/z.md)';
    expect(await brokenLinks('README.md', bad)).toEqual([
      'README.md: docs/nope.md: no file docs/nope.md',
      'README.md: README.md#no-such-heading: no heading #no-such-heading in README.md',
    ]);
    expect([...headingAnchors('# DNS: pointing mail at mxhook\n## GET `/healthz`\n## Retries\n## Retries\n```\n# not a heading\n```')])
      .toEqual(['dns-pointing-mail-at-mxhook', 'get-healthz', 'retries', 'retries-1']);
  });
});
