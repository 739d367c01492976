import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REPLY_SCAN_CHARS, stripReplyText } from './reply-text.ts';

interface TextReply { id: string; kind: string; body: string; expected_text: string; expected_signature: string; held_out?: boolean }
const corpus = (JSON.parse(readFileSync(new URL('../../fixtures/replies/corpus.json', import.meta.url), 'utf8')) as TextReply[])
  .filter((r) => r.kind === 'text' && !r.held_out);

describe('stripReplyText', () => {
  it.each(corpus.map((r) => [r.id, r] as const))('%s: new text and signature as a reader sees them', (_id, reply) => {
    const got = stripReplyText(reply.body);
    expect({ text: got.text, signature: got.signature }).toEqual({ text: reply.expected_text, signature: reply.expected_signature });
  });

  it('keeps a message that quotes nothing whole, and says so', () => {
    expect(stripReplyText('Hello\r\n\r\nA new message.\r\n')).toEqual({ text: 'Hello\n\nA new message.', signature: '', quoted: false });
  });

  it('cuts at Outlook\'s From:/Sent: pair even without an address in brackets', () => {
    const got = stripReplyText('Yes.\n\nFrom: John Smith\nSent: Tuesday\nTo: Jane\n\nQuestion?');
    expect(got).toEqual({ text: 'Yes.', signature: '', quoted: true });
  });

  it.each([
    ['Dutch openings and closings (cubic in the library)', 'Op schreef\n'.repeat(12_000)],
    ['Chinese openings', '在 写道\n'.repeat(25_000)],
    ['one long line (quadratic in the library)', `On ${'a '.repeat(60_000)}`],
    ['long From: lines', `From: ${'<a '.repeat(330)}\n`.repeat(128)],
    ['openings just under the bound', `${'Op a\n'.repeat(49)}${'schreef\n'.repeat(8)}${'y\n'.repeat(60_000)}`],
  ])('stays fast on hostile text: %s', (_name, body) => {
    const started = performance.now();
    stripReplyText(body);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('gives a long line back whole although the library sees a stand-in for it', () => {
    const line = 'word '.repeat(400).trim();
    expect(stripReplyText(`${line}\n\nOn Tue, Mar 3, 2026 at 10:00 AM J <j@example.com> wrote:\n\n> q\n`).text).toBe(line);
  });

  it('keeps a long text with no quote near its top whole, and bounds the work', () => {
    const body = `${'word '.repeat(REPLY_SCAN_CHARS / 2)}\n\nOn Tue, Mar 3, 2026 at 10:00 AM John <j@example.com> wrote:\n> q\n`;
    const started = performance.now();
    const got = stripReplyText(body);
    expect(got.text).toBe(body.trim());
    expect(got.quoted).toBe(false);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
