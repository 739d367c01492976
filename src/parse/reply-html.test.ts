import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { visibleText } from '../../test/helpers/html-text.ts';
import { REPLY_HTML_MAX_CHARS, stripReplyHtml } from './reply-html.ts';

interface HtmlReply { id: string; kind: string; body: string; expected_text: string; held_out?: boolean }
const corpus = (JSON.parse(readFileSync(new URL('../../fixtures/replies/corpus.json', import.meta.url), 'utf8')) as HtmlReply[])
  .filter((r) => r.kind === 'html' && !r.held_out);

describe('stripReplyHtml', () => {
  it.each(corpus.map((r) => [r.id, r] as const))('%s: the quote container is gone, the new text stays', (_id, reply) => {
    expect(visibleText(stripReplyHtml(reply.body))).toBe(reply.expected_text);
  });

  it('keeps the source\'s markup and entities where nothing is removed', () => {
    const html = '<div dir="ltr">Caf&eacute; &amp; <b>bar</b>&nbsp;é</div>';
    expect(stripReplyHtml(html)).toBe(html);
  });

  it('removes everything after Outlook\'s marker, also outside its parent, but keeps the ancestors', () => {
    const html = '<body><div class="a"><p>new</p><div id="divRplyFwdMsg">From: x</div><p>old 1</p></div><p>old 2</p></body>';
    expect(stripReplyHtml(html)).toBe('<body><div class="a"><p>new</p></div></body>');
  });

  it.each([
    ['20,000 nested frames', `${'<div style="border-top:solid 1px">'.repeat(20_000)}x${'</div>'.repeat(20_000)}`],
    ['20,000 nested quotes', `${'<blockquote type="cite">'.repeat(20_000)}x${'</blockquote>'.repeat(20_000)}`],
    ['30,000 quote containers side by side', '<div class="gmail_quote">x</div>'.repeat(30_000)],
    ['25,000 Outlook header paragraphs', '<p class=MsoNormal>From: a Sent: b</p>'.repeat(25_000)],
  ])('stays fast (seconds at worst on a loaded machine, not minutes) and answers on hostile HTML: %s', (_name, html) => {
    const started = performance.now();
    expect(typeof stripReplyHtml(html)).toBe('string');
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('passes HTML over its size bound through unparsed', () => {
    const html = `<div class="gmail_quote">${'x'.repeat(REPLY_HTML_MAX_CHARS)}</div>`;
    expect(stripReplyHtml(html)).toBe(html);
  });
});
