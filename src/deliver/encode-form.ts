/**
 * Encodes a payload as multipart/form-data with form-data: a random boundary (SendGrid's fixed
 * `xYzZY` breaks on bodies that contain it) and an exact Content-Length.
 */
import { createReadStream } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import FormData from 'form-data';
import type { Payload, PayloadPart } from '../parse/payload.ts';

export interface EncodedForm {
  readonly body: Readable;
  readonly contentType: string;
  readonly contentLength: number;
}

export function encodeForm(payload: Payload): EncodedForm {
  const form = new FormData();
  const boundary = form.getBoundary();
  for (const part of payload.parts) {
    const header = `--${boundary}\r\n${partHeaders(part)}\r\n`;
    if ('value' in part) form.append(part.name, part.value, { header });
    else if ('bytes' in part) form.append(part.name, part.bytes, { header });
    else if (part.file.kind === 'memory') form.append(part.name, part.file.data, { header });
    else form.append(part.name, createReadStream(part.file.path), { header, knownLength: part.file.size });
  }
  const contentLength = form.getLengthSync();
  const body = new PassThrough();
  form.on('error', (err) => body.destroy(err));
  form.pipe(body);
  return { body, contentType: `multipart/form-data; boundary=${boundary}`, contentLength };
}

function partHeaders(part: PayloadPart): string {
  const name = quoteParam(part.name);
  if (!('file' in part)) return `Content-Disposition: form-data; name="${name}"\r\n`;
  // As browsers do (HTML's form encoding): UTF-8 in filename="", with " and line breaks
  // percent-escaped; plus RFC 5987 filename* for non-ASCII names, which parsers that know it prefer.
  const ext = /[^\x20-\x7e]/.test(part.filename) ? `; filename*=UTF-8''${encodeRfc5987(part.filename)}` : '';
  return `Content-Disposition: form-data; name="${name}"; filename="${quoteParam(part.filename)}"${ext}\r\n` +
    `Content-Type: ${part.contentType.replace(/[\r\n]/g, '')}\r\n`;
}

function quoteParam(value: string): string {
  return value.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function encodeRfc5987(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
