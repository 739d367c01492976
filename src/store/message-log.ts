/**
 * The message log in Redis. Its writes ride on the pipeline's own commands where they can: the
 * accept's store script writes the record, the command that clears the accept journal publishes
 * the accepted event, and the release of a delivered delivery logs its attempt; the rest are
 * commands sent in the same turn as the pipeline's own (one round trip). Each is Lua
 * (store/message-log-scripts.ts) run under pcall: a log write can never fail the caller's.
 *
 * Keys (prefix P): `P:log:m:{id}` hash (`m` record JSON, `d.{n}` delivery JSON, `a.{n}` attempts
 * JSON, `p` parsed facts), expiring after the retention; `P:log:idx` sorted set of message ids by
 * received ms; `P:log:idx:host:{hostname}` the same per hostname; `P:log:idx:state:{state}`
 * messages with a delivery in that state (not kept for `queued` and `delivered`, which nearly
 * every message passes through: a scan of the time index finds those densely); `P:log:events` the event stream (store/message-log-events.ts); `P:log:min:{minute}` the
 * overview's figures of one minute (domain/overview.ts names the fields), kept 2 h 10 min.
 */
import type { ChainableCommander } from 'ioredis';
import type { Redis } from './redis-client.ts';
import {
  ATTEMPTS_KEPT, compactDeliveryEvent, messageIdOf, RESPONSE_SNIPPET_BYTES, statesLeadingTo, stateAfter, truncateUtf8,
  type AttemptLog, type DeliveryEvent, type DeliveryLog, type LoggedMessage, type MessageRecord, type ParsedFacts,
} from '../domain/message-log.ts';
import type { DeliveryTarget } from '../domain/message.ts';
import type { KeySpace } from './keys.ts';
import { INDEXED_STATES, runLogScript } from './message-log-scripts.ts';

export { defineMessageLogCommands, INDEXED_STATES } from './message-log-scripts.ts';
export { MINUTE_FIGURES_TTL_S } from '../domain/overview.ts';

export interface MessageLogOptions {
  /** Records are kept this long, ms. */
  readonly retentionMs: number;
  /** At most this many records; the oldest are dropped (at accept) past it. */
  readonly maxRecords: number;
  /** Approximate length cap of the event stream. */
  readonly maxEvents?: number;
}

export const logKeys = (keys: KeySpace) => ({
  record: (id: string) => `${keys.prefix}:log:m:${id}`,
  index: `${keys.prefix}:log:idx`,
  hostIndex: (hostname: string) => `${keys.prefix}:log:idx:host:${hostname}`,
  stateIndex: (state: string) => `${keys.prefix}:log:idx:state:${state}`,
  hostnames: `${keys.prefix}:log:hostnames`,
  events: `${keys.prefix}:log:events`,
  /** Hash: records dropped by `cap` and `retention`, raw messages dropped by `raw_cap` and `raw_memory` (for /metrics). */
  cuts: `${keys.prefix}:log:cuts`,
  /** Sorted set of raw messages kept after delivery (`{id}|{bytes}` by time kept), and their byte total. */
  rawIndex: `${keys.prefix}:log:raw`,
  rawBytes: `${keys.prefix}:log:raw-bytes`,
  refusals: (bucket: 'm' | 'h', slot: number) => `${keys.prefix}:log:refusals:${bucket}:${slot}`,
  /** Hash: the overview's figures of one minute (ms / 60,000). */
  minute: (slot: number) => `${keys.prefix}:log:min:${slot}`,
});


/** Removes the record of a message whose accept failed after it was logged (its sender got 451). */
export async function forgetLogged(redis: Redis, keys: KeySpace, messageId: string): Promise<void> {
  await redis.eval(`local p, id = ARGV[1], ARGV[2]
local rec = p .. ':log:m:' .. id
local hostnames = redis.call('HGET', rec, 'h') or ''
redis.call('DEL', rec)
redis.call('ZREM', p .. ':log:idx', id)
for h in string.gmatch(hostnames, '[^,]+') do redis.call('ZREM', p .. ':log:idx:host:' .. h, id) end
return 1`, 1, logKeys(keys).record(messageId), keys.prefix, messageId);
}

/**
 * What a busy caller may leave out of an accept's log write (queue/accept.ts does): the check of
 * the record cap (`capCheck: false`; the next check catches up) and adding the hostnames to the
 * set of them (`hostnames: false`, when it added them recently).
 */
export interface AcceptLogIncludes {
  readonly capCheck?: boolean;
  readonly hostnames?: boolean;
}

