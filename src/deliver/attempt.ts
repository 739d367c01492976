/** One delivery attempt: build the route's payload, sign it, POST it, and classify the result. */
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Agent } from 'undici';
import { classifyAttempt, type DeliveryOutcome } from '../domain/outcome.ts';
import type { ParseSetting } from '../domain/route.ts';
import { deliveryOf } from '../domain/message.ts';
import { buildParsedPayload } from '../parse/parsed-payload.ts';
import type { PayloadPart } from '../parse/payload.ts';
import type { ParsedFacts } from '../domain/message-log.ts';
import { buildEncodedRawPayload, buildRawPayload } from '../parse/raw-payload.ts';
import { removeSpoolDir } from '../parse/spool.ts';
import type { StoredMessage } from '../store/messages.ts';
import { postForm, type PostOptions, type PostTarget } from './post.ts';
import { encodeSigned, encodeSignedJson } from './signing.ts';
import { prepareJson, type AttachmentLink } from './encode-json.ts';
import { DEFAULT_JSON_ATTACHMENT_MAX } from '../domain/route.ts';
import { messageIdOf } from '../domain/message-log.ts';

export interface AttemptInput {
  readonly route: ParseSetting;
  /** The route's URL, parsed by the caller (once per delivery). */
  readonly target: PostTarget;
  readonly message: StoredMessage;
  readonly deliveryId: string;
  readonly attempt: number;
  readonly hmacKeys: readonly KeyObject[];
  readonly ecdsaKey: KeyObject | undefined;
}

export interface AttemptContext {
  readonly agent: Agent;
  readonly post: PostOptions;
  readonly spoolDir: string;
  /** spam_score/spam_report for routes with spam_check (spam-check.ts); never throws. */
  readonly spamCheck?: (raw: Buffer) => Promise<readonly PayloadPart[]>;
  /** The download link of an attachment of a JSON POST (keeps the raw message while it works); absent: none can be made. */
  /** `destination`: the URL the POST goes to (a link must be reachable from there). */
  readonly attachmentLink?: (messageId: string, part: number, destination: string) => Promise<AttachmentLink>;
}

const DEFAULT_EXCERPT_CHARS = 100;

/**
 * The reason a dead letter keeps: the status, then at most `chars` characters of the app's answer,
 * labelled so nobody takes it for mxhook's words. Every API key holder reads dead letters and an
 * app's error page can carry secrets, so it is short and can be turned off (0).
 */
export function withResponseExcerpt(reason: string, body: string | undefined, chars: number): string {
  if (!body || chars <= 0) return reason;
  const characters = Array.from(body);
  const cut = characters.length > chars;
  return `${reason}; response excerpt: "${characters.slice(0, chars).join('')}${cut ? '…' : ''}"${cut ? ` (first ${chars} characters)` : ''}`;
}

/** `bytesSent`: the request body's size (for /metrics), 0 when nothing was sent. */
export async function attemptDelivery(ctx: AttemptContext, input: AttemptInput): Promise<{ outcome: DeliveryOutcome; status?: number; response?: string; bytesSent: number; parsed?: ParsedFacts }> {
  const { route, message } = input;
  const delivery = deliveryOf(message.meta, input.deliveryId, route.hostname);
  const context = {
    senderIp: message.meta.clientIp,
    mailFrom: message.meta.mailFrom,
    // This delivery's recipients: an address rule's delivery carries only the ones it matched.
    recipients: delivery.recipients,
    auth: message.meta.auth,
  };
  // Postmark's MailboxHash: the plus tag of a `reply+*` rule (an mxhook extension field).
  const mailboxHash: PayloadPart[] = delivery.mailboxHash !== undefined ? [{ name: 'mailbox_hash', value: delivery.mailboxHash }] : [];
  const spoolDir = path.join(ctx.spoolDir, `${input.deliveryId}-${input.attempt}-${process.pid}`);
  let spilled = false;
  // spamd (network) runs while the payload is built (CPU); spamCheck never rejects.
  const spam = route.spam_check && ctx.spamCheck ? ctx.spamCheck(message.raw) : undefined;
  try {
    let payload;
    const spool = { dir: spoolDir, onSpill: () => { spilled = true; } };
    if (route.send_raw) payload = route.raw_8bit === 'encode' ? await buildEncodedRawPayload(message.raw, context, spool) : buildRawPayload(message.raw, context);
    else {
      // The spool directory is made only when an attachment spills to disk (spool.ts).
      payload = await buildParsedPayload(message.raw, context, spool, { stripReplies: route.strip_replies === true });
    }
    if (spam) payload = { ...payload, parts: [...payload.parts, ...(await spam)] };
    if (mailboxHash.length) payload = { ...payload, parts: [...payload.parts, ...mailboxHash] };
    const material = { hmacKeys: input.hmacKeys, ecdsaKey: input.ecdsaKey };
    const ids = { webhookId: input.deliveryId, timestampSeconds: Math.floor(Date.now() / 1000) };
    const link = ctx.attachmentLink;
    const { form, headers } = route.payload_format === 'json'
      ? await encodeSignedJson(await prepareJson(payload, {
        attachmentMax: route.json_attachment_max ?? DEFAULT_JSON_ATTACHMENT_MAX,
        link: (part) => (link ? link(messageIdOf(input.deliveryId), part, input.target.url) : Promise.reject(new Error('attachment download links are not available in this process'))),
      }), material, ids)
      : await encodeSigned(payload, material, ids);
    const result = await postForm(ctx.agent, input.target, form, {
      ...headers,
      'x-mxhook-delivery-id': input.deliveryId,
      'x-mxhook-attempt': String(input.attempt),
      ...(message.meta.replayOf ? { 'x-mxhook-replay-of': message.meta.replayOf } : {}),
    }, ctx.post);
    const outcome = classifyAttempt(result);
    const detailed = outcome.kind === 'permanent' && result.kind === 'response'
      ? { ...outcome, reason: withResponseExcerpt(outcome.reason, result.bodySnippet, ctx.post.responseExcerptChars ?? DEFAULT_EXCERPT_CHARS) }
      : outcome;
    return {
      outcome: detailed, bytesSent: result.kind === 'response' ? form.contentLength : 0, parsed: parsedFacts(payload.parts),
      ...(result.kind === 'response' ? { status: result.status, ...(result.bodySnippet ? { response: result.bodySnippet } : {}) } : {}),
    };
  } finally {
    // Most messages never spill: no directory to remove, and no syscall to find that out.
    if (spilled) await removeSpoolDir(spoolDir);
  }
}

/** What the payload tells the message log: the attachment count (parsed mode) and the spam score. */
function parsedFacts(parts: readonly PayloadPart[]): ParsedFacts | undefined {
  const value = (name: string) => {
    const part = parts.find((p) => p.name === name);
    return part && 'value' in part ? part.value : undefined;
  };
  const attachments = value('attachments');
  if (attachments === undefined) return undefined;
  const spam = Number(value('spam_score'));
  return { attachments: Number(attachments), ...(Number.isFinite(spam) && value('spam_score') !== undefined ? { spamScore: spam } : {}) };
}
