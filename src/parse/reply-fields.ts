/**
 * The reply fields of a parsed POST (route setting `strip_replies`): stripped_text and
 * stripped_signature from `text`, stripped_html from `html`. A body streamed from a file (over
 * large-text.ts's threshold) is looked at only in its first bytes: the reply is at the top, and a
 * huge body is not read into memory for it.
 */
import type { BodyField } from './body-text.ts';
import type { PayloadPart } from './payload.ts';
import { readTextHead } from './text-head.ts';
import { REPLY_SCAN_CHARS, stripReplyText } from './reply-text.ts';
import { stripReplyHtml } from './reply-html.ts';

export async function replyFields(text: BodyField | undefined, html: BodyField | undefined): Promise<PayloadPart[]> {
  const parts: PayloadPart[] = [];
  if (text !== undefined) {
    if (typeof text === 'string') {
      const stripped = stripReplyText(text);
      parts.push({ name: 'stripped_text', value: stripped.text }, { name: 'stripped_signature', value: stripped.signature });
    } else {
      const stripped = stripReplyText(await readTextHead(text, REPLY_SCAN_CHARS));
      parts.push(stripped.quoted ? { name: 'stripped_text', value: stripped.text } : { name: 'stripped_text', pieces: text });
      parts.push({ name: 'stripped_signature', value: stripped.quoted ? stripped.signature : '' });
    }
  }
  // A streamed HTML body goes as it is: a DOM of it would hold it all in memory several times.
  if (html !== undefined) parts.push(typeof html === 'string' ? { name: 'stripped_html', value: stripReplyHtml(html) } : { name: 'stripped_html', pieces: html });
  return parts;
}
