/**
 * Signs a POST body: Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature:
 * v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one signature per active secret) and, per
 * route, SendGrid's ECDSA P-256 scheme (signature over timestamp + body).
 */
import { createHmac, createSign, type Hmac, type KeyObject, type Sign } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Payload } from '../parse/payload.ts';
import { encodeFormBuffer, type BufferedForm } from './encode-buffer.ts';
import { encodeForm, newBoundary, type EncodedForm } from './encode-form.ts';

export interface SigningMaterial {
  /** HMAC keys of the route's active secrets (may be empty: then no Standard Webhooks headers). */
  readonly hmacKeys: readonly KeyObject[];
  /** Set when the route asks for SendGrid's signature. */
  readonly ecdsaKey?: KeyObject | undefined;
}

/** Bodies up to this size are encoded once into memory; bigger ones are encoded twice (hash, then send). */
const BUFFER_LIMIT = 4 * 1024 * 1024;

export async function encodeSigned(
  payload: Payload,
  material: SigningMaterial,
  ids: { webhookId: string; timestampSeconds: number },
): Promise<{ form: EncodedForm | BufferedForm; headers: Record<string, string> }> {
  const boundary = newBoundary();
  // Small all-in-memory payloads (nearly every message) are built straight into one Buffer.
  const first = encodeFormBuffer(payload, boundary, BUFFER_LIMIT) ?? encodeForm(payload, boundary);
  if (!material.hmacKeys.length && !material.ecdsaKey) return { form: first, headers: {} };
  const ts = String(ids.timestampSeconds);
  const hmacs = material.hmacKeys.map((key) => createHmac('sha256', key).update(`${ids.webhookId}.${ts}.`));
  const signer = material.ecdsaKey ? createSign('sha256').update(ts) : undefined;
  let form: EncodedForm | BufferedForm;
  if (Buffer.isBuffer(first.body)) {
    for (const h of hmacs) h.update(first.body);
    signer?.update(first.body);
    form = first;
  } else if (first.contentLength <= BUFFER_LIMIT) {
    const chunks: Buffer[] = [];
    for await (const chunk of first.body) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    for (const h of hmacs) h.update(body);
    signer?.update(body);
    // Sent as the Buffer it now is (postForm writes a Buffer in one go).
    form = { body, contentType: first.contentType, contentLength: first.contentLength };
  } else {
    for await (const chunk of first.body) {
      for (const h of hmacs) h.update(chunk as Buffer);
      signer?.update(chunk as Buffer);
    }
    form = encodeForm(payload, boundary);
  }
  return { form, headers: signatureHeaders(material, ids.webhookId, ts, hmacs, signer) };
}

/**
 * A JSON body (encode-json.ts) signed the same way: its pieces are read once to learn its length
 * and sign it (kept when small), and once more to send it when it is large.
 */
export async function encodeSignedJson(
  pieces: () => AsyncGenerator<Buffer>,
  material: SigningMaterial,
  ids: { webhookId: string; timestampSeconds: number },
): Promise<{ form: EncodedForm | BufferedForm; headers: Record<string, string> }> {
  const ts = String(ids.timestampSeconds);
  const hmacs = material.hmacKeys.map((key) => createHmac('sha256', key).update(`${ids.webhookId}.${ts}.`));
  const signer = material.ecdsaKey ? createSign('sha256').update(ts) : undefined;
  let kept: Buffer[] | undefined = [];
  let length = 0;
  for await (const piece of pieces()) {
    for (const h of hmacs) h.update(piece);
    signer?.update(piece);
    length += piece.length;
    if (kept && length > BUFFER_LIMIT) kept = undefined;
    kept?.push(piece);
  }
  const contentType = 'application/json';
  const form: EncodedForm | BufferedForm = kept
    ? { body: Buffer.concat(kept, length), contentType, contentLength: length }
    : { body: Readable.from(pieces()), contentType, contentLength: length };
  return { form, headers: signatureHeaders(material, ids.webhookId, ts, hmacs, signer) };
}

function signatureHeaders(material: SigningMaterial, webhookId: string, ts: string, hmacs: readonly Hmac[], signer: Sign | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (hmacs.length) {
    headers['webhook-id'] = webhookId;
    headers['webhook-timestamp'] = ts;
    headers['webhook-signature'] = hmacs.map((h) => `v1,${h.digest('base64')}`).join(' ');
  }
  if (signer && material.ecdsaKey) {
    headers['x-twilio-email-event-webhook-signature'] = signer.sign({ key: material.ecdsaKey, dsaEncoding: 'der' }).toString('base64');
    headers['x-twilio-email-event-webhook-timestamp'] = ts;
  }
  return headers;
}

/**
 * Signs a JSON body (an event-webhook batch) with both schemes: Standard Webhooks with `hmacKey`,
 * SendGrid's Event Webhook ECDSA signature (over timestamp + body) with `ecdsaKey`.
 */
export function signBody(body: Buffer, keys: { hmacKey: KeyObject; ecdsaKey: KeyObject }, ids: { webhookId: string; timestampSeconds: number }): Record<string, string> {
  const ts = String(ids.timestampSeconds);
  const hmac = createHmac('sha256', keys.hmacKey).update(`${ids.webhookId}.${ts}.`).update(body).digest('base64');
  const ecdsa = createSign('sha256').update(ts).update(body).sign({ key: keys.ecdsaKey, dsaEncoding: 'der' }).toString('base64');
  return {
    'webhook-id': ids.webhookId, 'webhook-timestamp': ts, 'webhook-signature': `v1,${hmac}`,
    'x-twilio-email-event-webhook-signature': ecdsa, 'x-twilio-email-event-webhook-timestamp': ts,
  };
}
