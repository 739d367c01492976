/** Raw mode (`send_raw`): the whole MIME message as `email`, plus the envelope fields (docs/payload.md). */
import { withAuthFields } from './auth-fields.ts';
import { readEnvelopeHeaders } from './header-block.ts';
import { envelopeJson, type Payload, type PayloadContext, type PayloadPart } from './payload.ts';
import { encode8bitParts, has8bit } from './raw-8bit.ts';
import { spoolStream, type SpoolOptions } from './spool.ts';

export function buildRawPayload(raw: Buffer, context: PayloadContext): Payload {
  const headers = readEnvelopeHeaders(raw);
  return {
    parts: withAuthFields([
      { name: 'email', bytes: raw },
      { name: 'to', value: headers.to },
      { name: 'from', value: headers.from },
      { name: 'subject', value: headers.subject },
      { name: 'sender_ip', value: context.senderIp },
      { name: 'envelope', value: envelopeJson(context) },
      { name: 'charsets', value: JSON.stringify({ to: 'UTF-8', from: 'UTF-8', subject: 'UTF-8' }) },
    ], context.auth),
  };
}

/**
 * Raw mode with `raw_8bit: "encode"`: `email` with its 8-bit parts re-encoded (raw-8bit.ts), held
 * in memory or, when big, in a spool file streamed into the POST. A message that is all 7-bit is
 * posted as it is; one the splitter fails on, too (byte-exact, as with "keep").
 */
export async function buildEncodedRawPayload(raw: Buffer, context: PayloadContext, spool: SpoolOptions): Promise<Payload> {
  const payload = buildRawPayload(raw, context);
  if (!has8bit(raw)) return payload;
  let email: PayloadPart;
  try {
    const encoded = await spoolStream(encode8bitParts(raw), 'email.eml', spool);
    email = encoded.kind === 'memory'
      ? { name: 'email', bytes: encoded.data }
      : { name: 'email', pieces: [{ path: encoded.path, escapeHtml: false, size: encoded.size }] };
  } catch {
    return payload;
  }
  return { ...payload, parts: payload.parts.map((part) => (part.name === 'email' ? email : part)) };
}
