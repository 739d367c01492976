import { describe, expect, it } from 'vitest';
import { Base64Lines, QuotedPrintableLines, type LineEncoder } from './transfer-encoders.ts';

/** Runs the encoder over the input cut into `size`-byte chunks (a chunk edge can fall anywhere). */
function encode(encoder: LineEncoder, input: Buffer, size = input.length || 1): string {
  const out: Buffer[] = [];
  for (let at = 0; at < input.length; at += size) out.push(encoder.write(input.subarray(at, at + size)));
  out.push(encoder.end());
  return Buffer.concat(out).toString('latin1');
}

/** RFC 2045 quoted-printable decoding, written out here so the encoder is not checked against itself. */
function decodeQp(text: string): Buffer {
  const bytes: number[] = [];
  const lines = text.split('\r\n');
  lines.forEach((line, i) => {
    const soft = line.endsWith('=');
    const body = soft ? line.slice(0, -1) : line;
    for (let j = 0; j < body.length; j++) {
      if (body[j] === '=') {
        bytes.push(parseInt(body.slice(j + 1, j + 3), 16));
        j += 2;
      } else bytes.push(body.charCodeAt(j));
    }
    if (!soft && i < lines.length - 1) bytes.push(0x0d, 0x0a);
  });
  return Buffer.from(bytes);
}

describe('QuotedPrintableLines', () => {
  it('encodes 8-bit bytes, "=", and spaces at a line end; keeps line breaks as CRLF', () => {
    const input = Buffer.from('caf\xe9 = ok  \r\nnext\tline\t\nlast ', 'latin1');
    expect(encode(new QuotedPrintableLines(), input)).toBe('caf=E9 =3D ok =20\r\nnext\tline=09\r\nlast=20');
  });

  it('cuts long lines with soft breaks at 76 characters', () => {
    const out = encode(new QuotedPrintableLines(), Buffer.from('é'.repeat(100), 'latin1'));
    expect(out.split('\r\n').every((line) => line.length <= 76)).toBe(true);
    expect(decodeQp(out)).toEqual(Buffer.from('é'.repeat(100), 'latin1'));
  });

  it('decodes back to the same bytes for any chunking, bare CR kept, bare LF as CRLF', () => {
    const input = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256));
    const canonical = Buffer.from(input.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
    for (const size of [1, 2, 3, 75, 76, 77, 4096]) {
      const out = encode(new QuotedPrintableLines(), input, size);
      expect(out).toMatch(/^[\x20-\x7e\r\n\t]*$/);
      expect(out.split('\r\n').every((line) => line.length <= 76)).toBe(true);
      expect(decodeQp(out)).toEqual(canonical);
    }
  });
});

describe('Base64Lines', () => {
  it('writes 76-character lines with no line break after the last, for any chunking', () => {
    const input = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 31) % 256));
    for (const size of [1, 56, 57, 58, 1000]) {
      const out = encode(new Base64Lines(), input, size);
      const lines = out.split('\r\n');
      expect(lines.slice(0, -1).every((line) => line.length === 76)).toBe(true);
      expect(out.endsWith('\r\n')).toBe(false);
      expect(Buffer.from(lines.join(''), 'base64')).toEqual(input);
    }
    expect(encode(new Base64Lines(), Buffer.alloc(0))).toBe('');
  });
});
