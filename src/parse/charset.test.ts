import { describe, expect, it } from 'vitest';
import { charsetKind, decodeText, decodeWords, headerText, withoutNul } from './charset.ts';

const bytes = (...b: number[]) => Buffer.from(b);

describe('decodeText', () => {
  it('decodes the charsets mail is written in', () => {
    expect(decodeText(bytes(0x43, 0x61, 0x66, 0xe9), 'ISO-8859-1')).toBe('Café');
    expect(decodeText(bytes(0xa4), 'iso-8859-15')).toBe('€');
    expect(decodeText(bytes(0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4), 'koi8-r')).toBe('Привет');
    expect(decodeText(Buffer.from('GyRCRnxLXDhsGyhC', 'base64'), 'ISO-2022-JP')).toBe('日本語');
    expect(decodeText(Buffer.from('k/qWe4zq', 'base64'), 'shift_jis')).toBe('日本語');
    expect(decodeText(Buffer.from('1tDOxA==', 'base64'), 'gb2312')).toBe('中文');
    expect(decodeText(Buffer.from('pKSk5Q==', 'base64'), '"big5"')).toBe('中文');
  });

  it('falls back to UTF-8, then Windows-1252, for a missing, ASCII or unknown label', () => {
    const utf8 = Buffer.from('Grüße', 'utf8');
    const latin = bytes(0x47, 0x72, 0xfc, 0xdf, 0x65, 0x20, 0x93, 0x71, 0x94);
    for (const label of [undefined, false, '', 'us-ascii', 'x-klingon'] as const) {
      expect(decodeText(utf8, label)).toBe('Grüße');
      expect(decodeText(latin, label)).toBe('Grüße “q”');
    }
  });

  it('never decodes UTF-7 (it would turn +ADw- into <)', () => {
    expect(charsetKind('utf-7')).toBe('fallback');
    expect(charsetKind('UNICODE-1-1-UTF-7')).toBe('fallback');
    expect(decodeText(Buffer.from('+ADw-script+AD4-'), 'utf-7')).toBe('+ADw-script+AD4-');
  });

  it('shows bad bytes in labelled UTF-8 as U+FFFD, as mail clients do', () => {
    expect(decodeText(bytes(0x43, 0xe9), 'utf-8')).toBe('C\ufffd');
  });
});

describe('decodeWords', () => {
  it('decodes known charsets and reads unknown ones with the fallback', () => {
    expect(decodeWords('=?windows-1251?B?z/Do4uXy?=')).toBe('Привет');
    expect(decodeWords('=?x-unknown?Q?caf=E9?=')).toBe('café');
    expect(decodeWords('=?x-unknown?Q?caf=C3=A9?=')).toBe('café');
  });

  it('joins a character split across two words and leaves broken words as written', () => {
    expect(decodeWords('=?UTF-8?Q?=E2=9C?= =?UTF-8?Q?=93?=')).toBe('✓');
    expect(decodeWords('=?UTF-8?Q?broken')).toBe('=?UTF-8?Q?broken');
  });
});

describe('headerText', () => {
  it('reads UTF-8, then the message charset, then Windows-1252', () => {
    expect(headerText(Buffer.from('Grüße', 'utf8'), 'koi8-r')).toBe('Grüße');
    expect(headerText(bytes(0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4), 'koi8-r')).toBe('Привет');
    expect(headerText(bytes(0x43, 0x61, 0x66, 0xe9), undefined)).toBe('Café');
    expect(headerText(bytes(0x43, 0x61, 0x66, 0xe9), 'utf-8')).toBe('Café');
  });

  it('reads Windows-1252, not Latin-1: curly quotes and the euro sign', () => {
    expect(headerText(bytes(0x93, 0x68, 0x69, 0x94, 0x20, 0x80), undefined)).toBe('“hi” €');
    expect(headerText(bytes(0x41, 0xff, 0xfe, 0x42), undefined)).toBe('A\u00ff\u00feB');
  });

  it('is reusable after a failure (the fatal decoder keeps no state)', () => {
    headerText(bytes(0xc3), undefined);
    expect(headerText(Buffer.from('é', 'utf8'), undefined)).toBe('é');
  });
});

describe('withoutNul', () => {
  it('drops NUL characters only', () => {
    expect(withoutNul('a\0b\0\0c')).toBe('abc');
    expect(withoutNul('plain')).toBe('plain');
  });
});
