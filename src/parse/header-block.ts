/** Reading the raw header block of a message without parsing the body. Pure. */
import { decodeWords, headerText, withoutNul } from './charset.ts';

/** Bytes of the header block (without the blank line) and where the body starts. */
export function splitHeaderBlock(raw: Buffer): { header: Buffer; bodyStart: number } {
  const { headerEnd, bodyStart } = headerBlockEnd(raw, 0);
  return { header: raw.subarray(0, headerEnd), bodyStart };
}

/**
 * Where the header block that starts at `from` ends (its last line break excluded) and where the
 * body starts: after the first blank line, or, as Python's email parser and mail clients read a
 * block with no blank line, at the first line that is neither a header field (`Name:`, obsolete
 * space before the colon allowed, or an mbox `From ` line) nor a folded continuation. That line
 * is body: without this rule a body that follows its headers directly was read as more headers.
 * `blank` says whether the block was ended by a blank line.
 */
export function headerBlockEnd(raw: Buffer, from: number): { headerEnd: number; bodyStart: number; blank: boolean } {
  let line = from;
  while (line < raw.length) {
    const lf = raw.indexOf(0x0a, line);
    const next = lf < 0 ? raw.length : lf + 1;
    const blank = raw[line] === 0x0a || (raw[line] === 0x0d && (next - line === 1 || raw[line + 1] === 0x0a));
    if (blank) return { headerEnd: lineBreakStart(raw, from, line), bodyStart: next, blank: true };
    if (!isHeaderLine(raw, line, next)) return { headerEnd: lineBreakStart(raw, from, line), bodyStart: line, blank: false };
    line = next;
  }
  return { headerEnd: raw.length, bodyStart: raw.length, blank: false };
}

/** Where the line break before the line at `at` starts (`from` if the block is empty). */
function lineBreakStart(raw: Buffer, from: number, at: number): number {
  let end = at;
  if (end > from && raw[end - 1] === 0x0a) end--;
  if (end > from && raw[end - 1] === 0x0d) end--;
  return end;
}

/** A header field line, a continuation line, or an mbox `From ` line. */
function isHeaderLine(raw: Buffer, start: number, end: number): boolean {
  const first = raw[start];
  if (first === 0x20 || first === 0x09) return true;
  if (end - start >= 5 && raw.toString('latin1', start, start + 5) === 'From ') return true;
  let i = start;
  // Field name: printable US-ASCII except the colon (RFC 5322 ftext).
  while (i < end && raw[i]! > 0x20 && raw[i]! < 0x7f && raw[i] !== 0x3a) i++;
  if (i === start) return false;
  while (i < end && (raw[i] === 0x20 || raw[i] === 0x09)) i++;
  return raw[i] === 0x3a;
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
