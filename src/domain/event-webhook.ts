/**
 * The event webhook's model: which events exist, how a message-log event becomes the events a
 * destination receives, the rules for an event destination and for a route's custom_args, and the
 * retry schedule of a batch. Pure.
 */
import { checkOutboundUrl } from './destination-policy.ts';
import type { FieldError } from './errors.ts';

export const WEBHOOK_EVENTS = [
  'received', 'delivered', 'deferred', 'dead_lettered', 'replayed', 'redelivered', 'refused', 'route_circuit_open', 'route_circuit_closed',
] as const;
export type WebhookEventName = (typeof WEBHOOK_EVENTS)[number];

/** One event as POSTed (in a JSON array). */
export interface WebhookEvent {
  readonly event: WebhookEventName;
  /** Unix seconds. */
  readonly timestamp: number;
  /** Unique and increasing in the order the log recorded it: for de-duplication and ordering. */
  readonly mxhook_event_id: string;
  readonly mxhook_message_id: string | null;
  readonly delivery_id: string | null;
  readonly hostname: string | null;
  readonly custom_args?: Readonly<Record<string, string>>;
  readonly [field: string]: unknown;
}

/** Most events in one POST; a batch also goes once it has waited BATCH_WAIT_MS. */
export const BATCH_MAX_EVENTS = 500;
export const BATCH_WAIT_MS = 1000;

const seconds = (iso: unknown): number | undefined => (typeof iso === 'string' && Number.isFinite(Date.parse(iso)) ? Math.floor(Date.parse(iso) / 1000) : undefined);

/**
 * The webhook events of one log event (stream entry `streamId`), without custom_args (the
 * dispatcher adds the route's). `message.accepted` makes one `received` per delivery; log events
 * with no webhook counterpart (queued, delivering, attempts) make none.
 */
export function webhookEventsOf(log: Record<string, unknown>, streamId: string): WebhookEvent[] {
  const timestamp = seconds(log.timestamp) ?? Math.floor(Number(streamId.split('-')[0]) / 1000);
  const base = { timestamp, mxhook_message_id: typeof log.mxhook_message_id === 'string' ? log.mxhook_message_id : null };
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  const delivery = { delivery_id: str(log.delivery_id), hostname: str(log.hostname) };
  const id = (n = 0) => (n ? `${streamId}.${n}` : streamId);
  switch (log.event) {
    case 'message.accepted': {
      const hostnames = Array.isArray(log.hostnames) ? (log.hostnames as string[]) : [];
      const recipients = (log.recipients ?? {}) as Record<string, string[]>;
      // One per delivery (address rules may make several of one hostname); an event written
      // before deliveries were listed has one delivery per hostname.
      type Listed = { id: string; hostname: string; recipients: string[]; rule?: string; mailbox_hash?: string };
      const deliveries: Listed[] = Array.isArray(log.deliveries)
        ? (log.deliveries as Listed[])
        : hostnames.map((hostname, i) => ({ id: `${base.mxhook_message_id}.${i + 1}`, hostname, recipients: recipients[hostname] ?? [] }));
      return deliveries.map((d, i) => ({
        event: 'received', ...base, mxhook_event_id: id(i + 1), delivery_id: d.id, hostname: d.hostname,
        envelope: { from: str(log.mail_from) ?? '', to: d.recipients ?? [] },
        size: log.size ?? null, routes: hostnames, from: log.from ?? null, subject: log.subject ?? null,
        ...(d.rule !== undefined ? { address_rule: d.rule } : {}), ...(d.mailbox_hash !== undefined ? { mailbox_hash: d.mailbox_hash } : {}),
        ...(log.replay_of ? { replay_of: log.replay_of } : {}),
      }));
    }
    case 'delivery.delivered':
      return [{ event: 'delivered', ...base, mxhook_event_id: id(), ...delivery, attempt: log.attempt ?? null, status: log.status ?? null, duration_ms: log.duration_ms ?? null }];
    case 'delivery.retrying':
      return [{
        event: 'deferred', ...base, mxhook_event_id: id(), ...delivery, attempt: log.attempt ?? null,
        ...(log.status !== undefined ? { status: log.status } : {}), ...(log.error !== undefined ? { error: log.error } : {}),
        next_attempt_at: seconds(log.next_attempt_at) ?? null,
      }];
    case 'delivery.dead-lettered':
      return [{ event: 'dead_lettered', ...base, mxhook_event_id: id(), ...delivery, reason: log.reason ?? null, attempts: log.attempts ?? null }];
    case 'delivery.replayed':
      return [{ event: log.via === 'redeliver' ? 'redelivered' : 'replayed', ...base, mxhook_event_id: id(), ...delivery, new_delivery_id: log.replayed_as ?? null }];
    case 'route.circuit_open':
    case 'route.circuit_closed':
      return [{
        event: log.event === 'route.circuit_open' ? 'route_circuit_open' : 'route_circuit_closed', ...base, mxhook_event_id: id(), ...delivery,
        origin: log.origin ?? null, ...(log.open_until ? { open_until: seconds(log.open_until) ?? null } : {}),
      }];
    case 'smtp.refused':
      return [{ event: 'refused', ...base, mxhook_message_id: null, mxhook_event_id: id(), delivery_id: null, hostname: str(log.hostname) || null, reason: log.reason ?? null, count: log.count ?? 0, minute: log.minute ?? null }];
    default:
      return [];
  }
}

