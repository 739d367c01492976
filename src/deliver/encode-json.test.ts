import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jsonEscapeBytes, prepareJson } from './encode-json.ts';

const dir = await mkdtemp(path.join(os.tmpdir(), 'encode-json-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

const collect = async (pieces: () => AsyncGenerator<Buffer>) => {
  const chunks: Buffer[] = [];
  for await (const chunk of pieces()) chunks.push(chunk);
  return Buffer.concat(chunks);
};

describe('JSON encoding', () => {
  it('escapes bytes as JSON.stringify escapes the string', () => {
    const text = `"a\\b"\n\r\t\b\f\u0000\u0001\u001f\u007f ü 日本 😀 \u2028 </script>`;
    expect(jsonEscapeBytes(Buffer.from(text)).toString('utf8')).toBe(JSON.stringify(text).slice(1, -1));
  });

  it('streams file attachments as base64 across slices, and text files escaped (HTML-escaped when asked)', async () => {
    const bytes = Buffer.from(Array.from({ length: 3 * 64 * 1024 * 2 + 5 }, (_, i) => (i * 11) % 256));
    const filePath = path.join(dir, 'a.bin');
    await writeFile(filePath, bytes);
    const textPath = path.join(dir, 'big.txt');
    await writeFile(textPath, 'x <"y"> & \\\n');
    const pieces = await prepareJson({
      parts: [
        { name: 'html', pieces: ['<pre>', { path: textPath, escapeHtml: true, size: 0 }, '</pre>'] },
        { name: 'text', pieces: [{ path: textPath, escapeHtml: false, size: 0 }] },
        { name: 'attachments', value: '1' },
        { name: 'attachment1', filename: 'a.bin', contentType: 'application/octet-stream', file: { kind: 'file', path: filePath, size: bytes.length } },
      ],
    }, { attachmentMax: 10 * 1024 * 1024, link: () => Promise.reject(new Error('not asked')) });
    const body = JSON.parse((await collect(pieces)).toString('utf8'));
    expect(body.html).toBe('<pre>x &#60;&#34;y&#34;&#62; &#38; \\\n</pre>');
    expect(body.text).toBe('x <"y"> & \\\n');
    expect(body.attachments).toBe(1);
    expect(Buffer.from(body.attachment1.content, 'base64')).toEqual(bytes);
    // The same bytes each time: a large body is read once to sign it, then again to send it.
    expect(await collect(pieces)).toEqual(await collect(pieces));
  });

  it('lists an attachment over the limit by its link only, asked once', async () => {
    let asked = 0;
    const pieces = await prepareJson({
      parts: [{ name: 'attachment2', filename: 'b', contentType: 'text/plain', file: { kind: 'memory', data: Buffer.from('12345'), size: 5 } }],
    }, { attachmentMax: 4, link: async (part) => { asked++; return { url: `https://mx.example/a/${part}`, expiresAt: 1_900_000_000 }; } });
    await collect(pieces);
    expect(JSON.parse((await collect(pieces)).toString())).toEqual({
      attachment2: { filename: 'b', type: 'text/plain', size: 5, download_url: 'https://mx.example/a/2', download_expires_at: '2030-03-17T17:46:40.000Z' },
    });
    expect(asked).toBe(1);
  });

  it('streams raw mode\'s `email` a slice at a time, exact: the message is never one piece (as a string or a Buffer)', async () => {
    const utf8 = Buffer.from(`${'"q" \\ tab\t ctl\u0001 ü € 😀\r\n'.repeat(200_000)}end`, 'utf8');
    const latin1 = Buffer.concat([utf8, Buffer.from([0xe9, 0xff])]);
    for (const [bytes, field] of [[utf8, 'email'], [latin1, 'email_base64']] as const) {
      const pieces = await prepareJson({ parts: [{ name: 'email', bytes }] }, { attachmentMax: 1, link: () => Promise.reject(new Error('not asked')) });
      let largest = 0;
      const chunks: Buffer[] = [];
      for await (const piece of pieces()) {
        largest = Math.max(largest, piece.length);
        chunks.push(piece);
      }
      // A slice is 192 KiB; escaping makes it at most 6 times longer (\u0001), base64 4/3.
      expect(largest).toBeLessThanOrEqual(6 * 3 * 64 * 1024);
      expect(bytes.length).toBeGreaterThan(4 * largest);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, string>;
      expect(Object.keys(body)).toEqual([field]);
      expect(field === 'email' ? Buffer.from(body.email!, 'utf8') : Buffer.from(body.email_base64!, 'base64')).toEqual(bytes);
    }
  });
});
