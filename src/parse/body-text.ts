/**
 * From the message's inline text parts to the `text` and `html` fields. Pure.
 *
 * Several inline text parts (Apple Mail's text / image / text, a mailing list's footer appended as
 * its own part, a scanner's notice) are all shown by mail clients, one after the other, so they are
 * all kept, in message order: `text` joins every text/plain part, `html` every text/html part, and a
 * text/plain part with no HTML version of its own (no text/html in the same multipart/alternative)
 * is added to `html` as escaped text, so an app that renders `html` shows everything a reader sees.
 */

export interface BodyPart {
  readonly kind: 'text' | 'html';
  readonly content: string;
  /** The multipart/alternative nodes above the part, nearest first. */
  readonly alternatives: readonly object[];
}

export function assembleBody(parts: readonly BodyPart[]): { text: string | undefined; html: string | undefined } {
  const plain = parts.filter((p) => p.kind === 'text');
  const html = parts.filter((p) => p.kind === 'html');
  const text = plain.map((p) => p.content).join('\n');
  if (!html.length) return { text: text || undefined, html: undefined };
  const hasHtmlVersion = (part: BodyPart) =>
    part.alternatives.length > 0 && html.some((h) => h.alternatives.includes(part.alternatives[0]));
  const htmlText = parts
    .filter((p) => p.kind === 'html' || (!hasHtmlVersion(p) && p.content.trim() !== ''))
    .map((p) => (p.kind === 'html' ? p.content : textToHtml(p.content)))
    .join('\n');
  return { text: text || undefined, html: htmlText || undefined };
}

export function textToHtml(text: string): string {
  const escaped = text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<div style="white-space: pre-wrap">${escaped}</div>`;
}