/**
 * The accept script's arguments (logAccept in store/message-log-scripts.ts): the record of an
 * accepted message, all its deliveries `queued`. `targets`: one per delivery when address rules
 * split the message (each keeps its rule, url and recipients); absent, one delivery per hostname.
 * The store script takes them too (store/incoming.ts), to log the message in the command that stores it.
 */
export function acceptedLogArgs(
  keys: KeySpace, options: MessageLogOptions, record: MessageRecord, targets: readonly DeliveryTarget[] | undefined, include: AcceptLogIncludes,
): (string | number)[] {
  const hostnames = Object.keys(record.recipients);
  // Split by address rules: each delivery keeps its own recipients (its rule's, or the hostname's rest).
  const split = targets !== undefined && targets.some((t) => t.rule !== undefined);
  const perDelivery = split ? targets : hostnames.map((hostname) => ({ hostname }) as DeliveryTarget);
  const deliveries = perDelivery.map((t, i) => JSON.stringify({
    id: `${record.id}.${i + 1}`, hostname: t.hostname, state: 'queued', updatedAt: record.receivedAt,
    ...(split ? { recipients: t.recipients } : {}),
    ...(t.rule !== undefined ? { rule: t.rule, ...(t.url ? { url: t.url } : {}), ...(t.mailboxHash !== undefined ? { mailboxHash: t.mailboxHash } : {}) } : {}),
  }));
  return [keys.prefix, record.id, record.receivedAt, JSON.stringify(record), hostnames.join(','),
    Math.ceil(options.retentionMs / 1000), include.capCheck === false ? '' : options.maxRecords, INDEXED_STATES.join(','),
    include.hostnames === false ? '0' : '1', ...deliveries];
}

/** Appends the record of an accepted message (see acceptedLogArgs) to `pipe`. */
export function logAccepted(
  pipe: ChainableCommander, keys: KeySpace, options: MessageLogOptions, record: MessageRecord, targets?: readonly DeliveryTarget[], include: AcceptLogIncludes = {},
): void {
  runLogScript(pipe, 'mxhookLogAccept', acceptedLogArgs(keys, options, record, targets, include));
}

/**
 * The same, sent on `redis` itself: on an auto-pipelined connection it joins the write of the
 * commands issued in this turn (the accept sends it right after its store: one round trip).
 */
export function sendAccepted(
  redis: Redis, keys: KeySpace, options: MessageLogOptions, record: MessageRecord, targets?: readonly DeliveryTarget[], include: AcceptLogIncludes = {},
): Promise<unknown> {
  return Promise.resolve(runLogScript(redis, 'mxhookLogAccept', acceptedLogArgs(keys, options, record, targets, include)));
}

/**
 * Publishes a logged message's accepted event, once its jobs exist; a worker's first write about
 * it does the same if it gets there first. `journal`: the accept journal's key and the message's
 * member, removed in the same command (the accept's last write: one command for both); resolves
 * with what that ZREM did (1: the entry was there), else 1.
 */
export async function confirmLogged(
  redis: Redis, keys: KeySpace, messageId: string, maxEvents = 100_000, journal?: { readonly key: string; readonly member: string },
): Promise<number> {
  return Number(await runLogScript(redis, 'mxhookLogConfirm', [keys.prefix, messageId, maxEvents, ...(journal ? [journal.key, journal.member] : [])]));
}

/** The arguments of moveState after prefix, id, n, and the move's event. */
function stateMove(deliveryId: string, hostname: string, receivedAt: number, event: DeliveryEvent, now: number, details: Record<string, unknown>) {
  const state = stateAfter(event);
  const next = event.kind === 'retry-scheduled' ? event.nextAttemptAt : undefined;
  const replayedAs = event.kind === 'replayed' ? event.replayedAs : undefined;
  return {
    args: [state, statesLeadingTo(state).join(','), now, next ?? '', replayedAs ?? '', receivedAt] as const,
    event: compactDeliveryEvent(`delivery.${state}`, now, deliveryId, hostname, {
      ...(next !== undefined ? { next_attempt_at: new Date(next).toISOString() } : {}),
      ...(replayedAs ? { replayed_as: replayedAs } : {}),
      ...details,
    }),
  };
}

/** An attempt as appendAttempt keeps it (the answer cut to 1 KiB). */
function attemptArgs(attempt: AttemptLog) {
  const kept: AttemptLog = attempt.response === undefined ? attempt : { ...attempt, response: truncateUtf8(attempt.response, RESPONSE_SNIPPET_BYTES) };
  return [JSON.stringify(kept), ATTEMPTS_KEPT] as const;
}

