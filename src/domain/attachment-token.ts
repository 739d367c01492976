/**
 * Attachment download tokens of JSON POSTs: `<message id>.<attachment n>.<expiry s>.<signature>`,
 * the signature an HMAC-SHA256 of the rest under a server secret (store/attachment-links.ts), so a
 * token names one attachment of one message until its expiry and cannot be altered or made up.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface AttachmentRef {
  readonly messageId: string;
  /** n of the `attachmentN` field. */
  readonly part: number;
  /** Seconds since the epoch. */
  readonly expiresAt: number;
}

const TOKEN = /^([0-9a-z]{1,40})\.([1-9][0-9]{0,3})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$/;

const sign = (key: Buffer, body: string) => createHmac('sha256', key).update(`mxhook-attachment.${body}`).digest('base64url');

export function attachmentToken(key: Buffer, ref: AttachmentRef): string {
  const body = `${ref.messageId}.${ref.part}.${ref.expiresAt}`;
  return `${body}.${sign(key, body)}`;
}

/** `invalid`: malformed, altered or signed with another key; `expired`: genuine but past its expiry. */
export function checkAttachmentToken(key: Buffer, token: string, nowSeconds: number): { ok: AttachmentRef } | { error: 'invalid' | 'expired' } {
  const match = TOKEN.exec(token);
  if (!match) return { error: 'invalid' };
  const [, messageId, part, expires, signature] = match as unknown as [string, string, string, string, string];
  const expected = Buffer.from(sign(key, `${messageId}.${part}.${expires}`));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { error: 'invalid' };
  if (Number(expires) <= nowSeconds) return { error: 'expired' };
  return { ok: { messageId, part: Number(part), expiresAt: Number(expires) } };
}

/** Where the API serves a token's attachment: `${ATTACHMENTS_PATH}/${token}`. */
export const ATTACHMENTS_PATH = '/v3/user/webhooks/parse/attachments';
