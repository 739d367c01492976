import { Buffer } from 'node:buffer';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Payload } from '../parse/payload.ts';
import { encodeFormBuffer } from './encode-buffer.ts';
import { encodeForm } from './encode-form.ts';

async function streamed(payload: Payload, boundary: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of encodeForm(payload, boundary).body as Readable) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const memory = (data: Buffer) => ({ kind: 'memory' as const, data, size: data.length });
const boundary = '----mxhooktest0123456789abcdef';

describe('encodeFormBuffer', () => {
  const payloads: [string, Payload][] = [
    ['text fields only, UTF-8 and empty ones', { parts: [
      { name: 'from', value: '"José Müller" <jose@x.example>' }, { name: 'subject', value: 'Grüße ✓ 日本語 😀' },
      { name: 'empty', value: '' }, { name: 'text', value: 'line\r\n--not-a-boundary\r\n' },
    ] }],
    ['a bytes part between text parts (raw mode)', { parts: [
      { name: 'email', bytes: Buffer.from([0x00, 0xff, 0xfe, 0x0d, 0x0a, 0x2d, 0x2d, 0xe9]) }, { name: 'to', value: 'a@b' },
    ] }],
    ['in-memory files, odd names, last part a file', { parts: [
      { name: 'attachments', value: '2' },
      { name: 'attachment1', filename: 'résumé "q".pdf', contentType: 'application/pdf', file: memory(Buffer.from('%PDF-1.4')) },
      { name: 'attachment2', filename: 'a\r\nb.eml', contentType: 'message/rfc822', file: memory(Buffer.alloc(3000, 7)) },
    ] }],
    ['a lone surrogate in a value', { parts: [{ name: 'subject', value: 'x\ud800' }, { name: 'n"a\r\nme', value: '\udc00y' }] }],
  ];

  for (const [title, payload] of payloads) {
    it(`gives the streaming encoder's exact bytes: ${title}`, async () => {
      const buffered = encodeFormBuffer(payload, boundary)!;
      const expected = await streamed(payload, boundary);
      expect(buffered.body.equals(expected)).toBe(true);
      expect(buffered.contentLength).toBe(encodeForm(payload, boundary).contentLength);
      expect(buffered.contentType).toBe(`multipart/form-data; boundary=${boundary}`);
    });
  }

  it('declines payloads with spooled files (they stay streamed from disk)', () => {
    const payload: Payload = { parts: [{ name: 'attachment1', filename: 'big.bin', contentType: 'application/octet-stream', file: { kind: 'file', path: '/nonexistent', size: 1 } }] };
    expect(encodeFormBuffer(payload, boundary)).toBeUndefined();
  });
});
