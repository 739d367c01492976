import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walkMime } from './mime-walk.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'mxhook-walk-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const message = (...parts: string[]) => Buffer.from(
  'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + parts.map((p) => `--b\r\n${p}\r\n`).join('') + '--b--\r\n',
);

describe('walkMime', () => {
  it('sorts leaves into body parts and numbered, named attachments in message order', async () => {
    const result = await walkMime(message(
      'Content-Type: text/plain\r\n\r\nhello',
      'Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=',
      'Content-Type: text/plain\r\nContent-Disposition: attachment; filename="a.txt"\r\n\r\nfile',
    ), { dir }, () => undefined);
    expect(result.error).toBeUndefined();
    expect(result.bodyParts.map((p) => p.content)).toEqual(['hello']);
    expect(result.attachments.map((a) => [a.filename, a.contentType, a.file.size])).toEqual([['attachment1.png', 'image/png', 8], ['a.txt', 'text/plain', 4]]);
  });

  it('stops at the splitter\'s limit with the reason, keeping what came before', async () => {
    const parts = Array.from({ length: 1100 }, (_, i) => `Content-Type: text/plain\r\n\r\npart ${i}`);
    const result = await walkMime(message(...parts), { dir }, () => undefined);
    expect(result.error).toMatch(/child nodes/);
    expect(result.bodyParts[0].content).toBe('part 0');
  });

  it('reports a spool that cannot be written instead of throwing (the worker keeps running)', async () => {
    const big = Buffer.alloc(400 * 1024, 0x41).toString('base64');
    // A spool directory below a plain file can never be made.
    await writeFile(path.join(dir, 'a-file'), 'x');
    const result = await walkMime(message(`Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n${big}`),
      { dir: path.join(dir, "a-file", "spool"), memoryLimit: 1024 }, () => undefined);
    expect(result.error).toMatch(/ENOTDIR|EEXIST/);
    expect(result.attachments).toEqual([]);
  });
});

describe('walkMime reads MIME as RFC 2045/2046 and mail clients do', () => {
  const walk = async (raw: string) => walkMime(Buffer.from(raw), { dir }, () => undefined);
  const bodies = (result: Awaited<ReturnType<typeof walk>>) => result.bodyParts.map((p) => [p.kind, p.content]);

  it.each(['text', 'text; charset=utf-8', 'text/', '/html', 'text/plain/extra'])(
    'a Content-Type without a subtype or that does not parse (%s) is text/plain', async (type) => {
      const result = await walk(message(`Content-Type: ${type}\r\n\r\nhello`));
      expect(result.attachments).toEqual([]);
      expect(bodies(result)).toEqual([['text', 'hello']]);
    });

  it('a top-level Content-Type without a subtype is text/plain too, its charset kept', async () => {
    const result = await walk('Content-Type: text; charset=iso-8859-1\r\n\r\ncaf\xe9\r\n'.replace('\xe9', '\u00e9'));
    expect(result.attachments).toEqual([]);
    expect(result.bodyParts[0]?.kind).toBe('text');
  });

  it('a multipart/digest part without a Content-Type is message/rfc822 (an .eml each), a typed one keeps its type', async () => {
    const result = await walk('Content-Type: multipart/digest; boundary="d"\r\n\r\n' +
      '--d\r\n\r\nFrom: x@y.example\r\nSubject: one\r\n\r\nbody one\r\n' +
      '--d\r\n\r\nFrom: z@y.example\r\nSubject: two\r\n\r\nbody two\r\n' +
      '--d\r\nContent-Type: text/plain\r\n\r\nthe digest footer\r\n--d--\r\n');
    expect(result.attachments.map((a) => [a.filename, a.contentType])).toEqual([['one.eml', 'message/rfc822'], ['two.eml', 'message/rfc822']]);
    expect((result.attachments[0]!.file as { data: Buffer }).data.toString()).toBe('From: x@y.example\r\nSubject: one\r\n\r\nbody one');
    expect(bodies(result)).toEqual([['text', 'the digest footer']]);
  });

  it('a part whose headers are not followed by a blank line keeps its body', async () => {
    const result = await walk('Content-Type: multipart/alternative; boundary="b"\r\n\r\n' +
      '--b\r\nContent-Type: text/plain\r\nhello there\r\nsecond: line\r\n' +
      '--b\r\nContent-Type: text/html\r\n<p>hi</p>\r\n--b--\r\n');
    expect(bodies(result)).toEqual([['text', 'hello there\nsecond: line'], ['html', '<p>hi</p>']]);
  });

  it('the last part without a blank line keeps its body too, LF line endings as well', async () => {
    const result = await walk('Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\nhello there\n--b--\n');
    expect(bodies(result)).toEqual([['text', 'hello there']]);
  });

  it('a message whose headers are not followed by a blank line keeps its body', async () => {
    const result = await walk('Subject: hi\r\nContent-Type: text/plain\r\nhello there\r\n');
    expect(bodies(result)).toEqual([['text', 'hello there\n']]);
  });

  it('a text/html part with a stray boundary= parameter is HTML, lines like its boundary included', async () => {
    const html = '<html>\r\n--x\r\n<p>hello</p>\r\n--x--\r\n</html>';
    const top = await walk(`Content-Type: text/html; charset=utf-8; boundary="x"\r\n\r\n${html}\r\n`);
    expect(bodies(top)).toEqual([['html', `${html.replace(/\r\n/g, '\n')}\n`]]);
    const part = await walk(message('Content-Type: text/plain\r\n\r\nplain', `Content-Type: text/html;\r\n boundary=x\r\n\r\n${html}`));
    expect(bodies(part)).toEqual([['text', 'plain'], ['html', html.replace(/\r\n/g, '\n')]]);
  });

  it('a body line that only looks like a delimiter of an inner boundary changes nothing', async () => {
    const result = await walk(message('Content-Type: text/plain\r\n\r\nline\r\n--other\r\nnot: a header\r\nmore'));
    expect(bodies(result)).toEqual([['text', 'line\n--other\nnot: a header\nmore']]);
  });
});

describe('walkMime with large text', () => {
  it('keeps a text part over LARGE_TEXT_BYTES in a file, and a large multipart whose boundary never comes too', async () => {
    const { readFile } = await import('node:fs/promises');
    const { LARGE_TEXT_BYTES } = await import('./large-text.ts');
    const body = 'line <one> & two\r\n'.repeat(Math.ceil((LARGE_TEXT_BYTES + 10) / 18));
    for (const raw of [message(`Content-Type: text/plain\r\n\r\n${body}`), Buffer.from(`Content-Type: multipart/mixed; boundary="never"\r\n\r\n${body}`)]) {
      const result = await walkMime(raw, { dir }, () => undefined);
      const content = result.bodyParts[0]!.content;
      if (typeof content === 'string') throw new Error('expected a file');
      const text = await readFile(content.path, 'utf8');
      expect(text.replace(/\n$/, '') === body.replace(/\r\n/g, '\n').replace(/\n$/, '')).toBe(true);
      expect(content.specials).toBe(3 * (body.length / 18));
    }
  });
});
