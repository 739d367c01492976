/**
 * Parsed mode (the default): the message's fields as SendGrid posts them (docs/payload.md). The MIME tree
 * is walked with mailsplit's streaming splitter (mime-walk.ts); attachments are spooled one at a time.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { assembleBody, type BodyField } from './body-text.ts';
import { LARGE_TEXT_BYTES, spoolLargeText } from './large-text.ts';
import { decodeText, withoutNul } from './charset.ts';
import { declaredCharset, readEnvelopeHeaders, splitHeaderBlock, unfoldHeaderLines } from './header-block.ts';
import { withAuthFields } from './auth-fields.ts';
import { walkMime } from './mime-walk.ts';
import { replyFields } from './reply-fields.ts';
import { envelopeJson, type Payload, type PayloadContext, type PayloadPart } from './payload.ts';
import type { Spooled, SpoolOptions } from './spool.ts';

interface AttachmentEntry {
  readonly field: string;
  readonly filename: string;
  readonly contentType: string;
  readonly contentId: string | undefined;
  readonly file: Spooled;
}

/** mxhook extensions a route turns on; without them the payload is exactly SendGrid's. */
export interface ParsedOptions {
  /** Add stripped_text, stripped_signature and stripped_html (reply-fields.ts). */
  readonly stripReplies?: boolean;
}

export async function buildParsedPayload(raw: Buffer, context: PayloadContext, spool: SpoolOptions, options: ParsedOptions = {}): Promise<Payload> {
  const { header, bodyStart } = splitHeaderBlock(raw);
  // The declared charset matters only for raw 8-bit bytes (a file name, the fallback body; the
  // header reader finds its own): worked out once, and only if asked (it may read 256 KiB of body).
  let hint: { value: string | undefined } | undefined;
  const charsetHint = () => (hint ??= { value: declaredCharset(unfoldHeaderLines(header.toString('latin1')), raw, bodyStart) }).value;
  const headers = readEnvelopeHeaders(raw);
  const { text, html, attachments, parseError } = await parseBody(raw, bodyStart, spool, charsetHint);
  const parts: PayloadPart[] = [{ name: 'headers', value: headers.headerLines.join('\n') + '\n' }];
  const contentIds = Object.fromEntries(attachments.filter((a) => a.contentId).map((a) => [a.contentId, a.field]));
  if (Object.keys(contentIds).length) parts.push({ name: 'content-ids', value: JSON.stringify(contentIds) });
  parts.push({ name: 'to', value: headers.to });
  if (headers.cc !== undefined) parts.push({ name: 'cc', value: headers.cc });
  parts.push({ name: 'from', value: headers.from }, { name: 'subject', value: headers.subject });
  const charsets: Record<string, string> = { to: 'UTF-8', ...(headers.cc !== undefined ? { cc: 'UTF-8' } : {}), from: 'UTF-8', subject: 'UTF-8' };
  if (text !== undefined) {
    parts.push(field('text', text));
    charsets.text = 'UTF-8';
  }
  if (html !== undefined) {
    parts.push(field('html', html));
    charsets.html = 'UTF-8';
  }
  if (options.stripReplies) parts.push(...(await replyFields(text, html)));
  if (attachments.length) charsets.filename = 'UTF-8';
  parts.push(
    { name: 'sender_ip', value: context.senderIp },
    { name: 'envelope', value: envelopeJson(context) },
    { name: 'attachments', value: String(attachments.length) },
  );
  if (attachments.length) {
    const info = Object.fromEntries(attachments.map((a) => [a.field, {
      filename: a.filename, name: a.filename, type: a.contentType, ...(a.contentId ? { 'content-id': a.contentId } : {}),
    }]));
    parts.push({ name: 'attachment-info', value: JSON.stringify(info) });
  }
  parts.push({ name: 'charsets', value: JSON.stringify(charsets) });
  if (parseError) parts.push({ name: 'parse_error', value: parseError });
  for (const a of attachments) parts.push({ name: a.field, filename: a.filename, contentType: a.contentType, file: a.file });
  return { parts: withAuthFields(parts, context.auth), ...(parseError ? { parseError } : {}) };
}

/** A body field as a plain value, or streamed from its pieces when a large part is in it. */
function field(name: string, value: BodyField): PayloadPart {
  return typeof value === 'string' ? { name, value } : { name, pieces: value };
}

interface ParsedBody {
  text: BodyField | undefined;
  html: BodyField | undefined;
  attachments: AttachmentEntry[];
  parseError: string | undefined;
}

async function parseBody(raw: Buffer, bodyStart: number, spool: SpoolOptions, charsetHint: () => string | undefined): Promise<ParsedBody> {
  const walked = await walkMime(raw, spool, charsetHint);
  const { text, html } = assembleBody(walked.bodyParts);
  const attachments = walked.attachments.map((a, i) => ({ ...a, field: `attachment${i + 1}` }));
  if (!walked.error) return { text, html, attachments, parseError: undefined };
  // Keep whatever was recovered; the body at least reaches the app as text, and parse_error says why.
  return { text: text ?? (await rawBodyText(raw.subarray(bodyStart), spool, charsetHint())), html, attachments, parseError: walked.error };
}

/** The raw body as text; a big one through a file (large-text.ts), as a big text part would be. */
async function rawBodyText(body: Buffer, spool: SpoolOptions, charset: string | undefined): Promise<BodyField> {
  if (body.length <= LARGE_TEXT_BYTES) return withoutNul(decodeText(body, charset).replace(/\r\n?/g, '\n'));
  spool.onSpill?.();
  await mkdir(spool.dir, { recursive: true });
  const source = path.join(spool.dir, 'raw-body');
  await writeFile(source, body);
  const large = await spoolLargeText(source, path.join(spool.dir, 'raw-body.txt'), { charset, flowed: false, delSp: false });
  return [{ path: large.path, escapeHtml: false, size: large.size }];
}
