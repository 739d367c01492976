/** Raw mode (`send_raw`): the whole MIME message as `email`, plus the envelope fields (docs/payload.md). */
import { withAuthFields } from './auth-fields.ts';
import { readEnvelopeHeaders } from './header-block.ts';
import { envelopeJson, type Payload, type PayloadContext } from './payload.ts';

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
