import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replyFields } from './reply-fields.ts';
import type { TextPiece } from './payload.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'reply-fields-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function pieces(name: string, text: string): Promise<TextPiece[]> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return ['Top line\n', { path: file, escapeHtml: false, size: Buffer.byteLength(text) }];
}

describe('replyFields', () => {
  it('gives stripped_text and stripped_signature for text, stripped_html for html, each only with its body', async () => {
    expect(await replyFields('Yes.\n\nOn Tue, Mar 3, 2026 at 10:00 AM J <j@example.com> wrote:\n\n> q\n', undefined)).toEqual([
      { name: 'stripped_text', value: 'Yes.' }, { name: 'stripped_signature', value: '' },
    ]);
    expect(await replyFields(undefined, '<p>Yes.</p><div class="gmail_quote">q</div>')).toEqual([{ name: 'stripped_html', value: '<p>Yes.</p>' }]);
  });

  it('reads only the top of a streamed text: a quote there cuts it, none leaves the text streamed whole', async () => {
    const quoted = await pieces('quoted.txt', `Thanks!\n\nOn Tue, Mar 3, 2026 at 10:00 AM J <j@example.com> wrote:\n\n${'> old line\n'.repeat(200_000)}`);
    expect(await replyFields(quoted, undefined)).toEqual([{ name: 'stripped_text', value: 'Top line\nThanks!' }, { name: 'stripped_signature', value: '' }]);
    const long = await pieces('long.txt', 'a log line\n'.repeat(200_000));
    expect(await replyFields(long, long)).toEqual([
      { name: 'stripped_text', pieces: long }, { name: 'stripped_signature', value: '' }, { name: 'stripped_html', pieces: long },
    ]);
  });
});
