/** Reading the raw header block of a message without parsing the body. Pure. */
import { decodeWords, headerText, withoutNul } from './charset.ts';

/** Bytes of the header block (without the blank line) and where the body starts. */
export function splitHeaderBlock(raw: Buffer): { header: Buffer; bodyStart: number } {
  const crlf = raw.indexOf('\r\n\r\n');
  // Only a bare-LF blank line before the CRLF one counts: no need to scan the rest of a large message.
  const lf = (crlf >= 0 ? raw.subarray(0, crlf) : raw).indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { header: raw.subarray(0, crlf), bodyStart: crlf + 4 };
  if (lf >= 0) return { header: raw.subarray(0, lf), bodyStart: lf + 2 };
  return { header: raw, bodyStart: raw.length };
}

/** One `Name: value` string per header, folds unfolded (the line break removed, whitespace kept). */
export function unfoldHeaderLines(headerText: string): string[] {
  const lines: string[] = [];
  for (const line of headerText.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && lines.length) lines[lines.length - 1] += line;
    else if (line) lines.push(line);
  }
  // A stray CR or NUL inside a line would break line-based readers of the `headers` field.
  return lines.map((line) => withoutNul(line).replace(/\r/g, ' '));
}

/** The first header of that name, value as written (encoded-words left encoded). */
export function findHeader(lines: readonly string[], name: string): string | undefined {
  const prefix = name.toLowerCase() + ':';
  const line = lines.find((l) => l.slice(0, prefix.length).toLowerCase() === prefix);
  return line === undefined ? undefined : line.slice(prefix.length).trim();
}

/** Decodes RFC 2047 encoded-words into UTF-8 text; malformed words are left as they are. */
export function decodeHeaderValue(value: string): string {
  return withoutNul(decodeWords(value)).trim();
}

const WORDS = String.raw`=\?[^?\s]+\?[bBqQ]\?[^?]*\?=(?:\s+=\?[^?\s]+\?[bBqQ]\?[^?]*\?=)*`;
const QUOTED_OR_WORDS = new RegExp(String.raw`"(?:[^"\\]|\\.)*"|(${WORDS})`, 'g');
const SPECIALS = /[",;<>@:\\()[\]]/;

/**
 * An address header (To, From, Cc) decoded, with a decoded display name quoted when it holds a
 * comma or another special: `=?UTF-8?Q?Doe=2C_John?= <j@x>` must not read as two addresses.
 * Encoded-words inside quotes (not allowed, but common) are decoded too.
 */
export function decodeAddressValue(value: string): string {
  const escape = (text: string) => text.replace(/["\\]/g, '\\$&');
  const decoded = value.replace(QUOTED_OR_WORDS, (match: string, words: string | undefined) => {
    if (words) {
      const text = decodeWords(words);
      return SPECIALS.test(text) ? `"${escape(text)}"` : text;
    }
    return match.includes('=?') ? match.replace(new RegExp(WORDS, 'g'), (w) => escape(decodeWords(w))) : match;
  });
  return withoutNul(decoded).trim();
}

/**
 * The charset a message declares, used for raw 8-bit header bytes that are not UTF-8: the
 * top-level Content-Type's, else the first `charset=` anywhere in the first 256 KiB of the body
 * (a part's Content-Type, as a rule).
 */
export function declaredCharset(headerLines: readonly string[], raw: Buffer, bodyStart: number): string | undefined {
  const pattern = /charset\s*=\s*"?([\w.:-]+)/i;
  const own = pattern.exec(findHeader(headerLines, 'content-type') ?? '');
  if (own) return own[1];
  const body = raw.subarray(bodyStart, bodyStart + 256 * 1024).toString('latin1');
  return pattern.exec(body)?.[1];
}

/** The header fields apps read from both parsed and raw payloads. */
export interface EnvelopeHeaders {
  readonly headerLines: string[];
  readonly to: string;
  readonly from: string;
  readonly subject: string;
  readonly cc: string | undefined;
}

export function readEnvelopeHeaders(raw: Buffer, charsetHint?: string): EnvelopeHeaders {
  const { header, bodyStart } = splitHeaderBlock(raw);
  // Decoding needs the hint only when the bytes are not UTF-8 (it may read 256 KiB of the body).
  const latin = header.toString('latin1');
  const hint = charsetHint ?? (/[\x80-\xff]/.test(latin) ? declaredCharset(unfoldHeaderLines(latin), raw, bodyStart) : undefined);
  const headerLines = unfoldHeaderLines(headerText(header, hint));
  const get = (name: string, decode: (value: string) => string) => {
    const value = findHeader(headerLines, name);
    return value === undefined ? undefined : decode(value);
  };
  return {
    headerLines,
    to: get('to', decodeAddressValue) ?? '',
    from: get('from', decodeAddressValue) ?? '',
    subject: get('subject', decodeHeaderValue) ?? '',
    cc: get('cc', decodeAddressValue),
  };
}
