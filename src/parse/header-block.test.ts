import { describe, expect, it } from 'vitest';
import {
  decodeHeaderValue, findHeader, readEnvelopeHeaders, splitHeaderBlock, unfoldHeaderLines,
} from './header-block.ts';

describe('splitHeaderBlock', () => {
  it('splits at the first blank line with CRLF', () => {
    const raw = Buffer.from('From: a@x.example\r\nSubject: hi\r\n\r\nbody\r\n\r\nmore');
    const { header, bodyStart } = splitHeaderBlock(raw);
    expect(header.toString()).toBe('From: a@x.example\r\nSubject: hi');
    expect(raw.subarray(bodyStart).toString()).toBe('body\r\n\r\nmore');
  });

  it('splits at the first blank line with bare LF', () => {
    const raw = Buffer.from('From: a@x.example\nSubject: hi\n\nbody\n\nmore');
    const { header, bodyStart } = splitHeaderBlock(raw);
    expect(header.toString()).toBe('From: a@x.example\nSubject: hi');
    expect(raw.subarray(bodyStart).toString()).toBe('body\n\nmore');
  });

  it('takes whichever blank line comes first when line endings are mixed', () => {
    const lfFirst = Buffer.from('A: 1\n\nbody\r\n\r\nrest');
    expect(splitHeaderBlock(lfFirst).header.toString()).toBe('A: 1');
    expect(lfFirst.subarray(splitHeaderBlock(lfFirst).bodyStart).toString()).toBe('body\r\n\r\nrest');
    const crlfFirst = Buffer.from('A: 1\r\n\r\nbody\n\nrest');
    expect(splitHeaderBlock(crlfFirst).header.toString()).toBe('A: 1');
    expect(crlfFirst.subarray(splitHeaderBlock(crlfFirst).bodyStart).toString()).toBe('body\n\nrest');
  });

  it('treats a message of header lines only as all header', () => {
    const raw = Buffer.from('A: 1\r\nB: 2\r\n folded\r\n');
    expect(splitHeaderBlock(raw)).toEqual({ header: raw, bodyStart: raw.length });
  });

  it('starts the body at the first line that is not a header when no blank line ends the headers', () => {
    const raw = Buffer.from('From: a@x.example\r\nSubject: hi\r\n there\r\nhello world\r\nsecond: line\r\n');
    const { header, bodyStart } = splitHeaderBlock(raw);
    expect(header.toString()).toBe('From: a@x.example\r\nSubject: hi\r\n there');
    expect(raw.subarray(bodyStart).toString()).toBe('hello world\r\nsecond: line\r\n');
    const lf = Buffer.from('Subject: hi\n<html><body>x</body></html>\n');
    expect(lf.subarray(splitHeaderBlock(lf).bodyStart).toString()).toBe('<html><body>x</body></html>\n');
  });

  it('reads obsolete space before the colon and an mbox From line as headers', () => {
    const raw = Buffer.from('From a@x.example Mon Jan  1 00:00:00 2024\r\nSubject : hi\r\n\r\nbody');
    expect(splitHeaderBlock(raw).header.toString()).toBe('From a@x.example Mon Jan  1 00:00:00 2024\r\nSubject : hi');
  });

  it('handles an empty body', () => {
    const raw = Buffer.from('A: 1\r\n\r\n');
    expect(splitHeaderBlock(raw).header.toString()).toBe('A: 1');
    expect(splitHeaderBlock(raw).bodyStart).toBe(raw.length);
  });
});

describe('unfoldHeaderLines', () => {
  it('joins continuation lines, removing only the line break', () => {
    const text = 'Subject: a very\r\n long\r\n\tsubject\r\nTo: x@y.example';
    expect(unfoldHeaderLines(text)).toEqual(['Subject: a very long\tsubject', 'To: x@y.example']);
  });

  it('works with LF line endings and several spaces', () => {
    expect(unfoldHeaderLines('A: 1\n   2\nB: 3')).toEqual(['A: 1   2', 'B: 3']);
  });

  it('drops empty lines', () => {
    expect(unfoldHeaderLines('A: 1\r\n\r\nB: 2\r\n')).toEqual(['A: 1', 'B: 2']);
  });

  it('keeps a leading continuation line (nothing to attach it to)', () => {
    expect(unfoldHeaderLines(' stray\r\nA: 1')).toEqual([' stray', 'A: 1']);
  });
});

describe('findHeader', () => {
  const lines = ['From: "Jane" <jane@x.example>', 'SUBJECT:  Hello  ', 'X-Subject-Copy: no', 'Subject: second'];

  it('finds the first header of that name, case-insensitively, value trimmed', () => {
    expect(findHeader(lines, 'subject')).toBe('Hello');
    expect(findHeader(lines, 'Subject')).toBe('Hello');
    expect(findHeader(lines, 'FROM')).toBe('"Jane" <jane@x.example>');
  });

  it('does not match a header whose name merely ends with or starts with the name', () => {
    expect(findHeader(['X-To: a', 'To-Do: b'], 'to')).toBeUndefined();
  });

  it('gives undefined when missing and "" when empty', () => {
    expect(findHeader(lines, 'cc')).toBeUndefined();
    expect(findHeader(['Cc:'], 'cc')).toBe('');
  });

  it('leaves encoded-words encoded', () => {
    expect(findHeader(['Subject: =?UTF-8?B?w6k=?='], 'subject')).toBe('=?UTF-8?B?w6k=?=');
  });
});

