/**
 * The message log in Redis. Every write is a command appended to a pipeline or MULTI the caller
 * already sends (the accept's, the worker's), so the log adds no round trip. Each write is one
 * Lua script whose commands run under pcall: a log write can never fail the caller's transaction.
 *
 * Keys (prefix P): `P:log:m:{id}` hash (`m` record JSON, `d.{n}` delivery JSON, `a.{n}` attempts
 * JSON, `p` parsed facts), expiring after the retention; `P:log:idx` sorted set of message ids by
 * received ms; `P:log:idx:host:{hostname}` the same per hostname; `P:log:idx:state:{state}`
 * messages with a delivery in that state (not kept for `delivered`, the common case: a scan of
 * the time index finds those densely); `P:log:events` the event stream; `P:log:min:{minute}` the
 * overview's figures of one minute (domain/overview.ts names the fields), kept 2 h 10 min.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import {
  ATTEMPTS_KEPT, logEvent, messageIdOf, RESPONSE_SNIPPET_BYTES, statesLeadingTo, stateAfter, truncateUtf8,
  type AttemptLog, type DeliveryEvent, type DeliveryLog, type LoggedMessage, type MessageRecord, type ParsedFacts,
} from '../domain/message-log.ts';
import { latencyBucket, MINUTE_HOSTNAMES_MAX } from '../domain/overview.ts';
import type { DeliveryTarget } from '../domain/message.ts';
import type { KeySpace } from './keys.ts';

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

/** How long a minute's figures are kept, s: the overview's longest window (2 h) and some slack. */
export const MINUTE_FIGURES_TTL_S = 2 * 3600 + 600;

/** State indexes kept (see the file comment for `delivered`). */
export const INDEXED_STATES = ['queued', 'delivering', 'retrying', 'dead-lettered', 'replayed'] as const;

// Shared Lua: drop the oldest records past the cap (a few per accept, so it converges).
const EVICT = `
local function evict(prefix, index, max, statesCsv)
  local over = redis.call('ZCARD', index) - max
  if over <= 0 then return 0 end
  if over > 10 then over = 10 end
  local popped = redis.call('ZPOPMIN', index, over)
  for i = 1, #popped, 2 do
    local id = popped[i]
    local rec = prefix .. ':log:m:' .. id
    local hosts = redis.call('HGET', rec, 'h')
    if hosts then for h in string.gmatch(hosts, '[^,]+') do redis.call('ZREM', prefix .. ':log:idx:host:' .. h, id) end end
    for s in string.gmatch(statesCsv, '[^,]+') do redis.call('ZREM', prefix .. ':log:idx:state:' .. s, id) end
    redis.call('DEL', rec)
  end
  redis.call('HINCRBY', prefix .. ':log:cuts', 'cap', #popped / 2)
  return #popped / 2
end`;

// Shared Lua: count in the overview's hash of the minute of `at` (ms); past MINUTE_HOSTNAMES_MAX
// hostnames of a kind, a new one counts as `*`, so a minute's memory is bounded.
const FIGURES = `
local function minuteKey(prefix, at)
  return prefix .. ':log:min:' .. string.format('%d', math.floor(tonumber(at) / 60000))
end
local function count(key, field)
  redis.call('HINCRBY', key, field, 1)
end
-- once per script, after its counts
local function touch(key)
  redis.call('EXPIRE', key, ${MINUTE_FIGURES_TTL_S})
end
local function countRoute(key, kind, hostname)
  local field = kind .. hostname
  if redis.call('HEXISTS', key, field) == 0 then
    -- n.{kind}: how many hostnames of that kind the minute holds
    if tonumber(redis.call('HGET', key, 'n.' .. kind) or '0') >= ${MINUTE_HOSTNAMES_MAX} then field = kind .. '*'
    else redis.call('HINCRBY', key, 'n.' .. kind, 1) end
  end
  count(key, field)
end`;

