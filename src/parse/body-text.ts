/**
 * From the message's inline text parts to the `text` and `html` fields. Pure.
 *
 * Several inline text parts (Apple Mail's text / image / text, a mailing list's footer appended as
 * its own part, a scanner's notice) are all shown by mail clients, one after the other, so they are
 * all kept, in message order: `text` joins every text/plain part, `html` every text/html part, and a
 * text/plain part with no HTML version of its own (no text/html in the same multipart/alternative)
 * is added to `html` as escaped text, so an app that renders `html` shows everything a reader sees.
 *
 * A part too big to hold as a string (large-text.ts) stays in its file: the fields that include
 * it come out as pieces (strings and files, a file escaped on the way into `html`), sent as they are
 * streamed, never joined in memory.
 */
import type { LargeText } from './large-text.ts';
import type { TextPiece } from './payload.ts';

export interface BodyPart {
  readonly kind: 'text' | 'html';
  readonly content: string | LargeText;
  /** The multipart/alternative nodes above the part, nearest first. */
  readonly alternatives: readonly object[];
}

/** A field's value: a string, or pieces when a large part is in it. */
export type BodyField = string | readonly TextPiece[];

const DIV_OPEN = '<div style="white-space: pre-wrap">';
const DIV_CLOSE = '</div>';

export function assembleBody(parts: readonly BodyPart[]): { text: BodyField | undefined; html: BodyField | undefined } {
  const plain = parts.filter((p) => p.kind === 'text');
  const html = parts.filter((p) => p.kind === 'html');
  const text = joined(plain.map((p) => [piece(p.content, false)]));
  if (!html.length) return { text, html: undefined };
  const hasHtmlVersion = (part: BodyPart) =>
    part.alternatives.length > 0 && html.some((h) => h.alternatives.includes(part.alternatives[0]));
  const isBlank = (content: string | LargeText) => (typeof content === 'string' ? content.trim() === '' : content.blank);
  const htmlText = joined(parts
    .filter((p) => p.kind === 'html' || (!hasHtmlVersion(p) && !isBlank(p.content)))
    .map((p) => {
      if (p.kind === 'html') return [piece(p.content, false)];
      return typeof p.content === 'string' ? [textToHtml(p.content)] : [DIV_OPEN, piece(p.content, true), DIV_CLOSE];
    }));
  return { text, html: htmlText };
}

export function textToHtml(text: string): string {
  const escaped = text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `${DIV_OPEN}${escaped}${DIV_CLOSE}`;
}

function piece(content: string | LargeText, escapeHtml: boolean): TextPiece {
  if (typeof content === 'string') return escapeHtml ? textToHtml(content) : content;
  // Every special character becomes five bytes (`&#60;`).
  return { path: content.path, escapeHtml, size: content.size + (escapeHtml ? 4 * content.specials : 0) };
}

/** The items joined by LF: one string when all are strings (nearly every message), else pieces; undefined when empty. */
function joined(items: TextPiece[][]): BodyField | undefined {
  const pieces: TextPiece[] = [];
  items.forEach((item, i) => {
    if (i > 0) pieces.push('\n');
    pieces.push(...item);
  });
  if (pieces.every((p) => typeof p === 'string')) return (pieces as string[]).join('') || undefined;
  const merged: TextPiece[] = [];
  for (const p of pieces) {
    const last = merged[merged.length - 1];
    if (typeof p === 'string' && typeof last === 'string') merged[merged.length - 1] = last + p;
    else if (p !== '' && !(typeof p !== 'string' && p.size === 0)) merged.push(p);
  }
  return merged.length ? merged : undefined;
}
