import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import libmime from 'libmime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeText, withoutNul } from './charset.ts';
import { spoolLargeText } from './large-text.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mxhook-large-text-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What mime-walk.ts makes of a small part's bytes: the large path must give the same text. */
function smallPath(bytes: Buffer, charset: string | false, flowed: boolean, delSp: boolean): string {
  let content = decodeText(bytes, charset);
  if (flowed) content = libmime.decodeFlowed(content, delSp);
  return withoutNul(content.replace(/\r\n?/g, '\n'));
}

async function largePath(bytes: Buffer, charset: string | false, flowed = false, delSp = false) {
  const source = path.join(dir, `in-${Math.random()}`);
  await writeFile(source, bytes);
  const result = await spoolLargeText(source, path.join(dir, `out-${Math.random()}`), { charset, flowed, delSp });
  return { result, text: await readFile(result.path, 'utf8') };
}

describe('spoolLargeText', () => {
  // Line breaks and multibyte characters fall on every 64 KiB slice boundary somewhere in here.
  const utf8 = Buffer.from('caf\u00e9 <b> & "q" \u2603 \0\r\nnext\rline\n'.repeat(30_000));

  it.each([
    ['utf-8', utf8, 'utf-8'],
    ['unlabelled UTF-8', utf8, false],
    ['unlabelled Windows-1252 (not UTF-8)', Buffer.concat([Buffer.from('caf\xe9 \x93quoted\x94\r\n'.repeat(20_000), 'latin1')]), false],
    ['ISO-8859-2', Buffer.from('\xb1\xe6\xea <x>\r\n'.repeat(100_000), 'latin1'), 'iso-8859-2'],
    ['Shift_JIS', Buffer.from('\x82\xa0\x82\xa2 text\r\n'.repeat(100_000), 'latin1'), 'shift_jis'],
  ] as const)('gives the text the in-memory path gives: %s', async (_name, bytes, charset) => {
    const { result, text } = await largePath(bytes, charset);
    expect(text === smallPath(bytes, charset, false, false)).toBe(true);
    expect(result.size).toBe(Buffer.byteLength(text));
    expect(result.specials).toBe(text.replace(/[^&<>"']/g, '').length);
    expect(result.blank).toBe(false);
  });

  it('undoes format=flowed (delsp too) as the in-memory path does', async () => {
    const bytes = Buffer.from('a soft \r\nline and a hard one\r\n> quoted soft \r\n> end\r\n-- \r\nsig\r\n'.repeat(40_000));
    for (const delSp of [false, true]) {
      const { text } = await largePath(bytes, 'utf-8', true, delSp);
      expect(text === smallPath(bytes, 'utf-8', true, delSp)).toBe(true);
    }
  });

  it('tells a part of whitespace only', async () => {
    const { result } = await largePath(Buffer.from(' \r\n\t'.repeat(400_000)), 'utf-8');
    expect(result.blank).toBe(true);
  });
});

describe('spoolLargeText with one paragraph longer than a run', () => {
  it('still undoes every soft break', async () => {
    const bytes = Buffer.from('word word \r\n'.repeat(200_000) + 'end\r\n');
    const { text } = await largePath(bytes, 'utf-8', true, false);
    expect(text === smallPath(bytes, 'utf-8', true, false)).toBe(true);
  });
});