// KEYS: none (all keys derive from the prefix: one slot with a {hash-tag} prefix).
// ARGV: prefix, id, receivedAt, record JSON, hostnames csv, ttl s, max, states csv, event JSON, maxEvents, counted ('1': mail in), delivery JSONs...
const ACCEPT_SCRIPT = `${EVICT}${FIGURES}
local ok, err = pcall(function()
  local prefix, id, at = ARGV[1], ARGV[2], ARGV[3]
  local rec = prefix .. ':log:m:' .. id
  redis.call('HSET', rec, 'm', ARGV[4], 'h', ARGV[5])
  for i = 12, #ARGV do redis.call('HSET', rec, 'd.' .. (i - 11), ARGV[i]) end
  redis.call('EXPIRE', rec, ARGV[6])
  redis.call('ZADD', prefix .. ':log:idx', at, id)
  redis.call('ZADD', prefix .. ':log:idx:state:queued', at, id)
  for h in string.gmatch(ARGV[5], '[^,]+') do
    redis.call('ZADD', prefix .. ':log:idx:host:' .. h, at, id)
    redis.call('SADD', prefix .. ':log:hostnames', h)
  end
  evict(prefix, prefix .. ':log:idx', tonumber(ARGV[7]), ARGV[8])
  redis.call('XADD', prefix .. ':log:events', 'MAXLEN', '~', ARGV[10], '*', 'e', ARGV[9])
  if ARGV[11] == '1' then
    local key = minuteKey(prefix, at)
    count(key, 'r')
    touch(key)
  end
end)
return ok and 1 or 0`;

/** Removes the record of a message whose accept failed after it was logged (its sender got 451). */
export async function forgetLogged(redis: Redis, keys: KeySpace, messageId: string): Promise<void> {
  await redis.eval(`local p, id = ARGV[1], ARGV[2]
local rec = p .. ':log:m:' .. id
local hostnames = redis.call('HGET', rec, 'h') or ''
redis.call('DEL', rec)
redis.call('ZREM', p .. ':log:idx', id)
redis.call('ZREM', p .. ':log:idx:state:queued', id)
for h in string.gmatch(hostnames, '[^,]+') do redis.call('ZREM', p .. ':log:idx:host:' .. h, id) end
return 1`, 0, keys.prefix, messageId);
}

/**
 * Appends the record of an accepted message (all its deliveries `queued`) to `pipe`. `targets`:
 * one per delivery when address rules split the message (each keeps its rule, url and
 * recipients); absent, one delivery per hostname.
 */
export function logAccepted(pipe: ChainableCommander, keys: KeySpace, options: MessageLogOptions, record: MessageRecord, targets?: readonly DeliveryTarget[]): void {
  const hostnames = Object.keys(record.recipients);
  const perDelivery = targets && targets.some((t) => t.rule !== undefined) ? targets : hostnames.map((hostname) => ({ hostname }) as DeliveryTarget);
  const deliveries = perDelivery.map((t, i) => JSON.stringify({
    id: `${record.id}.${i + 1}`, hostname: t.hostname, state: 'queued', updatedAt: record.receivedAt,
    ...(t.rule !== undefined ? { rule: t.rule, recipients: t.recipients, ...(t.url ? { url: t.url } : {}), ...(t.mailboxHash !== undefined ? { mailboxHash: t.mailboxHash } : {}) } : {}),
  }));
  const event = logEvent('message.accepted', record.receivedAt, record.id, {
    hostnames, size: record.size, from: record.from ?? null, subject: record.subject ?? null,
    // The envelope, for the event webhook's `received` (the SSE stream carries it too).
    mail_from: record.mailFrom, recipients: record.recipients, ...(record.replayOf ? { replay_of: record.replayOf } : {}),
  });
  runLogScript(pipe, 'mxhookLogAccept', [keys.prefix, record.id, record.receivedAt, JSON.stringify(record), hostnames.join(','),
    Math.ceil(options.retentionMs / 1000), options.maxRecords, INDEXED_STATES.join(','), JSON.stringify(event), options.maxEvents ?? 100_000,
    // A replay or redeliver is not mail in: the overview counts only what arrived.
    record.replayOf ? '0' : '1', ...deliveries]);
}

// Shared Lua: a delivery's move to `state`, when `allowed` (csv) holds its current state. False when
// the record or delivery is gone or the move is not valid (nothing written).
const MOVE_STATE = `
local function moveState(prefix, id, n, state, allowed, updatedAt, nextAt, replayedAs, receivedAt, bucket)
  local rec = prefix .. ':log:m:' .. id
  local raw = redis.call('HGET', rec, 'd.' .. n)
  if not raw then return false end
  local d = cjson.decode(raw)
  if not string.find(',' .. allowed .. ',', ',' .. d.state .. ',', 1, true) then return false end
  local old = d.state
  d.state = state
  d.updatedAt = tonumber(updatedAt)
  d.nextAttemptAt = nil
  if nextAt ~= '' then d.nextAttemptAt = tonumber(nextAt) end
  if replayedAs ~= '' then d.replayedAs = replayedAs end
  redis.call('HSET', rec, 'd.' .. n, cjson.encode(d))
  if old ~= state then
    -- the old state's index keeps the message while another delivery is still in it; deliveries
    -- are numbered from 1 (one, the common case, costs a single HGET here)
    local still, i = false, 1
    while true do
      if tostring(i) ~= n then
        local other = redis.call('HGET', rec, 'd.' .. i)
        if not other then break end
        if cjson.decode(other).state == old then still = true break end
      end
      i = i + 1
    end
    if not still then redis.call('ZREM', prefix .. ':log:idx:state:' .. old, id) end
    if state ~= 'delivered' then redis.call('ZADD', prefix .. ':log:idx:state:' .. state, receivedAt, id) end
    if state == 'delivered' then
      -- counted once: no move leads from delivered to delivered
      local key = minuteKey(prefix, updatedAt)
      count(key, 'd')
      count(key, 'l.' .. bucket)
      countRoute(key, 'hd.', d.hostname)
      touch(key)
    end
  end
  return true
end`;

