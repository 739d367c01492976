/**
 * Raw mode with `raw_8bit: "encode"`: the message with every 8-bit MIME part re-encoded as
 * quoted-printable (text/*) or base64 (the rest), its Content-Transfer-Encoding header changed
 * to match, and every other byte as received. Multipart parsers that read a form field as UTF-8
 * (Django, werkzeug, Rails before 7.1) then keep every character of an ISO-8859-1 or Shift_JIS
 * part. Streamed: mailsplit's splitter and joiner around a rewriter that holds at most one part's
 * look-ahead (LOOKAHEAD_BYTES) and one line of text.
 */
import { Readable, Transform, pipeline, type TransformCallback } from 'node:stream';
import mailsplit, { type MimeNode } from '@zone-eu/mailsplit';
import { splicedPieces, splitterSplices } from './splitter-input.ts';
import { Base64Lines, QuotedPrintableLines, type LineEncoder } from './transfer-encoders.ts';

type Chunk = MimeNode | { type: 'body' | 'data'; value: Buffer; node?: MimeNode };

/**
 * Bytes of a 7-bit-labelled part looked at for 8-bit bytes before it is decided. A part still
 * undecided past it is encoded anyway: the same content either way, and memory stays bounded.
 */
export const LOOKAHEAD_BYTES = 64 * 1024;
const SLICE_BYTES = 64 * 1024;

/** True when some byte of the message is not 7-bit (nothing to do otherwise). */
export function has8bit(raw: Buffer): boolean {
  for (let i = 0; i < raw.length; i++) if (raw[i]! > 0x7f) return true;
  return false;
}

/**
 * The message as a stream with its 8-bit parts re-encoded. The splitter reads it with the mends
 * parsed mode makes (splitter-input.ts: a blank line after a header block that lacks one,
 * `boundary=` on a type that is not multipart renamed `x-boundary=`), so the parts re-encoded are
 * the parts parsed mode finds, and an HTML body with `--boundary` lines in it stays one part; the
 * mends are in the output, where they mean what the original meant to a MIME reader.
 */
export function encode8bitParts(raw: Buffer): Readable {
  const pieces = splicedPieces(raw, splitterSplices(raw));
  const slices = (function* () {
    for (const piece of pieces) for (let at = 0; at < piece.length; at += SLICE_BYTES) yield piece.subarray(at, at + SLICE_BYTES);
  })();
  // The last stream is returned and read by the caller; an error in any stage destroys it.
  return pipeline(Readable.from(slices), new mailsplit.Splitter(), new EightBitRewriter(), new mailsplit.Joiner(), () => {});
}

/** Identity encodings: what a part may carry 8-bit bytes in (declared or not). */
const IDENTITY = new Set(['', '7bit', '8bit', 'binary']);
/** Types RFC 2046 forbids to be base64 or quoted-printable (their content is parsed here anyway). */
const CONTAINERS = new Set(['message/rfc822', 'message/global', 'message/partial', 'message/external-body']);

interface Open {
  readonly node: MimeNode;
  /** Set once decided to encode. */
  encoder?: LineEncoder;
  /** Body bytes held while undecided. */
  held: Buffer[];
  heldBytes: number;
}

class EightBitRewriter extends Transform {
  private open: Open | undefined;

  constructor() {
    super({ readableObjectMode: true, writableObjectMode: true });
  }

  override _transform(chunk: Chunk, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk.type === 'body' && this.open) this.body(this.open, chunk.value);
    else {
      this.close();
      if (chunk.type === 'node' && isCandidate(chunk as MimeNode)) this.open = { node: chunk as MimeNode, held: [], heldBytes: 0 };
      else this.push(chunk);
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.close();
    callback();
  }

  private body(open: Open, value: Buffer): void {
    if (open.encoder) return this.pushBody(open.node, open.encoder.write(value));
    open.held.push(value);
    open.heldBytes += value.length;
    if (has8bit(value) || open.heldBytes > LOOKAHEAD_BYTES) this.startEncoding(open);
  }

  /** The part's end (the next node or delimiter): its held bytes go out unchanged, or the encoder's tail. */
  private close(): void {
    const open = this.open;
    if (!open) return;
    this.open = undefined;
    if (open.encoder) this.pushBody(open.node, open.encoder.end());
    else {
      this.push(open.node);
      for (const value of open.held) this.pushBody(open.node, value);
    }
  }

  private startEncoding(open: Open): void {
    const text = (open.node.contentType || 'text/plain').startsWith('text/');
    setTransferEncoding(open.node, text ? 'quoted-printable' : 'base64');
    open.encoder = text ? new QuotedPrintableLines() : new Base64Lines();
    this.push(open.node);
    const held = open.held;
    open.held = [];
    for (const value of held) this.pushBody(open.node, open.encoder.write(value));
  }

  private pushBody(node: MimeNode, value: Buffer): void {
    if (value.length) this.push({ type: 'body', node, value });
  }
}

/** Replaces the part's Content-Transfer-Encoding, or adds one after its last header (not above a message's trace headers). */
function setTransferEncoding(node: MimeNode, encoding: string): void {
  const headers = node.headers;
  if (!headers) return; // isCandidate parsed them
  if (headers.hasHeader('Content-Transfer-Encoding')) headers.update('Content-Transfer-Encoding', encoding);
  else headers.add('Content-Transfer-Encoding', encoding, headers.getList().length);
}

function isCandidate(node: MimeNode): boolean {
  if (node.multipart) return false;
  if (!node.headers) node.parseHeaders();
  return IDENTITY.has(node.encoding || '') && !CONTAINERS.has(node.contentType || '');
}
