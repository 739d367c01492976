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
  if ARGV[11] == '1' then count(minuteKey(prefix, at), 'r') end
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
  pipe.eval(ACCEPT_SCRIPT, 0, keys.prefix, record.id, record.receivedAt, JSON.stringify(record), hostnames.join(','),
    Math.ceil(options.retentionMs / 1000), options.maxRecords, INDEXED_STATES.join(','), JSON.stringify(event), options.maxEvents ?? 100_000,
    // A replay or redeliver is not mail in: the overview counts only what arrived.
    record.replayOf ? '0' : '1', ...deliveries);
}

// ARGV: prefix, id, n, new state, allowed-from csv, updatedAt, nextAttemptAt|'' , replayedAs|'', receivedAt, event JSON, maxEvents, latency bucket
const STATE_SCRIPT = `${FIGURES}
local ok, res = pcall(function()
  local prefix, id, n, state = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
  local rec = prefix .. ':log:m:' .. id
  local raw = redis.call('HGET', rec, 'd.' .. n)
  if not raw then return 0 end
  local d = cjson.decode(raw)
  if not string.find(',' .. ARGV[5] .. ',', ',' .. d.state .. ',', 1, true) then return 0 end
  local old = d.state
  d.state = state
  d.updatedAt = tonumber(ARGV[6])
  d.nextAttemptAt = nil
  if ARGV[7] ~= '' then d.nextAttemptAt = tonumber(ARGV[7]) end
  if ARGV[8] ~= '' then d.replayedAs = ARGV[8] end
  redis.call('HSET', rec, 'd.' .. n, cjson.encode(d))
  if old ~= state then
    -- the old state's index keeps the message while another delivery is still in it
    local still = false
    local all = redis.call('HGETALL', rec)
    for i = 1, #all, 2 do
      if string.sub(all[i], 1, 2) == 'd.' and cjson.decode(all[i + 1]).state == old then still = true end
    end
    if not still then redis.call('ZREM', prefix .. ':log:idx:state:' .. old, id) end
    if state ~= 'delivered' then redis.call('ZADD', prefix .. ':log:idx:state:' .. state, ARGV[9], id) end
    if state == 'delivered' then
      -- counted once: no move leads from delivered to delivered
      local key = minuteKey(prefix, ARGV[6])
      count(key, 'd')
      count(key, 'l.' .. ARGV[12])
      countRoute(key, 'hd.', d.hostname)
    end
  end
  redis.call('XADD', prefix .. ':log:events', 'MAXLEN', '~', ARGV[11], '*', 'e', ARGV[10])
  return 1
end)
return ok and res or 0`;

/**
 * Appends a delivery's move to the state `event` leads to. Ignored (atomically) when the move
 * is not valid from the delivery's current state (domain/message-log.ts).
 */
export function logDeliveryState(
  pipe: ChainableCommander, keys: KeySpace, deliveryId: string, hostname: string, receivedAt: number, event: DeliveryEvent, now = Date.now(), maxEvents = 100_000,
  /** More fields of the published event (attempt, status, reason...), for the event webhook. */
  details: Record<string, unknown> = {},
): void {
  const state = stateAfter(event);
  const messageId = messageIdOf(deliveryId);
  const n = deliveryId.slice(messageId.length + 1);
  const next = event.kind === 'retry-scheduled' ? event.nextAttemptAt : undefined;
  const replayedAs = event.kind === 'replayed' ? event.replayedAs : undefined;
  const payload = logEvent(`delivery.${state}`, now, messageId, {
    delivery_id: deliveryId, hostname,
    ...(next !== undefined ? { next_attempt_at: new Date(next).toISOString() } : {}),
    ...(replayedAs ? { replayed_as: replayedAs } : {}),
    ...details,
  });
  pipe.eval(STATE_SCRIPT, 0, keys.prefix, messageId, n, state, statesLeadingTo(state).join(','), now, next ?? '', replayedAs ?? '', receivedAt, JSON.stringify(payload), maxEvents,
    latencyBucket(now - receivedAt));
}

// ARGV: prefix, id, n, attempt JSON, kept, event JSON, maxEvents, hostname, failed ('1'), attempt end ms
const ATTEMPT_SCRIPT = `${FIGURES}
local ok = pcall(function()
  local rec = ARGV[1] .. ':log:m:' .. ARGV[2]
  if redis.call('EXISTS', rec) == 0 then return end
  -- a delivered attempt is counted by its delivery's move to delivered (STATE_SCRIPT)
  if ARGV[9] == '1' then
    local key = minuteKey(ARGV[1], ARGV[10])
    count(key, 'f')
    countRoute(key, 'hf.', ARGV[8])
  end
  local field = 'a.' .. ARGV[3]
  local list = {}
  local raw = redis.call('HGET', rec, field)
  if raw then list = cjson.decode(raw) end
  table.insert(list, cjson.decode(ARGV[4]))
  while #list > tonumber(ARGV[5]) do table.remove(list, 1) end
  redis.call('HSET', rec, field, cjson.encode(list))
  redis.call('XADD', ARGV[1] .. ':log:events', 'MAXLEN', '~', ARGV[7], '*', 'e', ARGV[6])
end)
return ok and 1 or 0`;

/** Appends one attempt to a delivery's timeline (the response cut to 1 KiB). */
export function logAttempt(pipe: ChainableCommander, keys: KeySpace, deliveryId: string, hostname: string, attempt: AttemptLog, maxEvents = 100_000): void {
  const messageId = messageIdOf(deliveryId);
  const kept: AttemptLog = attempt.response === undefined ? attempt : { ...attempt, response: truncateUtf8(attempt.response, RESPONSE_SNIPPET_BYTES) };
  const payload = logEvent('delivery.attempt', attempt.at, messageId, {
    delivery_id: deliveryId, hostname, outcome: attempt.outcome, duration_ms: attempt.durationMs,
    ...(attempt.status !== undefined ? { status: attempt.status } : {}), ...(attempt.error ? { error: attempt.error } : {}),
  });
  pipe.eval(ATTEMPT_SCRIPT, 0, keys.prefix, messageId, deliveryId.slice(messageId.length + 1), JSON.stringify(kept), ATTEMPTS_KEPT, JSON.stringify(payload), maxEvents,
    hostname, attempt.outcome === 'delivered' ? '0' : '1', attempt.at + attempt.durationMs);
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
