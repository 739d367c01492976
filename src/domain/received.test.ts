import { describe, expect, it } from 'vitest';
import { buildReceivedHeader, formatRfc5322Date, type TraceInfo } from './received.ts';

const info: TraceInfo = {
  helo: 'mail.sender.example',
  clientIp: '192.0.2.10',
  clientHostname: 'mail.sender.example',
  ourHostname: 'mx.parse.example.com',
  id: 'abc123',
  recipients: ['inbox@parse.example.com'],
  secure: false,
  date: new Date('2026-11-25T11:33:09Z'),
};

/** Header lines: every line but the first must be a continuation (start with whitespace). */
const physicalLines = (header: string) => header.replace(/\r\n$/, '').split('\r\n');

describe('buildReceivedHeader', () => {
  it('writes the full trace header, folded with CRLF and a tab', () => {
    expect(buildReceivedHeader(info)).toBe(
      'Received: from mail.sender.example (mail.sender.example [192.0.2.10])\r\n' +
        '\tby mx.parse.example.com (mxhook) with ESMTP id abc123\r\n' +
        '\tfor <inbox@parse.example.com>;\r\n' +
        '\tWed, 25 Nov 2026 11:33:09 +0000\r\n',
    );
  });

  it('says ESMTPS for a TLS session', () => {
    expect(buildReceivedHeader({ ...info, secure: true })).toContain('with ESMTPS id abc123');
  });

  it('says UTF8SMTP(S) for an SMTPUTF8 session and keeps UTF-8 HELO and recipient as they are', () => {
    const header = buildReceivedHeader({ ...info, utf8: true, helo: 'mail.δοκιμή.example', recipients: ['δοκιμή@parse.example.com'] });
    expect(header).toContain('with UTF8SMTP id abc123');
    expect(header).toMatch(/^Received: from mail\.δοκιμή\.example \(/);
    expect(header).toContain('for <δοκιμή@parse.example.com>;');
    expect(buildReceivedHeader({ ...info, utf8: true, secure: true })).toContain('with UTF8SMTPS id abc123');
  });

  it('writes the for clause only for a single recipient', () => {
    const two = buildReceivedHeader({ ...info, recipients: ['a@parse.example.com', 'b@parse.example.com'] });
    expect(two).not.toContain('for <');
    expect(two).not.toContain('a@parse.example.com');
    expect(two).not.toContain('b@parse.example.com');
    expect(two).toContain('id abc123;\r\n\tWed, 25 Nov 2026 11:33:09 +0000\r\n');
    expect(buildReceivedHeader({ ...info, recipients: [] })).not.toContain('for <');
  });

  it('leaves out the reverse-DNS name when there is none', () => {
    expect(buildReceivedHeader({ ...info, clientHostname: undefined })).toMatch(/^Received: from mail\.sender\.example \(\[192\.0\.2\.10\]\)\r\n/);
  });

  it('writes an IPv6 client as an IPv6: address literal', () => {
    const header = buildReceivedHeader({ ...info, clientIp: '2001:db8::25', clientHostname: undefined });
    expect(header).toMatch(/^Received: from mail\.sender\.example \(\[IPv6:2001:db8::25\]\)\r\n/);
  });

  it('says unknown for an empty HELO', () => {
    expect(buildReceivedHeader({ ...info, helo: '' })).toMatch(/^Received: from unknown \(/);
  });

  it('cannot be made to carry an extra header line by CR/LF in the HELO', () => {
    const header = buildReceivedHeader({ ...info, helo: 'evil\r\nX-Injected: yes\r\n\r\nbody' });
    const lines = physicalLines(header);
    expect(lines[0].startsWith('Received: ')).toBe(true);
    for (const line of lines.slice(1)) expect(line).toMatch(/^\t/);
    expect(header).not.toMatch(/\r\nX-Injected/);
    expect(header).not.toMatch(/[\r\n](?!\t)[^\r\n]/);
    expect(lines).toHaveLength(4);
  });

  it('cannot be broken by CR/LF or comment characters in the rDNS name or the recipient', () => {
    const header = buildReceivedHeader({
      ...info,
      clientHostname: 'a.example)\nX-Bad: 1 (',
      recipients: ['x@y.example>\r\nX-Bad: 2;'],
    });
    for (const line of physicalLines(header).slice(1)) expect(line).toMatch(/^\t/);
    expect(header).not.toMatch(/\r\nX-Bad/);
    // the parentheses and angle brackets stay balanced
    expect(header.match(/\(/g)?.length).toBe(header.match(/\)/g)?.length);
    expect(header.match(/</g)?.length).toBe(1);
    expect(header.match(/>/g)?.length).toBe(1);
  });

  it('caps a very long HELO', () => {
    const header = buildReceivedHeader({ ...info, helo: 'h'.repeat(2000) });
    expect(header.length).toBeLessThan(600);
  });

  it('ends with CRLF so it can be prepended to the message', () => {
    expect(buildReceivedHeader(info).endsWith('+0000\r\n')).toBe(true);
  });
});

describe('formatRfc5322Date', () => {
  it('formats in UTC with day name, unpadded day, month name and +0000', () => {
    expect(formatRfc5322Date(new Date('2026-11-25T11:33:09Z'))).toBe('Wed, 25 Nov 2026 11:33:09 +0000');
    expect(formatRfc5322Date(new Date('2026-01-05T03:04:05Z'))).toBe('Mon, 5 Jan 2026 03:04:05 +0000');
    expect(formatRfc5322Date(new Date('2024-02-29T23:59:59.999Z'))).toBe('Thu, 29 Feb 2024 23:59:59 +0000');
    expect(formatRfc5322Date(new Date('2000-12-31T00:00:00Z'))).toBe('Sun, 31 Dec 2000 00:00:00 +0000');
  });

  it('uses UTC whatever the offset of the input', () => {
    expect(formatRfc5322Date(new Date('2026-07-01T01:30:00+02:00'))).toBe('Tue, 30 Jun 2026 23:30:00 +0000');
  });

  it('gives a date Date.parse reads back to the same second', () => {
    const date = new Date('2026-05-17T08:09:10Z');
    expect(Date.parse(formatRfc5322Date(date))).toBe(date.getTime());
  });
});
