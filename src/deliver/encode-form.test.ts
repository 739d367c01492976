import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Payload } from '../parse/payload.ts';
import { encodeForm } from './encode-form.ts';

interface Parsed {
  fields: { name: string; value: string }[];
  files: { name: string; filename: string; mimeType: string; data: Buffer }[];
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Parses a multipart body as an app would (busboy, UTF-8 filenames); `latin1` keeps field bytes exact. */
function parse(body: Buffer, contentType: string, defCharset: 'utf8' | 'latin1' = 'utf8'): Promise<Parsed> {
  return new Promise((resolve, reject) => {
    const parsed: Parsed = { fields: [], files: [] };
    const pending: Promise<void>[] = [];
    const bb = busboy({ headers: { 'content-type': contentType }, defParamCharset: 'utf8', defCharset });
    bb.on('field', (name, value) => parsed.fields.push({ name, value }));
    bb.on('file', (name, stream, info) => {
      pending.push(readAll(stream).then((data) => {
        parsed.files.push({ name, filename: info.filename ?? '<none>', mimeType: info.mimeType, data });
      }));
    });
    bb.on('error', reject);
    bb.on('close', () => Promise.all(pending).then(() => resolve(parsed), reject));
    bb.end(body);
  });
}

async function roundTrip(payload: Payload, defCharset: 'utf8' | 'latin1' = 'utf8') {
  const encoded = encodeForm(payload);
  const body = await readAll(encoded.body);
  return { encoded, body, parsed: await parse(body, encoded.contentType, defCharset) };
}

const memory = (data: Buffer) => ({ kind: 'memory' as const, data, size: data.length });

describe('encodeForm', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mxhook-encode-form-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('encodes text fields, UTF-8 included, with an exact Content-Length', async () => {
    const { encoded, body, parsed } = await roundTrip({
      parts: [
        { name: 'from', value: '"José Müller" <jose@x.example>' },
        { name: 'subject', value: 'Grüße ✓ 日本語' },
        { name: 'attachments', value: '0' },
        { name: 'empty', value: '' },
      ],
    });
    expect(encoded.contentLength).toBe(body.length);
    expect(parsed.fields).toEqual([
      { name: 'from', value: '"José Müller" <jose@x.example>' },
      { name: 'subject', value: 'Grüße ✓ 日本語' },
      { name: 'attachments', value: '0' },
      { name: 'empty', value: '' },
    ]);
    expect(parsed.files).toEqual([]);
  });

  it('uses a random multipart/form-data boundary, not SendGrid\'s fixed one', async () => {
    const a = encodeForm({ parts: [{ name: 'x', value: '1' }] });
    const b = encodeForm({ parts: [{ name: 'x', value: '1' }] });
    expect(a.contentType).toMatch(/^multipart\/form-data; boundary=\S{20,}$/);
    expect(a.contentType).not.toBe(b.contentType);
    expect(a.contentType).not.toContain('xYzZY');
    await readAll(a.body);
    await readAll(b.body);
  });

  it('keeps values that contain SendGrid\'s boundary or look like boundaries', async () => {
    const tricky = '--xYzZY\r\nContent-Disposition: form-data; name="evil"\r\n\r\nboom\r\n--xYzZY--';
    const { parsed } = await roundTrip({ parts: [{ name: 'text', value: tricky }] });
    expect(parsed.fields).toEqual([{ name: 'text', value: tricky }]);
  });

  it('sends a bytes part byte for byte, even when it is not valid UTF-8', async () => {
    const bytes = Buffer.from([0x00, 0xff, 0xfe, 0x0d, 0x0a, 0x2d, 0x2d, 0xe9, 0x41]);
    const { encoded, body, parsed } = await roundTrip({ parts: [{ name: 'email', bytes }] }, 'latin1');
    expect(encoded.contentLength).toBe(body.length);
    expect(parsed.fields).toHaveLength(1);
    expect(Buffer.from(parsed.fields[0].value, 'latin1').equals(bytes)).toBe(true);
  });

  it('sends an in-memory file part with its filename, type and bytes', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const { encoded, body, parsed } = await roundTrip({
      parts: [{ name: 'attachment1', filename: 'logo.png', contentType: 'image/png', file: memory(png) }],
    });
    expect(encoded.contentLength).toBe(body.length);
    expect(parsed.files).toHaveLength(1);
    expect(parsed.files[0]).toMatchObject({ name: 'attachment1', filename: 'logo.png', mimeType: 'image/png' });
    expect(parsed.files[0].data.equals(png)).toBe(true);
  });

