import { describe, expect, it } from 'vitest';
import { assembleBody, textToHtml, type BodyPart } from './body-text.ts';

const alt = {};
const other = {};
const part = (kind: 'text' | 'html', content: string, alternatives: object[] = []): BodyPart => ({ kind, content, alternatives });

describe('assembleBody', () => {
  it('one alternative: text from text/plain, html from text/html', () => {
    expect(assembleBody([part('text', 'Hi', [alt]), part('html', '<p>Hi</p>', [alt])])).toEqual({ text: 'Hi', html: '<p>Hi</p>' });
  });

  it('several inline text parts are all kept, in order', () => {
    expect(assembleBody([part('text', 'one'), part('text', 'two')])).toEqual({ text: 'one\ntwo', html: undefined });
  });

  it('a text part with no HTML version of its own joins the html as escaped text', () => {
    const body = assembleBody([part('text', 'post', [alt]), part('html', '<p>post</p>', [alt]), part('text', 'footer <a@b>')]);
    expect(body.text).toBe('post\nfooter <a@b>');
    expect(body.html).toBe('<p>post</p>\n<div style="white-space: pre-wrap">footer &#60;a@b&#62;</div>');
  });

  it('HTML halves around an image are both kept', () => {
    expect(assembleBody([part('text', 'a b', [alt]), part('html', '<i>a</i>', [other, alt]), part('html', '<i>b</i>', [other, alt])]).html).toBe('<i>a</i>\n<i>b</i>');
  });

  it('omits empty fields', () => {
    expect(assembleBody([part('text', '')])).toEqual({ text: undefined, html: undefined });
    expect(assembleBody([])).toEqual({ text: undefined, html: undefined });
  });
});

describe('textToHtml', () => {
  it('escapes markup', () => {
    expect(textToHtml(`<script>&"'`)).toBe('<div style="white-space: pre-wrap">&#60;script&#62;&#38;&#34;&#39;</div>');
  });
});

describe('assembleBody with a part kept in a file', () => {
  const large = { kind: 'file' as const, path: '/spool/text1.txt', size: 10, specials: 2, blank: false };

  it('gives pieces: the file as is in text, escaped (five bytes per special) and wrapped in html', () => {
    const { text, html } = assembleBody([
      { kind: 'text', content: large, alternatives: [] },
      { kind: 'html', content: '<p>b</p>', alternatives: [] },
    ]);
    expect(text).toEqual([{ path: '/spool/text1.txt', escapeHtml: false, size: 10 }]);
    expect(html).toEqual(['<div style="white-space: pre-wrap">', { path: '/spool/text1.txt', escapeHtml: true, size: 18 }, '</div>\n<p>b</p>']);
  });

  it('leaves a blank large part out of html, as a blank string part', () => {
    const { html } = assembleBody([
      { kind: 'text', content: { ...large, blank: true }, alternatives: [] },
      { kind: 'html', content: '<p>b</p>', alternatives: [] },
    ]);
    expect(html).toBe('<p>b</p>');
  });
});
