import { describe, expect, it } from 'vitest';
import { effectiveType, generatedFilename, partFilename, safeFilename } from './attachment-names.ts';

describe('safeFilename', () => {
  it('replaces path separators and drops control characters', () => {
    expect(safeFilename('../../etc/passwd')).toBe('.._.._etc_passwd');
    expect(safeFilename('C:\\Users\\a.txt')).toBe('C:_Users_a.txt');
    expect(safeFilename('a\r\nb\0c\u0085.txt')).toBe('abc.txt');
  });

  it('keeps quotes, semicolons, percent signs and non-ASCII', () => {
    expect(safeFilename('résumé "final"; 100%.pdf')).toBe('résumé "final"; 100%.pdf');
  });

  it('gives undefined for nothing usable', () => {
    for (const name of [undefined, '', ' ', '.', '..', '\u0001']) expect(safeFilename(name)).toBeUndefined();
  });

  it('shortens very long names, keeping the extension', () => {
    const safe = safeFilename(`${'x'.repeat(500)}.pdf`)!;
    expect([...safe].length).toBe(200);
    expect(safe.endsWith('.pdf')).toBe(true);
  });
});

describe('generatedFilename', () => {
  it('names parts after what they are', () => {
    expect(generatedFilename(3, 'message/rfc822', 'Re: a/b')).toBe('Re: a_b.eml');
    expect(generatedFilename(3, 'message/rfc822', undefined)).toBe('forwarded-message.eml');
    expect(generatedFilename(1, 'text/calendar')).toBe('invite.ics');
    expect(generatedFilename(2, 'image/png')).toBe('attachment2.png');
    expect(generatedFilename(4, 'message/delivery-status')).toBe('attachment4.txt');
  });
});

describe('effectiveType', () => {
  it('uses the name only for application/octet-stream', () => {
    expect(effectiveType('application/octet-stream', 'a.pdf')).toBe('application/pdf');
    expect(effectiveType('image/png', 'a.pdf')).toBe('image/png');
    expect(effectiveType(false, undefined)).toBe('application/octet-stream');
  });
});

describe('partFilename', () => {
  const node = (line: string, filename: string) => ({ filename, headers: { getList: () => [{ key: 'content-disposition', line }] } });

  it('reads raw 8-bit names again in the message charset', () => {
    const koi = Buffer.from([0xcf, 0xd4, 0xde, 0xa3, 0xd4]).toString('latin1'); // "отчёт" in KOI8-R
    const line = `Content-Disposition: attachment; filename="${koi}.pdf"`;
    expect(partFilename(node(line, `${koi}.pdf`), () => 'koi8-r')).toBe('отчёт.pdf');
  });

  it('keeps what mailsplit decoded when the header is ASCII or UTF-8', () => {
    expect(partFilename(node('Content-Disposition: attachment; filename="=?UTF-8?Q?a=C3=A9?="', 'aé'), () => 'koi8-r')).toBe('aé');
    expect(partFilename({ filename: false, headers: false }, () => undefined)).toBeUndefined();
  });
});