/** An event destination as stored and answered (never its secret). */
export interface EventDestination {
  readonly id: string;
  readonly url: string;
  readonly enabled: boolean;
  readonly events: readonly WebhookEventName[];
  readonly created_at: string;
  /** Stream id from which it receives events (those logged after it was made). */
  readonly since: string;
}

export type EventDestinationInput = Pick<EventDestination, 'url' | 'enabled' | 'events'>;

const DESTINATION_FIELDS = new Set(['url', 'enabled', 'events']);

/** Validates a create (`existing` undefined) or a patch of an event destination. */
export function validateEventDestination(
  input: unknown, existing?: EventDestinationInput,
): { value: EventDestinationInput; errors?: undefined } | { value?: undefined; errors: FieldError[] } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return { errors: [{ field: null, message: 'body must be a JSON object' }] };
  const body = input as Record<string, unknown>;
  const errors: FieldError[] = [];
  for (const key of Object.keys(body)) if (!DESTINATION_FIELDS.has(key)) errors.push({ field: key, message: `unknown field ${key}` });
  let url = existing?.url ?? '';
  if (body.url !== undefined || !existing) {
    const problem = checkOutboundUrl(body.url);
    if (problem) errors.push({ field: 'url', message: problem });
    else url = String(body.url);
  }
  let enabled = existing?.enabled ?? true;
  if (body.enabled !== undefined) {
    if (typeof body.enabled !== 'boolean') errors.push({ field: 'enabled', message: 'enabled must be true or false' });
    else enabled = body.enabled;
  }
  let events: readonly WebhookEventName[] = existing?.events ?? WEBHOOK_EVENTS;
  if (body.events !== undefined) {
    if (!Array.isArray(body.events) || body.events.length === 0) errors.push({ field: 'events', message: `events must be a non-empty array of: ${WEBHOOK_EVENTS.join(', ')}` });
    else {
      const unknown = body.events.filter((e) => !(WEBHOOK_EVENTS as readonly unknown[]).includes(e));
      if (unknown.length) errors.push({ field: 'events', message: `unknown event ${JSON.stringify(unknown[0])}; events are: ${WEBHOOK_EVENTS.join(', ')}` });
      else events = WEBHOOK_EVENTS.filter((e) => (body.events as unknown[]).includes(e));
    }
  }
  return errors.length ? { errors } : { value: { url, enabled, events } };
}

/** custom_args: at most this many keys, and this many bytes as JSON (SendGrid's limit for unique args). */
export const CUSTOM_ARGS_MAX_KEYS = 50;
export const CUSTOM_ARGS_MAX_BYTES = 10_000;
const CUSTOM_ARG_KEY = /^[A-Za-z0-9_.-]{1,100}$/;

/** A route's custom_args, checked: a flat map of string to string. Answers the map or the problem. */
export function checkCustomArgs(value: unknown): Record<string, string> | string {
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) return 'custom_args must be an object of string values';
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > CUSTOM_ARGS_MAX_KEYS) return `custom_args has ${entries.length} keys; at most ${CUSTOM_ARGS_MAX_KEYS} are allowed`;
  for (const [key, v] of entries) {
    if (!CUSTOM_ARG_KEY.test(key)) return `custom_args key ${JSON.stringify(key.slice(0, 120))} must be 1-100 letters, digits, "_", "." or "-"`;
    if (typeof v !== 'string') return `custom_args.${key} must be a string (custom_args is a flat map of strings), got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`;
  }
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > CUSTOM_ARGS_MAX_BYTES) return `custom_args is ${bytes} bytes as JSON; at most ${CUSTOM_ARGS_MAX_BYTES} are allowed`;
  return Object.fromEntries(entries) as Record<string, string>;
}

/** Wait before retry `attempt` (1 = the first retry) of a batch: doubling from 1 s, capped, with jitter. */
export function batchRetryDelay(attempt: number, maxIntervalMs: number, random: () => number = Math.random): number {
  const base = Math.min(1000 * 2 ** Math.min(attempt - 1, 30), maxIntervalMs);
  return Math.round(base * (0.8 + 0.4 * random()));
}