  it('streams a spooled file part from disk with an exact Content-Length', async () => {
    const data = Buffer.alloc(300 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const file = path.join(dir, 'big.bin');
    await writeFile(file, data);
    const { encoded, body, parsed } = await roundTrip({
      parts: [
        { name: 'to', value: 'inbox@parse.example.com' },
        { name: 'attachment1', filename: 'big.bin', contentType: 'application/octet-stream', file: { kind: 'file', path: file, size: data.length } },
        { name: 'attachments', value: '1' },
      ],
    });
    expect(encoded.contentLength).toBe(body.length);
    expect(parsed.fields).toEqual([{ name: 'to', value: 'inbox@parse.example.com' }, { name: 'attachments', value: '1' }]);
    expect(parsed.files[0].filename).toBe('big.bin');
    expect(parsed.files[0].data.equals(data)).toBe(true);
  });

  it('gives back a non-ASCII filename with quotes intact (via filename*)', async () => {
    const { encoded, body, parsed } = await roundTrip({
      parts: [{ name: 'attachment1', filename: 'résumé "q".pdf', contentType: 'application/pdf', file: memory(Buffer.from('%PDF-1.4')) }],
    });
    expect(encoded.contentLength).toBe(body.length);
    expect(parsed.files[0].filename).toBe('résumé "q".pdf');
    expect(parsed.files[0].mimeType).toBe('application/pdf');
  });

  it('gives back an ASCII filename with a quote intact (backslash-escaped, as RFC 7578 quoted-strings allow)', async () => {
    const { parsed } = await roundTrip({
      parts: [{ name: 'attachment1', filename: 'say "hi".txt', contentType: 'text/plain', file: memory(Buffer.from('hi')) }],
    });
    expect(parsed.files[0].filename).toBe('say "hi".txt');
  });

  it('cannot be made to write extra part headers through a filename or a content type', async () => {
    const { encoded, body, parsed } = await roundTrip({
      parts: [
        { name: 'attachment1', filename: 'a.txt"\r\nX-Evil: 1\r\n\r\nx', contentType: 'text/plain\r\nX-Evil: 2', file: memory(Buffer.from('data')) },
        { name: 'after', value: 'ok' },
      ],
    });
    expect(encoded.contentLength).toBe(body.length);
    expect(body.toString('latin1')).not.toMatch(/\r\nX-Evil/);
    expect(parsed.files).toHaveLength(1);
    expect(parsed.files[0].data.toString()).toBe('data');
    expect(parsed.fields).toEqual([{ name: 'after', value: 'ok' }]);
  });

  it('keeps the parts in payload order', async () => {
    const names = ['headers', 'dkim', 'to', 'from', 'text', 'sender_ip', 'envelope', 'attachments', 'charsets'];
    const encoded = encodeForm({ parts: names.map((name) => ({ name, value: name.toUpperCase() })) });
    const body = (await readAll(encoded.body)).toString();
    const positions = names.map((name) => body.indexOf(`name="${name}"`));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((x, y) => x - y)).toEqual(positions);
  });
});

describe('encodeForm with a streamed text field', () => {
  it('sends the same bytes as the field written as one string, the file escaped when asked, Content-Length exact', async () => {
    const textDir = await mkdtemp(path.join(os.tmpdir(), 'mxhook-pieces-'));
    try {
      const text = 'caf\u00e9 <b> & "q" \u2603 it\'s\n'.repeat(10_000);
      const file = path.join(textDir, 'text1.txt');
      await writeFile(file, text);
      const size = Buffer.byteLength(text);
      const specials = text.replace(/[^&<>"']/g, '').length;
      const escaped = text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      const streamed: Payload = { parts: [
        { name: 'text', pieces: [{ path: file, escapeHtml: false, size }] },
        { name: 'html', pieces: ['<div>', { path: file, escapeHtml: true, size: size + 4 * specials }, '</div>\n<p>x</p>'] },
      ] };
      const plain: Payload = { parts: [{ name: 'text', value: text }, { name: 'html', value: `<div>${escaped}</div>\n<p>x</p>` }] };
      const a = encodeForm(streamed, 'B0UNDARY');
      const b = encodeForm(plain, 'B0UNDARY');
      const bytes = await readAll(a.body);
      expect(bytes.equals(await readAll(b.body))).toBe(true);
      expect(a.contentLength).toBe(bytes.length);
    } finally {
      await rm(textDir, { recursive: true, force: true });
    }
  });
});
