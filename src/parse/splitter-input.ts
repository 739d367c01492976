/**
 * What mailsplit's splitter is fed: the message with two mends, as RFC 2045/2046 and mail clients
 * read it (the stored message is never changed). Pure.
 *
 * - A header block with no blank line after it gets one before its first line that is not a
 *   header (header-block.ts): the splitter would read the body as more header lines, and drop a
 *   part whose next delimiter comes before any blank line.
 * - A `boundary=` parameter on a type that is not multipart is renamed `x-boundary=`: the
 *   splitter would split a text/html part at `--boundary` lines of its HTML.
 *
 * To find the header blocks of parts it follows the multipart delimiters the way the splitter
 * does: the current multipart's own boundary, and the boundary of every open ancestor.
 */
import libmime from 'libmime';
import { headerBlockEnd, unfoldHeaderLines } from './header-block.ts';

export interface Splice {
  /** Offset in the message. */
  readonly at: number;
  readonly insert: Buffer;
}

interface OpenNode {
  readonly boundary: Buffer | undefined;
  readonly parent: OpenNode | undefined;
}

const CRLF = Buffer.from('\r\n');
const LF = Buffer.from('\n');
const X_PREFIX = Buffer.from('x-');

/** The insertions that mend the message for the splitter, in message order (usually none). */
export function splitterSplices(raw: Buffer): Splice[] {
  const splices: Splice[] = [];
  let { node, bodyStart: pos } = readHeaderBlock(raw, 0, undefined, splices);
  let inEpilogue = false;
  while (pos < raw.length && hasBoundary(node)) {
    const line = nextDashLine(raw, pos);
    if (line < 0) break;
    const lf = raw.indexOf(0x0a, line);
    pos = lf < 0 ? raw.length : lf + 1;
    let owner: OpenNode | undefined = inEpilogue ? node.parent : node;
    for (; owner; owner = owner.parent) {
      const kind = owner.boundary ? delimiter(raw, line, pos, owner.boundary) : undefined;
      if (!kind) continue;
      if (kind === 'next') {
        ({ node, bodyStart: pos } = readHeaderBlock(raw, pos, owner, splices));
        inEpilogue = false;
      } else if (owner !== node) {
        // An ancestor's closing delimiter: back to it, in its epilogue. The current multipart's
        // own closing delimiter before any part (in its preamble) changes nothing, as in the splitter.
        node = owner;
        inEpilogue = true;
      }
      break;
    }
  }
  return splices;
}

/** Applies splices: the pieces to feed, in order (views of `raw` and the inserted bytes). */
export function splicedPieces(raw: Buffer, splices: readonly Splice[]): Buffer[] {
  if (!splices.length) return [raw];
  const pieces: Buffer[] = [];
  let from = 0;
  for (const s of splices) {
    if (s.at > from) pieces.push(raw.subarray(from, s.at));
    pieces.push(s.insert);
    from = s.at;
  }
  if (from < raw.length) pieces.push(raw.subarray(from));
  return pieces;
}

function readHeaderBlock(raw: Buffer, start: number, parent: OpenNode | undefined, splices: Splice[]): { node: OpenNode; bodyStart: number } {
  const { headerEnd, bodyStart, blank } = headerBlockEnd(raw, start);
  let boundary: Buffer | undefined;
  const line = unfoldHeaderLines(raw.toString('latin1', start, headerEnd)).find((l) => /^content-type[ \t]*:/i.test(l));
  if (line && /boundary/i.test(line)) {
    const parsed = libmime.parseHeaderValue(line.slice(line.indexOf(':') + 1), { stripComments: true });
    const type = (parsed.value || '').toLowerCase().trim();
    const value = (parsed.params.boundary || '').trimEnd();
    if (/^multipart\/./.test(type)) {
      // As the splitter: a boundary that is not ASCII counts as none.
      if (value && Buffer.byteLength(value) === value.length) boundary = Buffer.from(value);
    } else {
      for (const at of boundaryParams(raw, start, headerEnd)) splices.push({ at, insert: X_PREFIX });
    }
  }
  const node = { boundary, parent };
  // An enclosing multipart's delimiter straight after the headers means an empty body, which the
  // splitter reads already (its own boundary's delimiter needs the blank line, to be seen as one).
  if (!blank && bodyStart < raw.length && !(parent && isDelimiter(raw, bodyStart, parent))) {
    // The blank line, with the line ending the last header line had (CRLF when there was none).
    splices.push({ at: bodyStart, insert: headerEnd < bodyStart && raw[headerEnd] === 0x0a ? LF : CRLF });
  }
  return { node, bodyStart };
}