// Shared Lua: appends an attempt (JSON) to a delivery's timeline, the newest `kept`; a failed one
// (failed '1') is counted in the minute it ended (a delivered one by its move to delivered).
const APPEND_ATTEMPT = `
local function appendAttempt(prefix, id, n, attempt, kept, hostname, failed, endAt)
  local rec = prefix .. ':log:m:' .. id
  if redis.call('EXISTS', rec) == 0 then return false end
  if failed == '1' then
    local key = minuteKey(prefix, endAt)
    count(key, 'f')
    countRoute(key, 'hf.', hostname)
    touch(key)
  end
  local field = 'a.' .. n
  local raw = redis.call('HGET', rec, field)
  if not raw then
    redis.call('HSET', rec, field, '[' .. attempt .. ']')
    return true
  end
  local list = cjson.decode(raw)
  table.insert(list, cjson.decode(attempt))
  while #list > tonumber(kept) do table.remove(list, 1) end
  redis.call('HSET', rec, field, cjson.encode(list))
  return true
end`;

// ARGV: prefix, id, n, new state, allowed-from csv, updatedAt, nextAttemptAt|'', replayedAs|'', receivedAt, latency bucket, event JSON, maxEvents
const STATE_SCRIPT = `${FIGURES}${MOVE_STATE}
local ok, res = pcall(function()
  if not moveState(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]) then return 0 end
  redis.call('XADD', ARGV[1] .. ':log:events', 'MAXLEN', '~', ARGV[12], '*', 'e', ARGV[11])
  return 1
end)
return ok and res or 0`;

// ARGV: prefix, id, n, attempt JSON, kept, hostname, failed ('1'), attempt end ms, event JSON, maxEvents
const ATTEMPT_SCRIPT = `${FIGURES}${APPEND_ATTEMPT}
local ok = pcall(function()
  if not appendAttempt(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]) then return end
  redis.call('XADD', ARGV[1] .. ':log:events', 'MAXLEN', '~', ARGV[10], '*', 'e', ARGV[9])
end)
return ok and 1 or 0`;

// An attempt and the move it led to in one script (the worker's one log write per attempt): the
// attempt, what parsing found (first attempt), the move, and one event: the move's, carrying the
// attempt's facts, or the attempt's alone when the move was not valid.
// ARGV: the 8 of ATTEMPT_SCRIPT's appendAttempt, the 7 of moveState after prefix/id/n (state,
// allowed, updatedAt, nextAt, replayedAs, receivedAt, bucket), parsed JSON|'', state event JSON,
// attempt event JSON, maxEvents
const ATTEMPT_ENDED_SCRIPT = `${FIGURES}${MOVE_STATE}${APPEND_ATTEMPT}
local ok = pcall(function()
  local prefix, id, n = ARGV[1], ARGV[2], ARGV[3]
  if not appendAttempt(prefix, id, n, ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]) then return end
  if ARGV[16] ~= '' then redis.call('HSET', prefix .. ':log:m:' .. id, 'p', ARGV[16]) end
  local moved = moveState(prefix, id, n, ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14], ARGV[15])
  redis.call('XADD', prefix .. ':log:events', 'MAXLEN', '~', ARGV[19], '*', 'e', moved and ARGV[17] or ARGV[18])
end)
return ok and 1 or 0`;

/** The log's scripts, each defined as an ioredis command (run by its SHA) on every connection of ours. */
const LOG_SCRIPTS = {
  mxhookLogAccept: ACCEPT_SCRIPT,
  mxhookLogState: STATE_SCRIPT,
  mxhookLogAttempt: ATTEMPT_SCRIPT,
  mxhookLogAttemptEnded: ATTEMPT_ENDED_SCRIPT,
} as const;
type LogScript = keyof typeof LOG_SCRIPTS;

