/**
 * One attachment of a stored message, as its JSON POST's download link names it (`attachmentN`):
 * found by building the same parsed payload the worker built, so the numbering is the same.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { buildParsedPayload } from './parsed-payload.ts';
import { removeSpoolDir } from './spool.ts';

export interface ExtractedAttachment {
  readonly filename: string;
  readonly contentType: string;
  readonly size: number;
  /** The decoded bytes; a stream removes its spool directory when it closes. */
  readonly body: Buffer | Readable;
}

export async function extractAttachment(raw: Buffer, part: number, spoolRoot: string): Promise<ExtractedAttachment | undefined> {
  const dir = path.join(spoolRoot, `mxhook-attachment-${randomBytes(6).toString('hex')}`);
  let streaming = false;
  try {
    const payload = await buildParsedPayload(raw, { senderIp: '', mailFrom: '', recipients: [] }, { dir });
    const found = payload.parts.find((p) => p.name === `attachment${part}` && 'file' in p);
    if (!found || !('file' in found)) return undefined;
    const { file } = found;
    const meta = { filename: found.filename, contentType: found.contentType, size: file.size };
    if (file.kind === 'memory') return { ...meta, body: file.data };
    const body = createReadStream(file.path);
    body.once('close', () => void removeSpoolDir(dir));
    streaming = true;
    return { ...meta, body };
  } finally {
    if (!streaming) await removeSpoolDir(dir);
  }
}
