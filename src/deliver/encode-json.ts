/**
 * The JSON payload format (route setting `payload_format: "json"`, docs/payload.schema.json): the
 * fields of the multipart POST as one JSON object. JSON-valued fields (envelope, charsets, auth,
 * attachment-info, content-ids) are objects, `attachments` a number, each `attachmentN` an object
 * with its bytes in base64, or, over the route's limit, a signed download link instead. The body
 * is made as a stream of pieces (files read a slice at a time), the same bytes each time it is
 * made, so a large one is never held whole.
 */
import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import type { Payload, PayloadPart, TextPiece } from '../parse/payload.ts';
import type { Spooled } from '../parse/spool.ts';
import { escapeHtmlBytes } from './encode-form.ts';

export interface AttachmentLink {
  readonly url: string;
  /** Seconds since the epoch. */
  readonly expiresAt: number;
}

export interface JsonOptions {
  /** Attachments over this many bytes are sent as links. */
  readonly attachmentMax: number;
  /** The download link of `attachment<part>`; asked only for the attachments over the limit. */
  readonly link: (part: number) => Promise<AttachmentLink>;
}

/** Fields whose multipart value is JSON text: objects in the JSON format. */
const OBJECT_FIELDS = new Set(['envelope', 'charsets', 'auth', 'attachment-info', 'content-ids']);
/** Bytes of a file read at once: a multiple of 3, so each slice is whole base64. */
const SLICE = 3 * 64 * 1024;

/** The body's pieces; call again for the same bytes (the links are made once, here). */
export async function prepareJson(payload: Payload, options: JsonOptions): Promise<() => AsyncGenerator<Buffer>> {
  const links = new Map<string, AttachmentLink>();
  for (const part of payload.parts) {
    if (!('file' in part) || part.file.size <= options.attachmentMax) continue;
    const n = Number(/^attachment(\d+)$/.exec(part.name)?.[1]);
    if (n > 0) links.set(part.name, await options.link(n));
  }
  const info = attachmentInfo(payload.parts);
  return () => jsonPieces(payload.parts, links, info);
}

async function* jsonPieces(parts: readonly PayloadPart[], links: ReadonlyMap<string, AttachmentLink>, info: Record<string, { 'content-id'?: string }>): AsyncGenerator<Buffer> {
  let separator = '{';
  for (const part of parts) {
    if ('bytes' in part) {
      // Raw mode's `email` need not be UTF-8: then it goes as base64, under another name, byte for byte.
      const utf8 = isUtf8(part.bytes);
      // A slice at a time, as files are: the message is not copied whole (as a string or a Buffer).
      yield text(`${separator}${JSON.stringify(utf8 ? part.name : `${part.name}_base64`)}:"`);
      for (let at = 0; at < part.bytes.length; at += SLICE) {
        const slice = part.bytes.subarray(at, at + SLICE);
        yield utf8 ? jsonEscapeBytes(slice) : text(slice.toString('base64'));
      }
      yield text('"');
    } else if ('value' in part) {
      yield text(`${separator}${JSON.stringify(part.name)}:${JSON.stringify(fieldValue(part.name, part.value))}`);
    } else if ('pieces' in part) {
      yield text(`${separator}${JSON.stringify(part.name)}:"`);
      yield* escapedPieces(part.pieces);
      yield text('"');
    } else {
      const contentId = info[part.name]?.['content-id'];
      const meta = { filename: part.filename, type: part.contentType, size: part.file.size, ...(contentId ? { content_id: contentId } : {}) };
      const link = links.get(part.name);
      yield text(`${separator}${JSON.stringify(part.name)}:`);
      if (link) {
        yield text(JSON.stringify({ ...meta, download_url: link.url, download_expires_at: new Date(link.expiresAt * 1000).toISOString() }));
      } else {
        yield text(`${JSON.stringify(meta).slice(0, -1)},"content":"`);
        yield* base64Of(part.file);
        yield text('"}');
      }
    }
    separator = ',';
  }
  yield text(separator === '{' ? '{}' : '}');
}

const text = (value: string) => Buffer.from(value, 'utf8');

function fieldValue(name: string, value: string): unknown {
  if (name === 'attachments') return Number(value);
  if (!OBJECT_FIELDS.has(name)) return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

function attachmentInfo(parts: readonly PayloadPart[]): Record<string, { 'content-id'?: string }> {
  const part = parts.find((p) => p.name === 'attachment-info');
  if (!part || !('value' in part)) return {};
  try {
    return JSON.parse(part.value) as Record<string, { 'content-id'?: string }>;
  } catch {
    return {};
  }
}

async function* base64Of(file: Spooled): AsyncGenerator<Buffer> {
  if (file.kind === 'memory') {
    yield text(file.data.toString('base64'));
    return;
  }
  let carry: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(file.path, { highWaterMark: SLICE })) {
    const bytes = carry.length ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
    const whole = bytes.length - (bytes.length % 3);
    if (whole) yield text(bytes.subarray(0, whole).toString('base64'));
    carry = bytes.subarray(whole);
  }
  if (carry.length) yield text(carry.toString('base64'));
}

/** A streamed text field inside a JSON string: strings escaped by JSON.stringify, files byte by byte. */
async function* escapedPieces(pieces: readonly TextPiece[]): AsyncGenerator<Buffer> {
  for (const piece of pieces) {
    if (typeof piece === 'string') yield text(JSON.stringify(piece).slice(1, -1));
    else {
      for await (const chunk of createReadStream(piece.path, { highWaterMark: 64 * 1024 })) {
        yield jsonEscapeBytes(piece.escapeHtml ? escapeHtmlBytes(chunk as Buffer) : (chunk as Buffer));
      }
    }
  }
}

const SHORT_ESCAPES: Record<number, string> = { 0x22: '\\"', 0x5c: '\\\\', 0x08: '\\b', 0x0c: '\\f', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t' };

/**
 * JSON string escaping on UTF-8 bytes: `"`, `\` and control characters are single bytes that
 * never occur inside a multibyte character, so a file can be escaped a slice at a time.
 */
export function jsonEscapeBytes(chunk: Buffer): Buffer {
  const out: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < chunk.length; i++) {
    const byte = chunk[i]!;
    if (byte >= 0x20 && byte !== 0x22 && byte !== 0x5c) continue;
    if (i > from) out.push(chunk.subarray(from, i));
    out.push(Buffer.from(SHORT_ESCAPES[byte] ?? `\\u${byte.toString(16).padStart(4, '0')}`));
    from = i + 1;
  }
  if (!out.length) return chunk;
  if (from < chunk.length) out.push(chunk.subarray(from));
  return Buffer.concat(out);
}
