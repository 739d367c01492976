import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildParsedPayload } from './parsed-payload.ts';
import { buildEncodedRawPayload } from './raw-payload.ts';
import mailsplit, { type MimeNode } from '@zone-eu/mailsplit';
import { encode8bitParts, has8bit, LOOKAHEAD_BYTES } from './raw-8bit.ts';

async function encoded(raw: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of encode8bitParts(raw)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Each leaf part's Content-Transfer-Encoding and decoded bytes' SHA-256, read with mailsplit's decoders. */
async function leaves(raw: Buffer): Promise<{ encoding: string; sha: string }[]> {
  const splitter = new mailsplit.Splitter();
  const found: { encoding: string; sha: string }[] = [];
  let current: { encoding: string; hash: ReturnType<typeof createHash>; decoder: NodeJS.ReadWriteStream } | undefined;
  const finish = async () => {
    if (!current) return;
    const open = current;
    current = undefined;
    open.decoder.end();
    for await (const chunk of open.decoder as AsyncIterable<Buffer>) open.hash.update(chunk);
    found.push({ encoding: open.encoding, sha: open.hash.digest('hex') });
  };
  splitter.end(raw);
  for await (const data of splitter as AsyncIterable<MimeNode | { type: 'body' | 'data'; value: Buffer }>) {
    if (data.type === 'node') {
      await finish();
      if (!data.multipart) current = { encoding: data.encoding || '', hash: createHash('sha256'), decoder: data.getDecoder() };
    } else if (data.type === 'body' && current) current.decoder.write(data.value);
    else await finish();
  }
  await finish();
  return found;
}

const message = (parts: Buffer[]) => Buffer.concat([Buffer.from('Subject: t\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\npreamble\r\n'), ...parts.flatMap((p) => [Buffer.from('--b\r\n'), p, Buffer.from('\r\n')]), Buffer.from('--b--\r\nepilogue\r\n')]);

describe('encode8bitParts', () => {
  it('leaves a 7-bit message byte for byte as it was', async () => {
    const raw = message([Buffer.from('Content-Type: text/plain\r\n\r\nplain ascii\r\nline two'), Buffer.from('Content-Type: text/html\r\nContent-Transfer-Encoding: 7bit\r\n\r\n<p>x</p>')]);
    expect((await encoded(raw)).equals(raw)).toBe(true);
  });

  it('re-encodes only the 8-bit parts, text as quoted-printable and the rest as base64, same content', async () => {
    const latin = Buffer.from('Gr\xfc\xdfe\r\nzweite Zeile', 'latin1');
    const binary = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 256));
    const raw = message([
      Buffer.concat([Buffer.from('Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'), latin]),
      Buffer.from('Content-Type: text/plain\r\n\r\nascii only'),
      Buffer.concat([Buffer.from('Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n'), binary]),
      Buffer.from('Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo='),
    ]);
    const out = await encoded(raw);
    expect([...out].every((b) => b < 0x80)).toBe(true);
    expect((await leaves(out)).map((l) => l.encoding)).toEqual(['quoted-printable', '', 'base64', 'base64']);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect((await leaves(out)).map((l) => l.sha)).toEqual([sha(latin), sha(Buffer.from('ascii only')), sha(binary), sha(Buffer.from('iVBORw0KGgo=', 'base64'))]);
    expect(out.toString('latin1')).toContain('preamble\r\n--b\r\n');
    expect(out.toString('latin1')).toMatch(/--b--\r\nepilogue\r\n$/);
  });

  it('re-encodes a part labelled 7-bit whose 8-bit bytes come after the look-ahead', async () => {
    const body = Buffer.concat([Buffer.alloc(LOOKAHEAD_BYTES + 10, 'a'), Buffer.from('\xe9', 'latin1')]);
    const raw = message([Buffer.concat([Buffer.from('Content-Type: text/plain; charset=iso-8859-1\r\n\r\n'), body])]);
    const out = await encoded(raw);
    expect([...out].every((b) => b < 0x80)).toBe(true);
    expect((await leaves(out))[0]!.sha).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('streams a large 8-bit message without holding it several times over', async () => {
    const big = Buffer.alloc(40 * 1024 * 1024, 0xe9);
    const raw = message([Buffer.concat([Buffer.from('Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'), big])]);
    // Buffers live outside the JS heap: both count.
    const used = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    const before = used();
    let size = 0;
    let peak = 0;
    for await (const chunk of encode8bitParts(raw)) {
      size += (chunk as Buffer).length;
      peak = Math.max(peak, used() - before);
    }
    expect(size).toBeGreaterThan(big.length * 4 / 3);
    expect(peak).toBeLessThan(20 * 1024 * 1024);
  });
});

describe('raw_8bit encode over the fidelity corpus', () => {
  const dir = new URL('../../fixtures/corpus/', import.meta.url);
  const files = [
    ...readdirSync(dir).filter((f) => f.endsWith('.eml')),
    ...readdirSync(new URL('real/', dir)).filter((f) => f.endsWith('.eml')).map((f) => `real/${f}`),
    ...readdirSync(new URL('../sendgrid/', dir)).filter((f) => f.endsWith('.eml')).map((f) => `../sendgrid/${f}`),
  ];
  const context = { senderIp: '192.0.2.1', mailFrom: 'a@b.example', recipients: ['in@c.example'] };
  const withSpool = async <T>(run: (dir: string) => Promise<T>): Promise<T> => {
    const spoolDir = mkdtempSync(path.join(os.tmpdir(), 'raw8-'));
    try {
      return await run(spoolDir);
    } finally {
      rmSync(spoolDir, { recursive: true, force: true });
    }
  };
  /** What the parsed payload says of the content: every field but `headers` (a Content-Transfer-Encoding changed), files by digest. */
  const content = (raw: Buffer) => withSpool(async (spoolDir) => (await buildParsedPayload(raw, context, { dir: spoolDir })).parts
    .filter((p) => p.name !== 'headers')
    .map((p) => [p.name, 'value' in p ? p.value : 'file' in p ? createHash('sha256').update(p.file.kind === 'memory' ? p.file.data : readFileSync(p.file.path)).digest('hex') : 'pieces']));
  /** raw mode's `email` with raw_8bit "encode". */
  const email = (raw: Buffer) => withSpool(async (spoolDir) => {
    const part = (await buildEncodedRawPayload(raw, context, { dir: spoolDir, memoryLimit: 64 * 1024 * 1024 })).parts.find((p) => p.name === 'email')!;
    return 'bytes' in part ? part.bytes : Buffer.alloc(0);
  });

  it.each(files)('%s: parsed, the same content as the original (a 7-bit message: the same bytes)', async (file) => {
    const raw = readFileSync(new URL(file, dir));
    const out = await email(raw);
    if (!has8bit(raw)) expect(out.equals(raw)).toBe(true);
    expect(await content(out)).toEqual(await content(raw));
  });

  it.each(['76-no-blank-line-after-headers.eml', '77-html-with-boundary.eml'])('%s with 8-bit text: read as parsed mode reads it', async (file) => {
    const raw = Buffer.from(readFileSync(new URL(file, dir)).toString('latin1').replace(/(body|HTML) /g, '$1 \xe9t\xe9 '), 'latin1');
    const out = await email(raw);
    expect(has8bit(out.subarray(out.indexOf('\r\n\r\n')))).toBe(false);
    expect(await content(out)).toEqual(await content(raw));
  });
});
