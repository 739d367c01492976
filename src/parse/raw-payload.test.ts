import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { describe, expect, it } from 'vitest';
import { encodeForm } from '../deliver/encode-form.ts';
import { envelopeJson, type PayloadContext } from './payload.ts';
import { buildRawPayload } from './raw-payload.ts';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Field name -> value; `latin1` keeps every byte of a field as one character. */
function parseFields(body: Buffer, contentType: string, defCharset: 'utf8' | 'latin1'): Promise<{ fields: Map<string, string>; files: number }> {
  return new Promise((resolve, reject) => {
    const fields = new Map<string, string>();
    let files = 0;
    const bb = busboy({ headers: { 'content-type': contentType }, defParamCharset: 'utf8', defCharset, limits: { fieldSize: 10 * 1024 * 1024 } });
    bb.on('field', (name, value) => fields.set(name, value));
    bb.on('file', (_name, stream) => {
      files++;
      stream.resume();
    });
    bb.on('error', reject);
    bb.on('close', () => resolve({ fields, files }));
    bb.end(body);
  });
}

const context: PayloadContext = {
  senderIp: '192.0.2.10',
  mailFrom: 'bounce@sender.example',
  recipients: ['inbox@parse.example.com', 'other@parse.example.com'],
};

const raw = Buffer.concat([
  Buffer.from(
    'Received: from mail.sender.example ([192.0.2.10])\r\n\tby mx (mxhook) with ESMTP id abc;\r\n\tWed, 25 Nov 2026 11:33:09 +0000\r\n' +
      'From: =?UTF-8?Q?Jos=C3=A9?= <jose@sender.example>\r\n' +
      'To: inbox@parse.example.com,\r\n other@parse.example.com\r\n' +
      'Subject: =?ISO-8859-1?Q?Caf=E9_menu?=\r\n' +
      'Content-Type: text/plain; charset=iso-8859-1\r\n' +
      'Content-Transfer-Encoding: 8bit\r\n\r\n' +
      'Le caf',
  ),
  Buffer.from([0xe9, 0x20, 0xff, 0x00]),
  Buffer.from(' fin\r\n--xYzZY\r\n'),
]);

describe('buildRawPayload', () => {
  const payload = buildRawPayload(raw, context);
  const byName = new Map(payload.parts.map((part) => [part.name, part]));

  it('has exactly the raw-mode fields, in order', () => {
    expect(payload.parts.map((part) => part.name)).toEqual(['email', 'to', 'from', 'subject', 'sender_ip', 'envelope', 'charsets']);
    expect(payload.parseError).toBeUndefined();
  });

  it('carries the whole message as exact bytes', () => {
    const email = byName.get('email');
    expect(email && 'bytes' in email && email.bytes.equals(raw)).toBe(true);
  });

  it('decodes to, from and subject', () => {
    expect(byName.get('to')).toEqual({ name: 'to', value: 'inbox@parse.example.com, other@parse.example.com' });
    expect(byName.get('from')).toEqual({ name: 'from', value: 'José <jose@sender.example>' });
    expect(byName.get('subject')).toEqual({ name: 'subject', value: 'Café menu' });
  });

  it('carries the envelope and the sender IP', () => {
    expect(byName.get('sender_ip')).toEqual({ name: 'sender_ip', value: '192.0.2.10' });
    const envelope = byName.get('envelope');
    expect(envelope && 'value' in envelope && JSON.parse(envelope.value)).toEqual({
      to: ['inbox@parse.example.com', 'other@parse.example.com'],
      from: 'bounce@sender.example',
    });
  });

  it('says UTF-8 for to, from and subject in charsets', () => {
    const charsets = byName.get('charsets');
    expect(charsets && 'value' in charsets && JSON.parse(charsets.value)).toEqual({ to: 'UTF-8', from: 'UTF-8', subject: 'UTF-8' });
  });

  it('gives empty strings when the headers are missing', () => {
    const bare = buildRawPayload(Buffer.from('X-Only: 1\r\n\r\nhi'), context);
    const values = Object.fromEntries(bare.parts.filter((p) => 'value' in p).map((p) => [p.name, 'value' in p ? p.value : '']));
    expect(values).toMatchObject({ to: '', from: '', subject: '' });
  });
});

describe('envelopeJson', () => {
  it('writes the null sender as ""', () => {
    expect(envelopeJson({ senderIp: '::1', mailFrom: '', recipients: ['a@p.example'] })).toBe('{"to":["a@p.example"],"from":""}');
  });
});

describe('buildRawPayload encoded as multipart', () => {
  it('arrives with every field readable and the exact Content-Length', async () => {
    const encoded = encodeForm(buildRawPayload(raw, context));
    const body = await readAll(encoded.body);
    expect(encoded.contentLength).toBe(body.length);
    const { fields, files } = await parseFields(body, encoded.contentType, 'utf8');
    expect(files).toBe(0);
    expect([...fields.keys()]).toEqual(['email', 'to', 'from', 'subject', 'sender_ip', 'envelope', 'charsets']);
    expect(fields.get('from')).toBe('José <jose@sender.example>');
    expect(fields.get('subject')).toBe('Café menu');
    expect(fields.get('to')).toBe('inbox@parse.example.com, other@parse.example.com');
    expect(fields.get('sender_ip')).toBe('192.0.2.10');
    expect(JSON.parse(fields.get('envelope') ?? '')).toEqual({ to: context.recipients, from: context.mailFrom });
    expect(JSON.parse(fields.get('charsets') ?? '')).toEqual({ to: 'UTF-8', from: 'UTF-8', subject: 'UTF-8' });
  });

  it('delivers the email field byte for byte, 8-bit and NUL bytes included', async () => {
    const encoded = encodeForm(buildRawPayload(raw, context));
    const body = await readAll(encoded.body);
    const { fields } = await parseFields(body, encoded.contentType, 'latin1');
    expect(Buffer.from(fields.get('email') ?? '', 'latin1').equals(raw)).toBe(true);
  });

  it('keeps the Content-Length exact for a larger message', async () => {
    const big = Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.alloc(2 * 1024 * 1024, 0xe9)]);
    const encoded = encodeForm(buildRawPayload(big, { ...context, recipients: ['ü@parse.example.com'] }));
    const body = await readAll(encoded.body);
    expect(encoded.contentLength).toBe(body.length);
    const { fields } = await parseFields(body, encoded.contentType, 'latin1');
    expect(Buffer.from(fields.get('email') ?? '', 'latin1').equals(big)).toBe(true);
  });
});
