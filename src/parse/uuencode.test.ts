import { describe, expect, it } from 'vitest';
import { extractUuencoded, uudecodeLines, uudecodePart } from './uuencode.ts';

// "Cat" uuencoded by hand: 'C','a','t' = 0x43 0x61 0x74 -> 010000 110110 000101 110100.
const CAT = ['#0V%T', '`'];

describe('uudecodeLines', () => {
  it('decodes lines, the first character giving the byte count', () => {
    expect(uudecodeLines(CAT)).toEqual(Buffer.from('Cat'));
  });

  it('treats dropped trailing spaces as zero bits', () => {
    // "\0\0\0" encodes as "#" + four spaces; a transport that trims them leaves "#".
    expect(uudecodeLines(['#', '`'])).toEqual(Buffer.from([0, 0, 0]));
  });

  it('refuses characters outside uuencoding', () => {
    expect(uudecodeLines(['#0V%T~'])).toBeUndefined();
  });
});

describe('extractUuencoded', () => {
  it('cuts a block out of the text and returns its file', () => {
    const { text, files } = extractUuencoded(`Here:\nbegin 644 cat.txt\n${CAT.join('\n')}\nend\nBye\n`);
    expect(text).toBe('Here:\nBye\n');
    expect(files).toEqual([{ filename: 'cat.txt', data: Buffer.from('Cat') }]);
  });

  it('leaves text that only looks like a block', () => {
    const input = 'begin 644 notes\nthis is ~not~ uuencoded\nend\n';
    expect(extractUuencoded(input)).toEqual({ text: input, files: [] });
  });
});

describe('uudecodePart', () => {
  it('decodes a Content-Transfer-Encoding: x-uuencode part, or keeps its bytes', () => {
    expect(uudecodePart(Buffer.from(`begin 600 a.bin\r\n${CAT.join('\r\n')}\r\nend\r\n`))).toEqual({ filename: 'a.bin', data: Buffer.from('Cat') });
    expect(uudecodePart(Buffer.from('garbage'))).toEqual({ data: Buffer.from('garbage') });
  });
});