/** The event of an attempt logged alone (logAttempt). */
function attemptEvent(deliveryId: string, hostname: string, attempt: AttemptLog): string {
  return compactDeliveryEvent('delivery.attempt', attempt.at, deliveryId, hostname, {
    outcome: attempt.outcome, duration_ms: attempt.durationMs,
    ...(attempt.status !== undefined ? { status: attempt.status } : {}), ...(attempt.error ? { error: attempt.error } : {}),
  });
}

const where = (keys: KeySpace, deliveryId: string) => {
  const messageId = messageIdOf(deliveryId);
  return [keys.prefix, messageId, deliveryId.slice(messageId.length + 1)] as const;
};

/**
 * Appends a delivery's move to the state `event` leads to. Ignored (atomically) when the move
 * is not valid from the delivery's current state (domain/message-log.ts).
 */
export function logDeliveryState(
  pipe: ChainableCommander, keys: KeySpace, deliveryId: string, hostname: string, receivedAt: number, event: DeliveryEvent, now = Date.now(), maxEvents = 100_000,
  /** More fields of the published event (attempt, status, reason...), for the event webhook. */
  details: Record<string, unknown> = {},
): void {
  const move = stateMove(deliveryId, hostname, receivedAt, event, now, details);
  runLogScript(pipe, 'mxhookLogState', [...where(keys, deliveryId), ...move.args, move.event, maxEvents]);
}

/** Appends one attempt to a delivery's timeline (the response cut to 1 KiB). */
export function logAttempt(pipe: ChainableCommander, keys: KeySpace, deliveryId: string, hostname: string, attempt: AttemptLog, maxEvents = 100_000): void {
  runLogScript(pipe, 'mxhookLogAttempt', [...where(keys, deliveryId), ...attemptArgs(attempt), attemptEvent(deliveryId, hostname, attempt), maxEvents]);
}

/**
 * An attempt and the move it led to (and, at the first, what parsing found), as one script: what
 * logAttempt, logParsed and logDeliveryState write, in one command and with one event.
 */
export function logAttemptEnded(pipe: ChainableCommander, keys: KeySpace, ended: AttemptEnded): void {
  runLogScript(pipe, 'mxhookLogAttemptEnded', attemptEndedLogArgs(keys, ended));
}

/** An attempt that ended, as logAttemptEnded writes it. */
export interface AttemptEnded {
  readonly deliveryId: string; readonly hostname: string; readonly receivedAt: number; readonly attempt: AttemptLog; readonly event: DeliveryEvent;
  readonly details?: Record<string, unknown>; readonly parsed?: ParsedFacts | undefined; readonly now?: number; readonly maxEvents?: number;
}

/**
 * The attempt-ended script's arguments (logAttemptEnded in store/message-log-scripts.ts); the
 * release script takes them too (store/messages.ts), so a delivered attempt is logged in the
 * command that releases its delivery.
 */
export function attemptEndedLogArgs(keys: KeySpace, ended: AttemptEnded): (string | number)[] {
  const move = stateMove(ended.deliveryId, ended.hostname, ended.receivedAt, ended.event, ended.now ?? Date.now(), ended.details ?? {});
  return [...where(keys, ended.deliveryId), ...attemptArgs(ended.attempt), ...move.args, ended.parsed ? JSON.stringify(ended.parsed) : '', move.event, ended.maxEvents ?? 100_000];
}

/** Appends what parsing learnt (attachment count, spam score); only kept while the record exists. */
export function logParsed(pipe: ChainableCommander, keys: KeySpace, messageId: string, facts: ParsedFacts): void {
  pipe.eval(`if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'p', ARGV[1]) end return 1`, 1, logKeys(keys).record(messageId), JSON.stringify(facts));
}

/** One logged message with its deliveries and their attempts; undefined when unknown or dropped. */
export async function getLoggedMessage(redis: Redis, keys: KeySpace, messageId: string): Promise<LoggedMessage | undefined> {
  return decodeRecord(await redis.hgetall(logKeys(keys).record(messageId)));
}

export function decodeRecord(fields: Record<string, string>): LoggedMessage | undefined {
  if (!fields.m) return undefined;
  const deliveries: DeliveryLog[] = [];
  for (const [name, value] of Object.entries(fields)) {
    if (!name.startsWith('d.')) continue;
    const attempts = fields[`a.${name.slice(2)}`];
    deliveries.push({ ...(JSON.parse(value) as Omit<DeliveryLog, 'attempts'>), attempts: attempts ? (JSON.parse(attempts) as AttemptLog[]) : [] });
  }
  deliveries.sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
  return { record: JSON.parse(fields.m) as MessageRecord, ...(fields.p ? { parsed: JSON.parse(fields.p) as ParsedFacts } : {}), deliveries };
}
