/**
 * The message log's model: what is recorded of each accepted message and of each of its
 * deliveries, the delivery states and which moves between them are valid, and the shape of the
 * events the log publishes. Pure: the store writes what these functions decide.
 */
import type { AuthVerdicts } from './auth.ts';

export const DELIVERY_STATES = ['queued', 'delivering', 'delivered', 'retrying', 'dead-lettered', 'replayed'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

export function isDeliveryState(value: string): value is DeliveryState {
  return (DELIVERY_STATES as readonly string[]).includes(value);
}

/**
 * From each state, the states a delivery may move to. A write that is not one of these is
 * ignored: a late "delivering" (a write that lost a race) never overwrites "delivered", and a
 * finished delivery only ever becomes "replayed" (a new delivery was made of it).
 */
const NEXT: Readonly<Record<DeliveryState, readonly DeliveryState[]>> = {
  queued: ['delivering', 'delivered', 'retrying', 'dead-lettered'],
  // delivering -> delivering: a job picked up again after its worker died.
  delivering: ['delivering', 'delivered', 'retrying', 'dead-lettered'],
  retrying: ['delivering', 'delivered', 'retrying', 'dead-lettered'],
  delivered: ['replayed'],
  'dead-lettered': ['replayed'],
  replayed: ['replayed'],
};

/** What happened to a delivery, as the worker (or a redeliver) reports it. */
export type DeliveryEvent =
  | { readonly kind: 'attempt-started' }
  | { readonly kind: 'delivered' }
  | { readonly kind: 'retry-scheduled'; readonly nextAttemptAt: number }
  | { readonly kind: 'dead-lettered' }
  | { readonly kind: 'replayed'; readonly replayedAs: string };

export function stateAfter(event: DeliveryEvent): DeliveryState {
  switch (event.kind) {
    case 'attempt-started': return 'delivering';
    case 'delivered': return 'delivered';
    case 'retry-scheduled': return 'retrying';
    case 'dead-lettered': return 'dead-lettered';
    case 'replayed': return 'replayed';
  }
}

/** The state after `event`, or undefined when the move is not valid from `current` (the write is ignored). */
export function transition(current: DeliveryState, event: DeliveryEvent): DeliveryState | undefined {
  const next = stateAfter(event);
  return NEXT[current].includes(next) ? next : undefined;
}

/** The states from which a delivery may move to `target` (the store checks this atomically). */
export function statesLeadingTo(target: DeliveryState): DeliveryState[] {
  return DELIVERY_STATES.filter((from) => NEXT[from].includes(target));
}

/** At most this many bytes of an app's answer are kept per attempt. */
export const RESPONSE_SNIPPET_BYTES = 1024;
/** The newest attempts kept per delivery (a 72 h schedule makes a few dozen). */
export const ATTEMPTS_KEPT = 50;

/** What the log keeps of an accepted message; never changes after the accept, except `parsed`. */
export interface MessageRecord {
  readonly id: string;
  /** End of DATA, ms since the epoch. */
  readonly receivedAt: number;
  readonly clientIp: string;
  readonly helo: string;
  /** MAIL FROM; '' for the null sender. */
  readonly mailFrom: string;
  /** Recipients per parse hostname (one delivery per hostname, or per address rule under it: DeliveryLog.rule). */
  readonly recipients: Readonly<Record<string, readonly string[]>>;
  /** Header values as written (encoded-words left encoded; decoded when read). */
  readonly from?: string | undefined;
  readonly subject?: string | undefined;
  readonly messageIdHeader?: string | undefined;
  readonly size: number;
  /** SPF / DKIM / DMARC verdict words; absent when the checks are off. */
  readonly auth?: { readonly spf: string; readonly dkim: string; readonly dmarc: string } | undefined;
  /** Delivery id this message re-delivers (replay or redeliver). */
  readonly replayOf?: string | undefined;
}

/** Known once a worker has parsed the message (its first attempt). */
export interface ParsedFacts {
  readonly attachments: number;
  /** SpamAssassin's score, for routes with spam_check when spamd answered. */
  readonly spamScore?: number | undefined;
}

export interface AttemptLog {
  /** Start of the attempt, ms since the epoch. */
  readonly at: number;
  readonly durationMs: number;
  readonly outcome: 'delivered' | 'retry' | 'permanent';
  /** HTTP status, when the app answered. */
  readonly status?: number | undefined;
  /** Error code (ECONNREFUSED, ETIMEDOUT, ...) or reason when there was no answer. */
  readonly error?: string | undefined;
  /** The first RESPONSE_SNIPPET_BYTES of the app's answer body. */
  readonly response?: string | undefined;
  readonly bytesSent: number;
}

export interface DeliveryLog {
  readonly id: string;
  readonly hostname: string;
  /** Set for a delivery an address rule made: its match pattern, URL (password masked) and recipients. */
  readonly rule?: string | undefined;
  readonly url?: string | undefined;
  readonly recipients?: readonly string[] | undefined;
  /** The plus tag posted as mailbox_hash. */
  readonly mailboxHash?: string | undefined;
  readonly state: DeliveryState;
  readonly updatedAt: number;
  /** For `retrying`: when the next attempt is due, ms since the epoch. */
  readonly nextAttemptAt?: number | undefined;
  /** For `replayed`: the delivery id that was made of it. */
  readonly replayedAs?: string | undefined;
  readonly attempts: readonly AttemptLog[];
}

export interface LoggedMessage {
  readonly record: MessageRecord;
  readonly parsed?: ParsedFacts | undefined;
  readonly deliveries: readonly DeliveryLog[];
}

/** Delivery ids are `${messageId}.${n}` (n from 1): the message id is everything before the last dot. */
export function messageIdOf(deliveryId: string): string {
  const dot = deliveryId.lastIndexOf('.');
  return dot > 0 ? deliveryId.slice(0, dot) : deliveryId;
}

/** The verdict words of the log from the full SMTP-time verdicts. */
export function authSummary(auth: AuthVerdicts | undefined): MessageRecord['auth'] {
  if (!auth) return undefined;
  const dkim = auth.dkim.length === 0 ? 'none' : auth.dkim.some((d) => d.result === 'pass') ? 'pass' : auth.dkim[0].result;
  return { spf: auth.spf.result, dkim, dmarc: auth.dmarc.result };
}

/** Header bytes read for From / Subject / Message-ID: a header block past this is not scanned further. */
export const SUMMARY_HEAD_BYTES = 64 * 1024;
const HEADER_VALUE_CHARS = 998;

/**
 * From, Subject and Message-ID of a message from its first bytes (the header block): unfolded,
 * as written, each cut to one SMTP line. Cheap (no MIME parse), so the accept can afford it.
 */
export function headerSummary(head: Buffer): { from?: string; subject?: string; messageIdHeader?: string } {
  // Only the header block is read as text: found in the bytes (the body can be most of the head).
  const bytes = head.subarray(0, SUMMARY_HEAD_BYTES);
  const blank = bytes[0] === 0x0a || (bytes[0] === 0x0d && bytes[1] === 0x0a) ? 0
    : Math.min(...[bytes.indexOf('\n\r\n'), bytes.indexOf('\n\n')].map((i) => (i < 0 ? bytes.length : i)));
  const block = bytes.subarray(0, blank).toString('latin1');
  const found: { from?: string; subject?: string; messageIdHeader?: string } = {};
  const names: Record<string, keyof typeof found> = { from: 'from', subject: 'subject', 'message-id': 'messageIdHeader' };
  for (const line of block.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const field = names[line.slice(0, colon).trim().toLowerCase()];
    if (!field || found[field] !== undefined) continue;
    // Header bytes are often UTF-8 (SMTPUTF8): read them so when valid.
    const raw = Buffer.from(line.slice(colon + 1).trim(), 'latin1');
    const utf8 = raw.toString('utf8');
    found[field] = (utf8.includes('\uFFFD') ? raw.toString('latin1') : utf8).slice(0, HEADER_VALUE_CHARS);
  }
  return found;
}

/** Cuts text to at most `bytes` UTF-8 bytes without splitting a character. */
export function truncateUtf8(text: string, bytes: number): string {
  const buffer = Buffer.from(text, 'utf8');
  if (buffer.length <= bytes) return text;
  let cut = bytes;
  while (cut > 0 && (buffer[cut] & 0xc0) === 0x80) cut--;
  return buffer.subarray(0, cut).toString('utf8');
}

/**
 * The events the log publishes (a Redis stream; the SSE endpoint and the event webhook
 * (domain/event-webhook.ts) read it). Stable shape: `event`, `timestamp` (ISO 8601), `mxhook_message_id` always;
 * `delivery_id` and `hostname` for delivery events; more fields per event.
 */
export type LogEventName = 'message.accepted' | 'delivery.attempt' | `delivery.${DeliveryState}` | 'route.circuit_open' | 'route.circuit_closed' | 'smtp.refused';

export interface LogEvent {
  readonly event: LogEventName;
  readonly timestamp: string;
  readonly mxhook_message_id: string;
  readonly delivery_id?: string;
  readonly hostname?: string;
  readonly [field: string]: unknown;
}

export function logEvent(event: LogEventName, at: number, messageId: string, fields: Record<string, unknown> = {}): LogEvent {
  return { event, timestamp: new Date(at).toISOString(), mxhook_message_id: messageId, ...fields };
}

/**
 * A delivery's event as the stream keeps it (field `c`): `name|ms|delivery id|hostname|more
 * fields JSON`, about a third of the event's JSON (its message id, key names and ISO time are
 * rebuilt by readLogEvents, store/message-log-events.ts). Delivery ids and hostnames hold no `|`.
 */
export function compactDeliveryEvent(name: LogEventName, at: number, deliveryId: string, hostname: string, fields: Record<string, unknown>): string {
  return `${name}|${at}|${deliveryId}|${hostname}|${JSON.stringify(fields)}`;
}

/** The event a compactDeliveryEvent stands for, as JSON; undefined when it is not one. */
export function expandDeliveryEvent(compact: string): { event: string; json: string } | undefined {
  const parts = compact.split('|', 4);
  if (parts.length < 4) return undefined;
  const fields = compact.slice(parts.join('|').length + 1) || '{}';
  const [name, at, deliveryId, hostname] = parts;
  // The JSON as logEvent lays it out: event, timestamp, message id, delivery id, hostname, the rest.
  const head = JSON.stringify(logEvent(name as LogEventName, Number(at), messageIdOf(deliveryId), { delivery_id: deliveryId, hostname }));
  return { event: name, json: fields === '{}' ? head : `${head.slice(0, -1)},${fields.slice(1)}` };
}

/** Filters of a message-log query; the store picks an index from hostname / state / time. */
export interface MessageFilter {
  readonly hostname?: string | undefined;
  readonly state?: DeliveryState | undefined;
  /** Substring of any recipient (case-insensitive). */
  readonly recipient?: string | undefined;
  /** Substring of MAIL FROM or the From header (case-insensitive). */
  readonly sender?: string | undefined;
  /** Every word must appear in the subject (case-insensitive). */
  readonly subjectWords?: readonly string[] | undefined;
  /** Received at or after, ms. */
  readonly since?: number | undefined;
  /** Received at or before, ms. */
  readonly until?: number | undefined;
}

/**
 * Whether a message passes the filters. `subject` and `from` are the decoded header values
 * (the caller decodes encoded-words).
 */
export function matchesFilter(message: LoggedMessage, decoded: { from: string; subject: string }, filter: MessageFilter): boolean {
  const { record } = message;
  if (filter.since !== undefined && record.receivedAt < filter.since) return false;
  if (filter.until !== undefined && record.receivedAt > filter.until) return false;
  const deliveries = filter.hostname ? message.deliveries.filter((d) => d.hostname === filter.hostname) : message.deliveries;
  if (filter.hostname && deliveries.length === 0) return false;
  if (filter.state && !deliveries.some((d) => d.state === filter.state)) return false;
  if (filter.recipient) {
    const needle = filter.recipient.toLowerCase();
    const all = Object.values(record.recipients).flat();
    if (!all.some((r) => r.toLowerCase().includes(needle))) return false;
  }
  if (filter.sender) {
    const needle = filter.sender.toLowerCase();
    if (!record.mailFrom.toLowerCase().includes(needle) && !decoded.from.toLowerCase().includes(needle)) return false;
  }
  if (filter.subjectWords?.length) {
    const subject = decoded.subject.toLowerCase();
    if (!filter.subjectWords.every((w) => subject.includes(w.toLowerCase()))) return false;
  }
  return true;
}
