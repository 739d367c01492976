/**
 * The file name and type an attachment reaches the app with. Pure.
 *
 * Names are made safe for every multipart reader: path separators become `_` (busboy and multer
 * keep only the part after the last `/` or `\`, Python keeps the whole name, so a name with a
 * path would arrive differently in each), control characters are dropped, and `.`/`..` or an empty
 * name get a generated one. Quotes, `;`, `%` and non-ASCII stay: encode-form.ts carries them.
 */
import { isUtf8 } from 'node:buffer';
import libmime from 'libmime';
import { headerText } from './charset.ts';
import { readEnvelopeHeaders } from './header-block.ts';

/** At most this many characters of a name (extension kept), well under file system limits. */
const MAX_NAME = 200;

export function safeFilename(name: string | undefined): string | undefined {
  if (!name) return undefined;
  // eslint-disable-next-line no-control-regex
  let safe = name.replace(/[\u0000-\u001f\u007f-\u009f]/g, '').replace(/[/\\]/g, '_').trim();
  if ([...safe].length > MAX_NAME) {
    const ext = /\.[^.]{1,10}$/.exec(safe)?.[0] ?? '';
    safe = [...safe].slice(0, MAX_NAME - ext.length).join('') + ext;
  }
  return safe && safe !== '.' && safe !== '..' ? safe : undefined;
}

/** Parts of bounce and read reports: plain text a person can open. */
const REPORT_TYPES = new Set(['message/delivery-status', 'message/disposition-notification', 'text/rfc822-headers', 'message/feedback-report']);

/** A name for a part that has none: what mail clients show for it. */
export function generatedFilename(index: number, contentType: string, embeddedSubject?: string): string {
  if (contentType === 'message/rfc822') return `${safeFilename(embeddedSubject?.slice(0, 100)) ?? 'forwarded-message'}.eml`;
  if (contentType === 'text/calendar') return 'invite.ics';
  return `attachment${index}.${REPORT_TYPES.has(contentType) ? 'txt' : libmime.detectExtension(contentType) || 'bin'}`;
}

/** application/octet-stream with a telling name gets the type the name says (report.pdf). */
export function effectiveType(contentType: string | false, filename: string | undefined): string {
  const type = contentType || 'application/octet-stream';
  if (type !== 'application/octet-stream' || !filename) return type;
  return libmime.detectMimeType(filename) || type;
}

/** The Subject of an embedded message, from the first bytes of it. */
export function embeddedSubject(head: Buffer): string | undefined {
  return readEnvelopeHeaders(head).subject || undefined;
}

interface HeaderLineSource {
  readonly headers: false | { getList(): { key: string; line: string }[] };
  readonly filename: string | false;
}

/**
 * The part's file name. mailsplit decodes RFC 2047 and RFC 2231 names and raw UTF-8; raw 8-bit
 * names in another charset (Shift_JIS from Japanese mailers) it reads as Latin-1, so those are
 * read again here with the message's charset.
 */
export function partFilename(node: HeaderLineSource, charsetHint: () => string | undefined): string | undefined {
  if (!node.filename || !node.headers) return node.filename || undefined;
  const line = node.headers.getList().find((l) => (l.key === 'content-disposition' || l.key === 'content-type') &&
    /[\x80-\xff]/.test(l.line) && /(?:file)?name\*?\s*=/i.test(l.line));
  if (!line) return node.filename;
  const bytes = Buffer.from(line.line, 'latin1');
  if (isUtf8(bytes)) return node.filename;
  const text = headerText(bytes, charsetHint()).replace(/\r?\n[ \t]*/g, ' ');
  const params = libmime.parseHeaderValue(text.slice(text.indexOf(':') + 1)).params;
  return params.filename || params.name || node.filename;
}
