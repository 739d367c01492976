/**
 * The same multipart/form-data bytes as encodeForm (encode-form.ts), built straight into one
 * Buffer when every part is already in memory, which is nearly every message. form-data's
 * stream machinery (CombinedStream, DelayedStream, a PassThrough, then reading it all back to
 * sign it) cost more than the rest of building a small POST; encode-buffer.test.ts keeps the two
 * byte-identical. Messages with spooled attachments keep the streaming encoder.
 */
import type { Payload } from '../parse/payload.ts';
import { partHeaders } from './encode-form.ts';

export interface BufferedForm {
  readonly body: Buffer;
  readonly contentType: string;
  readonly contentLength: number;
}

/** True when no part has to be read from a spool file. */
function isInMemory(payload: Payload): boolean {
  return payload.parts.every((part) => !('pieces' in part) && (!('file' in part) || part.file.kind === 'memory'));
}

/**
 * The encoded body, or undefined when some part lives in a spool file (or is a streamed text field) or the parts add up to more
 * than `limit` bytes (text counted in UTF-16 units, close enough): use encodeForm then, which
 * streams and so never holds a second copy of a big message.
 */
export function encodeFormBuffer(payload: Payload, boundary: string, limit = 4 * 1024 * 1024): BufferedForm | undefined {
  if (!payload.parts.length || !isInMemory(payload)) return undefined;
  let size = 0;
  for (const part of payload.parts) size += 'value' in part ? part.value.length : 'bytes' in part ? part.bytes.length : 'file' in part ? part.file.size : limit + 1;
  if (size > limit) return undefined;
  const chunks: Buffer[] = [];
  // Text runs are joined into one string and converted once: most parts are short text fields.
  let text = '';
  for (const part of payload.parts) {
    text += `--${boundary}\r\n${partHeaders(part)}\r\n`;
    if ('value' in part) {
      text += `${part.value}\r\n`;
      continue;
    }
    chunks.push(Buffer.from(text, 'utf8'), 'bytes' in part ? part.bytes : (part as { file: { data: Buffer } }).file.data);
    text = '\r\n';
  }
  text += `--${boundary}--\r\n`;
  chunks.push(Buffer.from(text, 'utf8'));
  const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  return { body, contentType: `multipart/form-data; boundary=${boundary}`, contentLength: body.length };
}
