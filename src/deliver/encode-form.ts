/**
 * Encodes a payload as multipart/form-data with form-data: a random boundary (SendGrid's fixed
 * `xYzZY` breaks on bodies that contain it) and an exact Content-Length.
 */
import { createReadStream } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import FormData from 'form-data';
import { randomHex } from '../domain/random.ts';
import { piecesSize, type Payload, type PayloadPart, type TextPiece } from '../parse/payload.ts';

export interface EncodedForm {
  readonly body: Readable;
  readonly contentType: string;
  readonly contentLength: number;
}

/** A random boundary; the same one gives the same bytes, so a body can be encoded twice. */
export function newBoundary(): string {
  return `----mxhook${randomHex(16)}`;
}

export function encodeForm(payload: Payload, boundary: string = newBoundary()): EncodedForm {
  const form = new FormData();
  form.setBoundary(boundary);
  for (const part of payload.parts) {
    const header = `--${boundary}\r\n${partHeaders(part)}\r\n`;
    if ('value' in part) form.append(part.name, part.value, { header });
    else if ('bytes' in part) form.append(part.name, part.bytes, { header });
    else if ('pieces' in part) form.append(part.name, Readable.from(pieceBytes(part.pieces)), { header, knownLength: piecesSize(part.pieces) });
    else if (part.file.kind === 'memory') form.append(part.name, part.file.data, { header });
    else form.append(part.name, createReadStream(part.file.path), { header, knownLength: part.file.size });
  }
  const contentLength = form.getLengthSync();
  const body = new PassThrough();
  form.on('error', (err) => body.destroy(err));
  form.pipe(body);
  return { body, contentType: `multipart/form-data; boundary=${boundary}`, contentLength };
}

/** A streamed text field's bytes, a slice at a time: file pieces read from disk, HTML-escaped when asked. */
async function* pieceBytes(pieces: readonly TextPiece[]): AsyncGenerator<Buffer> {
  for (const piece of pieces) {
    if (typeof piece === 'string') yield Buffer.from(piece, 'utf8');
    else for await (const chunk of createReadStream(piece.path, { highWaterMark: 64 * 1024 })) yield piece.escapeHtml ? escapeHtmlBytes(chunk as Buffer) : (chunk as Buffer);
  }
}

const HTML_ESCAPES: Record<number, Buffer> = Object.fromEntries(['&', '<', '>', '"', "'"].map((c) => [c.charCodeAt(0), Buffer.from(`&#${c.charCodeAt(0)};`)]));

/** body-text.ts's escape (`<` as `&#60;` ...) on UTF-8 bytes: those characters are single bytes that never occur inside a multibyte one. */
export function escapeHtmlBytes(chunk: Buffer): Buffer {
  const out: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < chunk.length; i++) {
    const escape = HTML_ESCAPES[chunk[i]!];
    if (!escape) continue;
    if (i > from) out.push(chunk.subarray(from, i));
    out.push(escape);
    from = i + 1;
  }
  if (!out.length) return chunk;
  if (from < chunk.length) out.push(chunk.subarray(from));
  return Buffer.concat(out);
}

/** A part's header lines (without the boundary line and the blank line); encode-buffer.ts frames parts the same way. */
export function partHeaders(part: PayloadPart): string {
  const name = quoteParam(part.name);
  if (!('file' in part)) return `Content-Disposition: form-data; name="${name}"\r\n`;
  // filename="" carries the name as UTF-8 with " and \ backslash-escaped (RFC 7578 quoted-string):
  // busboy, multer and Python's email parser all read the escapes back, where browsers' %22 is
  // read back only by multer. Names that are not plain ASCII also get RFC 5987 filename*, which
  // busboy, multer and Python prefer (busboy's default latin1 would garble UTF-8 in filename="").
  // Control characters are dropped: line breaks would end the part's headers, and parsers refuse
  // the others in a quoted-string (busboy then loses the whole name).
  // eslint-disable-next-line no-control-regex
  const filename = part.filename.replace(/[\x00-\x1f\x7f]/g, '');
  const ext = /[^\x20-\x7e]|["\\]/.test(filename) ? `; filename*=UTF-8''${encodeRfc5987(filename)}` : '';
  return `Content-Disposition: form-data; name="${name}"; filename="${filename.replace(/["\\]/g, '\\$&')}"${ext}\r\n` +
    `Content-Type: ${partType(part.contentType)}\r\n`;
}

/**
 * A file part's Content-Type. message/* and multipart/* files (a forwarded .eml, a bounce's
 * delivery-status) are framed as application/octet-stream: Python's email parser would read them
 * as nested messages and hand back no bytes. `attachment-info` keeps their real type.
 */
function partType(contentType: string): string {
  const type = contentType.replace(/[\r\n]/g, '');
  return /^\s*(?:message|multipart)\//i.test(type) ? 'application/octet-stream' : type;
}

function quoteParam(value: string): string {
  return value.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function encodeRfc5987(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
