import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import mailsplit, { type MimeNode } from '@zone-eu/mailsplit';
import { encode8bitParts, LOOKAHEAD_BYTES } from './raw-8bit.ts';

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
