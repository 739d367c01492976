/** The `Received:` trace header we prepend (RFC 5321 §4.4). Pure. */

export interface TraceInfo {
  readonly helo: string;
  readonly clientIp: string;
  readonly clientHostname?: string | undefined;
  readonly ourHostname: string;
  readonly id: string;
  readonly recipients: readonly string[];
  readonly secure: boolean;
  /** The client asked for SMTPUTF8 (RFC 6531): the protocol is then UTF8SMTP(S). */
  readonly utf8?: boolean | undefined;
  readonly date: Date;
}

/**
 * The header is text that may hold UTF-8 (an SMTPUTF8 HELO or recipient): it is turned into bytes
 * as UTF-8, never Latin-1, or the whole header block stops being valid UTF-8.
 *
 * `Received: from helo (rdns [ip]) by us (mxhook) with ESMTP id X for <rcpt>; date`.
 * The `for` clause is only written for a single recipient, as Postfix does, so one message to
 * several people does not disclose the whole list to each.
 */
export function buildReceivedHeader(info: TraceInfo): string {
  const ip = info.clientIp.includes(':') ? `IPv6:${info.clientIp}` : info.clientIp;
  const from = `from ${sanitize(info.helo) || 'unknown'} (${info.clientHostname ? `${sanitize(info.clientHostname)} ` : ''}[${ip}])`;
  const forClause = info.recipients.length === 1 ? `\r\n\tfor <${sanitize(info.recipients[0])}>` : '';
  return `Received: ${from}\r\n\tby ${info.ourHostname} (mxhook) with ${info.utf8 ? 'UTF8SMTP' : 'ESMTP'}${info.secure ? 'S' : ''} id ${info.id}${forClause};\r\n\t${formatRfc5322Date(info.date)}\r\n`;
}

function sanitize(value: string): string {
  return value.replace(/[\r\n()<>;\\\x00-\x1f\x7f]/g, '').slice(0, 255);
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `Wed, 25 Nov 2026 11:33:09 +0000` */
export function formatRfc5322Date(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[date.getUTCDay()]}, ${date.getUTCDate()} ${MONTHS[date.getUTCMonth()]} ${date.getUTCFullYear()} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}
