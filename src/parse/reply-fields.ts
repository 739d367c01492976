/**
 * The reply fields of a parsed POST (route setting `strip_replies`): stripped_text and
 * stripped_signature from `text`, stripped_html from `html`. A body streamed from a file (over
 * large-text.ts's threshold) is looked at only in its first bytes: the reply is at the top, and a
 * huge body is not read into memory for it.
 */
import { open } from 'node:fs/promises';
import type { BodyField } from './body-text.ts';
import type { PayloadPart, TextPiece } from './payload.ts';
import { REPLY_SCAN_CHARS, stripReplyText } from './reply-text.ts';
import { stripReplyHtml } from './reply-html.ts';

export async function replyFields(text: BodyField | undefined, html: BodyField | undefined): Promise<PayloadPart[]> {
  const parts: PayloadPart[] = [];
  if (text !== undefined) {
    if (typeof text === 'string') {
      const stripped = stripReplyText(text);
      parts.push({ name: 'stripped_text', value: stripped.text }, { name: 'stripped_signature', value: stripped.signature });
    } else {
      const stripped = stripReplyText(await headOf(text, REPLY_SCAN_CHARS));
      parts.push(stripped.quoted ? { name: 'stripped_text', value: stripped.text } : { name: 'stripped_text', pieces: text });
      parts.push({ name: 'stripped_signature', value: stripped.quoted ? stripped.signature : '' });
    }
  }
  // A streamed HTML body goes as it is: a DOM of it would hold it all in memory several times.
  if (html !== undefined) parts.push(typeof html === 'string' ? { name: 'stripped_html', value: stripReplyHtml(html) } : { name: 'stripped_html', pieces: html });
  return parts;
}

/** About the first `chars` characters of a streamed text field (UTF-8 files, read only that far). */
async function headOf(pieces: readonly TextPiece[], chars: number): Promise<string> {
  let head = '';
  for (const piece of pieces) {
    if (head.length >= chars) break;
    if (typeof piece === 'string') {
      head += piece;
      continue;
    }
    const file = await open(piece.path);
    try {
      const buffer = Buffer.alloc(Math.min(piece.size, chars * 4));
      const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
      head += new TextDecoder().decode(buffer.subarray(0, bytesRead));
    } finally {
      await file.close();
    }
  }
  return head.slice(0, chars);
}
