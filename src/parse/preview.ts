/**
 * What an app would receive for a stored message, as plain values for the console and the API:
 * the same parsed payload the worker POSTs (buildParsedPayload, with the route's strip_replies),
 * with attachments listed by name, type and size instead of their bytes, long text fields cut for
 * display, and the route's format and mode said (the fields are the same in JSON).
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { buildParsedPayload } from './parsed-payload.ts';
import type { PayloadContext } from './payload.ts';
import { readTextHead } from './text-head.ts';
import type { ParseSetting } from '../domain/route.ts';
import { removeSpoolDir } from './spool.ts';

export interface MessagePreview {
  /** How the route posts it: `multipart` (multipart/form-data, SendGrid's) or `json` (application/json). */
  readonly payload_format: 'multipart' | 'json';
  /** The route posts the raw message (`email`); the fields are then what parsed mode would send. */
  readonly send_raw: boolean;
  /** Field name -> value, as posted (text fields over `maxFieldChars` are cut, `truncated` says which). */
  readonly fields: Record<string, string>;
  readonly attachments: readonly { readonly field: string; readonly filename: string; readonly type: string; readonly size: number }[];
  readonly truncated: readonly string[];
}

/** Text shown per field at most: a preview, not the POST (the raw message has every byte). */
const MAX_FIELD_CHARS = 256 * 1024;

/** The route settings that change what a preview shows; a route since deleted: SendGrid's defaults. */
export type PreviewRoute = Pick<ParseSetting, 'send_raw' | 'strip_replies' | 'payload_format'>;

export async function buildMessagePreview(raw: Buffer, context: PayloadContext, spoolRoot = os.tmpdir(), route?: PreviewRoute): Promise<MessagePreview> {
  const dir = path.join(spoolRoot, `mxhook-preview-${randomBytes(6).toString('hex')}`);
  const sendRaw = route?.send_raw === true;
  try {
    // As the worker builds it: reply fields only in parsed mode.
    const payload = await buildParsedPayload(raw, context, { dir }, { stripReplies: route?.strip_replies === true && !sendRaw });
    const fields: Record<string, string> = {};
    const truncated: string[] = [];
    const attachments: MessagePreview['attachments'][number][] = [];
    for (const part of payload.parts) {
      let value: string;
      if ('file' in part) {
        attachments.push({ field: part.name, filename: part.filename, type: part.contentType, size: part.file.size });
        continue;
      } else if ('value' in part) value = part.value;
      else if ('bytes' in part) value = part.bytes.toString('utf8');
      else value = await readTextHead(part.pieces, MAX_FIELD_CHARS + 1);
      if (value.length > MAX_FIELD_CHARS) {
        value = value.slice(0, MAX_FIELD_CHARS);
        truncated.push(part.name);
      }
      fields[part.name] = value;
    }
    return { payload_format: route?.payload_format ?? 'multipart', send_raw: sendRaw, fields, attachments, truncated };
  } finally {
    await removeSpoolDir(dir);
  }
}
