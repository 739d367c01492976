/**
 * The authentication fields of a POST, from the verdicts stored at SMTP time (docs/payload.md, docs/smtp.md "Authentication results"):
 * `SPF` and `dkim` in SendGrid's formats, `auth` (every verdict, JSON; mxhook extension), and our
 * Authentication-Results header in `headers`, right after our Received:.
 */
import { authJsonField, sendgridDkimField, sendgridSpfField, type AuthVerdicts } from '../domain/auth.ts';
import type { PayloadPart } from './payload.ts';

/** Returns the parts with the auth fields added; unchanged when there are no verdicts (checks off). */
export function withAuthFields(parts: readonly PayloadPart[], auth: AuthVerdicts | undefined): PayloadPart[] {
  if (!auth) return [...parts];
  const withHeader = parts.map((part) => (part.name === 'headers' && 'value' in part ? { ...part, value: insertAfterFirstLine(part.value, auth.header) } : part));
  return [
    ...withHeader,
    { name: 'dkim', value: sendgridDkimField(auth) },
    { name: 'SPF', value: sendgridSpfField(auth) },
    { name: 'auth', value: authJsonField(auth) },
  ];
}

/** The first line of `headers` is our Received: (prepended at intake). */
function insertAfterFirstLine(headers: string, line: string): string {
  const end = headers.indexOf('\n');
  if (end < 0) return `${headers}\n${line}\n`;
  return `${headers.slice(0, end + 1)}${line}\n${headers.slice(end + 1)}`;
}
