/** Reading the raw header block of a message without parsing the body. Pure. */
import libmime from 'libmime';

/** Bytes of the header block (without the blank line) and where the body starts. */
export function splitHeaderBlock(raw: Buffer): { header: Buffer; bodyStart: number } {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { header: raw.subarray(0, crlf), bodyStart: crlf + 4 };
  if (lf >= 0) return { header: raw.subarray(0, lf), bodyStart: lf + 2 };
  return { header: raw, bodyStart: raw.length };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Header bytes as text: UTF-8 when they are valid UTF-8 (SMTPUTF8 mail, or raw 8-bit UTF-8 that
 * some clients send), else Latin-1, which maps every byte to one character and never fails.
 */
export function headerBytesToText(bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}

/** One `Name: value` string per header, folds unfolded (the line break removed, whitespace kept). */
export function unfoldHeaderLines(headerText: string): string[] {
  const lines: string[] = [];
  for (const line of headerText.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && lines.length) lines[lines.length - 1] += line;
    else if (line) lines.push(line);
  }
  return lines;
}

/** The first header of that name, value as written (encoded-words left encoded). */
export function findHeader(lines: readonly string[], name: string): string | undefined {
  const prefix = name.toLowerCase() + ':';
  const line = lines.find((l) => l.slice(0, prefix.length).toLowerCase() === prefix);
  return line === undefined ? undefined : line.slice(prefix.length).trim();
}

/** Decodes RFC 2047 encoded-words into UTF-8 text; malformed words are left as they are. */
export function decodeHeaderValue(value: string): string {
  try {
    return libmime.decodeWords(value).trim();
  } catch {
    return value.trim();
  }
}

/** The header fields apps read from both parsed and raw payloads. */
export interface EnvelopeHeaders {
  readonly headerLines: string[];
  readonly to: string;
  readonly from: string;
  readonly subject: string;
  readonly cc: string | undefined;
}

export function readEnvelopeHeaders(raw: Buffer): EnvelopeHeaders {
  const headerLines = unfoldHeaderLines(headerBytesToText(splitHeaderBlock(raw).header));
  const get = (name: string) => {
    const value = findHeader(headerLines, name);
    return value === undefined ? undefined : decodeHeaderValue(value);
  };
  return { headerLines, to: get('to') ?? '', from: get('from') ?? '', subject: get('subject') ?? '', cc: get('cc') };
}
