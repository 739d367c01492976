/**
 * Parsed mode (the default): the message's fields as SendGrid posts them (SPEC §3). The body is
 * parsed with mailparser's streaming parser; attachments are spooled one at a time.
 */
import { Readable } from 'node:stream';
import { MailParser, type AttachmentStream, type MessageText } from 'mailparser';
import libmime from 'libmime';
import { headerBytesToText, readEnvelopeHeaders, splitHeaderBlock } from './header-block.ts';
import { envelopeJson, type Payload, type PayloadContext, type PayloadPart } from './payload.ts';
import { spoolStream, type Spooled, type SpoolOptions } from './spool.ts';

interface AttachmentEntry {
  readonly field: string;
  readonly filename: string;
  readonly contentType: string;
  readonly contentId: string | undefined;
  readonly file: Spooled;
}

export async function buildParsedPayload(raw: Buffer, context: PayloadContext, spool: SpoolOptions): Promise<Payload> {
  const headers = readEnvelopeHeaders(raw);
  const { text, html, attachments, parseError } = await parseBody(raw, spool);
  const parts: PayloadPart[] = [{ name: 'headers', value: headers.headerLines.join('\n') + '\n' }];
  const contentIds = Object.fromEntries(attachments.filter((a) => a.contentId).map((a) => [a.contentId, a.field]));
  if (Object.keys(contentIds).length) parts.push({ name: 'content-ids', value: JSON.stringify(contentIds) });
  parts.push({ name: 'to', value: headers.to });
  if (headers.cc !== undefined) parts.push({ name: 'cc', value: headers.cc });
  parts.push({ name: 'from', value: headers.from }, { name: 'subject', value: headers.subject });
  const charsets: Record<string, string> = { to: 'UTF-8', ...(headers.cc !== undefined ? { cc: 'UTF-8' } : {}), from: 'UTF-8', subject: 'UTF-8' };
  if (text !== undefined) {
    parts.push({ name: 'text', value: text });
    charsets.text = 'UTF-8';
  }
  if (html !== undefined) {
    parts.push({ name: 'html', value: html });
    charsets.html = 'UTF-8';
  }
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
  return { parts, ...(parseError ? { parseError } : {}) };
}

interface ParsedBody {
  text: string | undefined;
  html: string | undefined;
  attachments: AttachmentEntry[];
  parseError: string | undefined;
}

async function parseBody(raw: Buffer, spool: SpoolOptions): Promise<ParsedBody> {
  const body: ParsedBody = { text: undefined, html: undefined, attachments: [], parseError: undefined };
  const parser = new MailParser({ skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true, skipTextLinks: true });
  const pending: Promise<void>[] = [];
  parser.on('data', (data: AttachmentStream | MessageText) => {
    if (data.type === 'text') {
      if (typeof data.text === 'string' && data.text) body.text = data.text;
      if (typeof data.html === 'string' && data.html) body.html = data.html;
      return;
    }
    const index = body.attachments.length + 1;
    const field = `attachment${index}`;
    const contentType = data.contentType || 'application/octet-stream';
    const inline = Boolean(data.cid) && (data.related === true || data.contentDisposition === 'inline');
    const entry = { field, filename: data.filename || generatedFilename(index, contentType), contentType, contentId: inline ? data.cid : undefined };
    // Reserve the slot now so numbering follows the order of parts in the message.
    body.attachments.push(entry as AttachmentEntry);
    pending.push(
      spoolStream(data.content, field, spool).then(
        (file) => {
          (entry as { file?: Spooled }).file = file;
          data.release?.();
        },
        (err: unknown) => {
          data.release?.();
          throw err;
        },
      ),
    );
  });
  try {
    await new Promise<void>((resolve, reject) => {
      parser.once('end', resolve);
      parser.once('error', reject);
      Readable.from([raw]).pipe(parser);
    });
    await Promise.all(pending);
  } catch (err) {
    // Keep whatever was recovered; the body text at least reaches the app, and parse_error says why.
    await Promise.allSettled(pending);
    body.attachments = body.attachments.filter((a) => a.file);
    body.parseError = String((err as Error).message ?? err);
    body.text ??= headerBytesToText(raw.subarray(splitHeaderBlock(raw).bodyStart));
  }
  return body;
}

function generatedFilename(index: number, contentType: string): string {
  const ext = contentType === 'message/rfc822' ? 'eml' : libmime.detectExtension(contentType);
  return `attachment${index}.${ext || 'bin'}`;
}