/** Offsets of `boundary` parameter names in the Content-Type header(s) between start and end. */
function boundaryParams(raw: Buffer, start: number, end: number): number[] {
  const text = raw.toString('latin1', start, end);
  const found: number[] = [];
  const header = /^content-type[ \t]*:/gim;
  for (let m = header.exec(text); m; m = header.exec(text)) {
    let quoted = false;
    for (let i = m.index + m[0].length; i < text.length; i++) {
      const c = text[i];
      if (c === '\n' && !/[ \t]/.test(text[i + 1] ?? '')) break;
      if (c === '"' && text[i - 1] !== '\\') quoted = !quoted;
      if (c !== ';' || quoted) continue;
      const param = /^[ \t\r\n]*(boundary)[ \t]*\*?[ \t]*=/i.exec(text.slice(i + 1, i + 200));
      if (param) found.push(start + i + 1 + param[0].indexOf(param[1]!));
    }
  }
  return found;
}

function isDelimiter(raw: Buffer, line: number, node: OpenNode): boolean {
  if (raw[line] !== 0x2d || raw[line + 1] !== 0x2d) return false;
  const lf = raw.indexOf(0x0a, line);
  const end = lf < 0 ? raw.length : lf + 1;
  for (let n: OpenNode | undefined = node; n; n = n.parent) if (n.boundary && delimiter(raw, line, end, n.boundary)) return true;
  return false;
}

function hasBoundary(node: OpenNode): boolean {
  for (let n: OpenNode | undefined = node; n; n = n.parent) if (n.boundary) return true;
  return false;
}

/** The start of the next line at or after `pos` that begins with `--` (an optional CR before it). */
function nextDashLine(raw: Buffer, pos: number): number {
  const isDash = (at: number) => raw[at] === 0x2d && raw[at + 1] === 0x2d;
  if (isDash(pos) || (raw[pos] === 0x0d && isDash(pos + 1))) return pos;
  for (let at = raw.indexOf('\n-', pos); at >= 0; at = raw.indexOf('\n-', at + 1)) {
    if (isDash(at + 1)) return at + 1;
  }
  return -1;
}

/** Whether the line is a delimiter of `boundary` (RFC 2046 5.1.1, trailing whitespace allowed). */
function delimiter(raw: Buffer, start: number, end: number, boundary: Buffer): 'next' | 'close' | undefined {
  let i = start + (raw[start] === 0x0d ? 1 : 0) + 2;
  if (end - i < boundary.length || !raw.subarray(i, i + boundary.length).equals(boundary)) return undefined;
  i += boundary.length;
  let kind: 'next' | 'close' = 'next';
  if (raw[i] === 0x2d && raw[i + 1] === 0x2d) {
    kind = 'close';
    i += 2;
  }
  while (i < end && (raw[i] === 0x20 || raw[i] === 0x09)) i++;
  while (i < end && raw[i] === 0x0d) i++;
  if (i < end && raw[i] === 0x0a) i++;
  if (i !== end) return undefined;
  // Only the closing delimiter may end the message without a line break.
  return raw[end - 1] === 0x0a || kind === 'close' ? kind : undefined;
}