describe('decodeHeaderValue', () => {
  it('decodes B words', () => {
    expect(decodeHeaderValue('=?UTF-8?B?R3LDvMOfZQ==?=')).toBe('Grüße');
  });

  it('decodes Q words, underscore as space', () => {
    expect(decodeHeaderValue('=?utf-8?Q?hello_w=C3=B6rld?=')).toBe('hello wörld');
  });

  it('decodes ISO-8859-1 into UTF-8 text', () => {
    expect(decodeHeaderValue('=?ISO-8859-1?Q?Caf=E9?=')).toBe('Café');
    expect(decodeHeaderValue('=?iso-8859-1?B?Q2Fm6Q==?=')).toBe('Café');
  });

  it('removes whitespace between adjacent encoded-words but keeps plain text around them', () => {
    expect(decodeHeaderValue('=?UTF-8?Q?a?= =?UTF-8?Q?b?=')).toBe('ab');
    expect(decodeHeaderValue('Re: =?UTF-8?Q?caf=C3=A9?= ok')).toBe('Re: café ok');
  });

  it('decodes a display name and keeps the address', () => {
    expect(decodeHeaderValue('=?UTF-8?Q?Jos=C3=A9?= <jose@x.example>')).toBe('José <jose@x.example>');
  });

  it('leaves plain text as it is, trimmed', () => {
    expect(decodeHeaderValue('  plain subject ')).toBe('plain subject');
  });
});

describe('readEnvelopeHeaders', () => {
  it('reads to, from, subject and cc, decoded, with the unfolded header lines', () => {
    const raw = Buffer.from(
      'Received: from a\r\n\tby b; Wed, 25 Nov 2026 11:33:09 +0000\r\n' +
        'From: =?UTF-8?Q?Jos=C3=A9?= <jose@x.example>\r\n' +
        'To: inbox@parse.example.com\r\n' +
        'Cc: a@b.example,\r\n c@d.example\r\n' +
        'Subject: =?ISO-8859-1?Q?Caf=E9?=\r\n\r\n' +
        'To: not-a-header@body.example\r\n',
    );
    const headers = readEnvelopeHeaders(raw);
    expect(headers).toEqual({
      headerLines: [
        'Received: from a\tby b; Wed, 25 Nov 2026 11:33:09 +0000',
        'From: =?UTF-8?Q?Jos=C3=A9?= <jose@x.example>',
        'To: inbox@parse.example.com',
        'Cc: a@b.example, c@d.example',
        'Subject: =?ISO-8859-1?Q?Caf=E9?=',
      ],
      to: 'inbox@parse.example.com',
      from: 'José <jose@x.example>',
      subject: 'Café',
      cc: 'a@b.example, c@d.example',
    });
  });

  it('gives "" for missing to/from/subject and undefined for a missing cc', () => {
    expect(readEnvelopeHeaders(Buffer.from('X-Other: 1\r\n\r\nbody'))).toEqual({
      headerLines: ['X-Other: 1'], to: '', from: '', subject: '', cc: undefined,
    });
  });

  it('reads raw 8-bit Latin-1 header bytes', () => {
    const raw = Buffer.concat([Buffer.from('Subject: Caf'), Buffer.from([0xe9]), Buffer.from('\n\nbody')]);
    expect(readEnvelopeHeaders(raw).subject).toBe('Café');
  });

  it('reads raw 8-bit headers in the charset the message declares', () => {
    const raw = Buffer.concat([Buffer.from('Subject: '), Buffer.from([0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4]),
      Buffer.from('\r\nContent-Type: text/plain; charset="koi8-r"\r\n\r\nbody')]);
    expect(readEnvelopeHeaders(raw).subject).toBe('Привет');
  });

  it('quotes a decoded display name that holds a comma, so it stays one address', () => {
    const raw = Buffer.from('From: =?UTF-8?Q?Doe=2C_Jane?= <j@x.example>\r\nTo: "=?UTF-8?Q?Jos=C3=A9?=" <a@x.example>, b@x.example\r\n\r\n');
    expect(readEnvelopeHeaders(raw)).toMatchObject({ from: '"Doe, Jane" <j@x.example>', to: '"José" <a@x.example>, b@x.example' });
  });

  it('reads raw UTF-8 header bytes (SMTPUTF8)', () => {
    expect(readEnvelopeHeaders(Buffer.from('Subject: Grüße\r\nTo: üser@bücher.example\r\n\r\n', 'utf8'))).toMatchObject({
      subject: 'Grüße', to: 'üser@bücher.example',
    });
  });
});
