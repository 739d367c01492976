import { describe, expect, it } from 'vitest';
import { splicedPieces, splitterSplices } from './splitter-input.ts';

const fed = (raw: string) => {
  const bytes = Buffer.from(raw);
  return Buffer.concat(splicedPieces(bytes, splitterSplices(bytes))).toString();
};

describe('splitterSplices', () => {
  it('changes nothing in a well-formed message', () => {
    const raw = 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n';
    expect(splitterSplices(Buffer.from(raw))).toEqual([]);
    expect(fed(raw)).toBe(raw);
  });

  it('adds the missing blank line after a header block, with the line ending the block uses', () => {
    expect(fed('Subject: x\r\nbody\r\n')).toBe('Subject: x\r\n\r\nbody\r\n');
    expect(fed('Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nhi\n--b--\n'))
      .toBe('Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n--b--\n');
  });

  it('renames a boundary parameter on a type that is not multipart, not one in a quoted value', () => {
    expect(fed('Content-Type: text/html; name="a;boundary=q"; boundary="x"\r\n\r\n--x\r\n'))
      .toBe('Content-Type: text/html; name="a;boundary=q"; x-boundary="x"\r\n\r\n--x\r\n');
  });

  it('follows nested multiparts and an ancestor\'s delimiter closing an unclosed inner one', () => {
    const raw = 'Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n' +
      '--i\r\nContent-Type: text/plain\r\n\r\na\r\n--o\r\nContent-Type: text/plain\r\nb\r\n--o--\r\nepilogue\r\n--o\r\nnot: a part\r\nx\r\n';
    expect(fed(raw)).toBe(raw.replace('text/plain\r\nb', 'text/plain\r\n\r\nb'));
  });
});

describe('splitterSplices and empty parts', () => {
  it('adds no blank line to a part whose headers are followed by a delimiter (an empty part, as the splitter reads it)', () => {
    const raw = 'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n--b\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n';
    expect(splitterSplices(Buffer.from(raw))).toEqual([]);
  });
});

describe('splitterSplices and a multipart without the blank line', () => {
  it('adds the blank line before the multipart\'s own first delimiter, so its parts are found', () => {
    expect(fed('Content-Type: multipart/mixed; boundary=b\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n'))
      .toBe('Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n');
  });
});
