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