/**
 * Defines the log's scripts on `redis` (store/redis.ts does, for every connection it makes): they
 * then go out as EVALSHA, not as their whole text per write. Must run before the connection's
 * first pipeline: a pipeline takes the commands its connection has when it is made.
 */
export function defineMessageLogCommands(redis: Redis): void {
  for (const [name, lua] of Object.entries(LOG_SCRIPTS)) if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 0, lua });
}

/** Runs a log script on `pipe`: by SHA when its connection has the command, else as EVAL (a connection made elsewhere). */
function runLogScript(pipe: ChainableCommander, name: LogScript, args: readonly (string | number)[]): void {
  const command = (pipe as unknown as Record<string, ((...a: (string | number)[]) => unknown) | undefined>)[name];
  if (typeof command === 'function') command.apply(pipe, [...args]);
  else pipe.eval(LOG_SCRIPTS[name], 0, ...args);
}

/** The arguments of moveState after prefix, id, n, and the move's event. */
function stateMove(deliveryId: string, hostname: string, receivedAt: number, event: DeliveryEvent, now: number, details: Record<string, unknown>) {
  const state = stateAfter(event);
  const messageId = messageIdOf(deliveryId);
  const next = event.kind === 'retry-scheduled' ? event.nextAttemptAt : undefined;
  const replayedAs = event.kind === 'replayed' ? event.replayedAs : undefined;
  const payload = logEvent(`delivery.${state}`, now, messageId, {
    delivery_id: deliveryId, hostname,
    ...(next !== undefined ? { next_attempt_at: new Date(next).toISOString() } : {}),
    ...(replayedAs ? { replayed_as: replayedAs } : {}),
    ...details,
  });
  return {
    args: [state, statesLeadingTo(state).join(','), now, next ?? '', replayedAs ?? '', receivedAt, latencyBucket(now - receivedAt)] as const,
    event: JSON.stringify(payload),
  };
}

/** The arguments of appendAttempt after prefix, id, n (the answer cut to 1 KiB), and the attempt's event. */
function attemptEntry(deliveryId: string, hostname: string, attempt: AttemptLog) {
  const kept: AttemptLog = attempt.response === undefined ? attempt : { ...attempt, response: truncateUtf8(attempt.response, RESPONSE_SNIPPET_BYTES) };
  const payload = logEvent('delivery.attempt', attempt.at, messageIdOf(deliveryId), {
    delivery_id: deliveryId, hostname, outcome: attempt.outcome, duration_ms: attempt.durationMs,
    ...(attempt.status !== undefined ? { status: attempt.status } : {}), ...(attempt.error ? { error: attempt.error } : {}),
  });
  return {
    args: [JSON.stringify(kept), ATTEMPTS_KEPT, hostname, attempt.outcome === 'delivered' ? '0' : '1', attempt.at + attempt.durationMs] as const,
    event: JSON.stringify(payload),
  };
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
  const entry = attemptEntry(deliveryId, hostname, attempt);
  runLogScript(pipe, 'mxhookLogAttempt', [...where(keys, deliveryId), ...entry.args, entry.event, maxEvents]);
}

/**
 * An attempt and the move it led to (and, at the first, what parsing found), as one script: what
 * logAttempt, logParsed and logDeliveryState write, in one command and with one event.
 */
export function logAttemptEnded(
  pipe: ChainableCommander, keys: KeySpace,
  ended: {
    readonly deliveryId: string; readonly hostname: string; readonly receivedAt: number; readonly attempt: AttemptLog; readonly event: DeliveryEvent;
    readonly details?: Record<string, unknown>; readonly parsed?: ParsedFacts | undefined; readonly now?: number; readonly maxEvents?: number;
  },
): void {
  const entry = attemptEntry(ended.deliveryId, ended.hostname, ended.attempt);
  const move = stateMove(ended.deliveryId, ended.hostname, ended.receivedAt, ended.event, ended.now ?? Date.now(), ended.details ?? {});
  runLogScript(pipe, 'mxhookLogAttemptEnded', [
    ...where(keys, ended.deliveryId), ...entry.args, ...move.args, ended.parsed ? JSON.stringify(ended.parsed) : '', move.event, entry.event, ended.maxEvents ?? 100_000,
  ]);
}

/**
 * Publishes an event that belongs to no record (a route's circuit opening or closing, SMTP
 * refusals of a minute) on the log's stream, where the event webhook reads it.
 */
export function logStreamEvent(pipe: ChainableCommander, keys: KeySpace, event: Record<string, unknown>, maxEvents = 100_000): void {
  pipe.eval(`pcall(redis.call, 'XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1]) return 1`, 1, logKeys(keys).events, JSON.stringify(event), maxEvents);
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
