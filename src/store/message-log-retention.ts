/**
 * Retention of the message log: the periodic trim (one process at a time, by a lock), what was
 * cut, and SMTP refusal counters. Raw messages kept after delivery are indexed by the worker's
 * own release script (store/messages.ts, keepRaw) and deleted by the trim once past their time.
 */
import type { ChainableCommander } from 'ioredis';
import type { Redis } from './redis-client.ts';
import type { KeySpace } from './keys.ts';
import { logEvent } from '../domain/message-log.ts';
import { parseRefusalField, refusalField } from '../domain/overview.ts';
import { INDEXED_STATES, logKeys, MINUTE_FIGURES_TTL_S } from './message-log.ts';

/**
 * Drops index entries past the retention (the records themselves expire by TTL) and the raw
 * messages kept past theirs. Runs only where the lock is won, so one process
 * trims at a time. Resolves with what it cut (undefined when another process holds the lock).
 */
export async function trimMessageLog(
  redis: Redis, keys: KeySpace, options: { retentionMs: number; rawRetentionMs: number; lockMs: number; now?: number },
): Promise<{ records: number; raw: number } | undefined> {
  const k = logKeys(keys);
  const now = options.now ?? Date.now();
  const lock = `${keys.prefix}:log:trim-lock`;
  if ((await redis.set(lock, String(process.pid), 'PX', options.lockMs, 'NX')) !== 'OK') return undefined;
  const cutoff = String(now - options.retentionMs);
  const records = await redis.zremrangebyscore(k.index, '-inf', cutoff);
  const hostnames = await redis.smembers(k.hostnames);
  const multi = redis.multi();
  for (const h of hostnames) multi.zremrangebyscore(k.hostIndex(h), '-inf', cutoff);
  for (const s of INDEXED_STATES) multi.zremrangebyscore(k.stateIndex(s), '-inf', cutoff);
  if (records) multi.hincrby(k.cuts, 'retention', records);
  await multi.exec();
  // Raw messages kept past their time are deleted here (the release sets no TTL of its own on
  // them: their store TTL is the backstop) and their bytes given back, in batches, by the same
  // script as the eviction's (it deletes first, so a full Redis still lets it).
  let raw = 0;
  for (;;) {
    const { messages } = await evictSizedIndex(redis, keys, { ...keptRawIndex(keys), cut: '' }, 500, now - options.rawRetentionMs);
    raw += messages;
    if (messages < 500) break;
  }
  return { records, raw };
}

/**
 * KEYS: a sized index (members `{id}|{bytes}`, scored by the time kept), its byte count, the cuts hash.
 * ARGV: how many, the cut's field ('': not counted as a cut), the newest score to take ('': the
 * oldest whatever their score), then the key patterns to delete per member (`{id}` replaced).
 * Takes the oldest and deletes them first (ZPOPMIN, ZREM and DEL are allowed by a full Redis); the
 * accounting after them may be refused by one (pcall), which only overstates the bytes.
 */
const EVICT_SIZED = `
local taken
if ARGV[3] == '' then
  taken = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
else
  taken = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3], 'WITHSCORES', 'LIMIT', 0, ARGV[1])
  for i = 1, #taken, 2 do redis.call('ZREM', KEYS[1], taken[i]) end
end
local freed, n = 0, 0
for i = 1, #taken, 2 do
  local sep = string.find(taken[i], '|', 1, true)
  local id = string.sub(taken[i], 1, sep - 1)
  for k = 4, #ARGV do
    local at = string.find(ARGV[k], '{id}', 1, true)
    redis.call('DEL', string.sub(ARGV[k], 1, at - 1) .. id .. string.sub(ARGV[k], at + 4))
  end
  freed = freed + tonumber(string.sub(taken[i], sep + 1))
  n = n + 1
end
if n > 0 then
  pcall(function() redis.call('DECRBY', KEYS[2], freed) end)
  if ARGV[2] ~= '' then pcall(function() redis.call('HINCRBY', KEYS[3], ARGV[2], n) end) end
end
return {n, freed}`;

/** A sized index of kept copies, as evictSizedIndex takes it. */
export interface SizedIndex {
  readonly key: string;
  readonly bytes: string;
  /** The log's cuts field counting what eviction drops ('': not counted). */
  readonly cut: string;
  /** Key patterns (`{id}` for the member's id) deleted with each entry. */
  readonly keysOf: readonly string[];
}

/**
 * Deletes up to `count` of the oldest entries of a sized index of kept copies (the log's kept raw
 * messages, attachment links' copies) and their keys, counted as `cut` in the log's cuts; with
 * `keptBefore`, only entries kept at or before that time (ms).
 */
export async function evictSizedIndex(redis: Redis, keys: KeySpace, index: SizedIndex, count: number, keptBefore?: number): Promise<{ messages: number; bytes: number }> {
  const [messages, bytes] = (await redis.eval(EVICT_SIZED, 3, index.key, index.bytes, logKeys(keys).cuts,
    count, index.cut, keptBefore === undefined ? '' : keptBefore, ...index.keysOf)) as [number, number];
  return { messages, bytes };
}

/** The index of raw messages kept after delivery, with their meta. */
const keptRawIndex = (keys: KeySpace): SizedIndex => ({
  key: logKeys(keys).rawIndex, bytes: logKeys(keys).rawBytes, cut: 'raw_memory', keysOf: [keys.messageRaw('{id}'), keys.messageMeta('{id}')],
});

/**
 * Deletes up to `count` of the oldest raw messages kept after delivery (Redis is short of room for
 * them). Only kept copies are in the index: a message still being delivered is never touched.
 */
export function evictKeptRaw(redis: Redis, keys: KeySpace, count: number): Promise<{ messages: number; bytes: number }> {
  return evictSizedIndex(redis, keys, keptRawIndex(keys), count);
}

/** What the caps, retention and memory have cut so far (for a /metrics counter read at scrape time). */
export async function readLogCuts(redis: Redis, keys: KeySpace): Promise<{ cap: number; retention: number; rawCap: number; rawMemory: number; attachmentCap: number; attachmentMemory: number }> {
  const cuts = await redis.hgetall(logKeys(keys).cuts);
  return {
    cap: Number(cuts.cap ?? 0), retention: Number(cuts.retention ?? 0), rawCap: Number(cuts.raw_cap ?? 0), rawMemory: Number(cuts.raw_memory ?? 0),
    // Copies kept for attachment download links (store/attachment-links.ts), cut the same two ways.
    attachmentCap: Number(cuts.attachment_cap ?? 0), attachmentMemory: Number(cuts.attachment_memory ?? 0),
  };
}

/** Distinct reason|hostname pairs counted per bucket; past it they count as `reason|*`. */
const REFUSAL_FIELDS_MAX = 1000;
const REFUSAL_SCRIPT = `
for i = 1, 2 do
  local field = ARGV[1]
  if redis.call('HEXISTS', KEYS[i], field) == 0 and redis.call('HLEN', KEYS[i]) >= tonumber(ARGV[2]) then field = ARGV[3] end
  redis.call('HINCRBY', KEYS[i], field, ARGV[6])
  redis.call('EXPIRE', KEYS[i], ARGV[3 + i])
end
return 1`;

/**
 * Counts `n` SMTP refusals by reason (error code) and hostname, per minute (kept as long as the
 * overview's other minute figures, so its longest window sees them all) and hour (kept 8 d). No body is kept.
 */
export function logRefusal(pipe: ChainableCommander, keys: KeySpace, reason: string, hostname: string | undefined, now = Date.now(), n = 1): void {
  const k = logKeys(keys);
  pipe.eval(REFUSAL_SCRIPT, 2, k.refusals('m', Math.floor(now / 60_000)), k.refusals('h', Math.floor(now / 3_600_000)),
    refusalField(reason, hostname), REFUSAL_FIELDS_MAX, refusalField(reason, '*'), MINUTE_FIGURES_TTL_S, 8 * 86_400, n);
}

/** Refusal counts per `reason|hostname` over [since, until], from minute or hour buckets. */
export async function readRefusals(redis: Redis, keys: KeySpace, bucket: 'm' | 'h', since: number, until: number): Promise<Record<string, number>> {
  const size = bucket === 'm' ? 60_000 : 3_600_000;
  const pipe = redis.pipeline();
  const first = Math.floor(since / size);
  const last = Math.floor(until / size);
  for (let slot = first; slot <= last && slot - first < 1000; slot++) pipe.hgetall(logKeys(keys).refusals(bucket, slot));
  const totals: Record<string, number> = {};
  for (const [, fields] of (await pipe.exec()) ?? []) {
    for (const [field, count] of Object.entries((fields ?? {}) as Record<string, string>)) totals[field] = (totals[field] ?? 0) + Number(count);
  }
  return totals;
}

/** Stream length kept, as by the log's other writes (store/message-log.ts). */
const STREAM_MAX_EVENTS = 100_000;

/**
 * KEYS: the minute's done marker, the log's stream. ARGV: marker lifetime (s), stream length kept,
 * the events. The events and the marker in one step: a minute is published once, and a failed
 * publish (an error, nothing written) leaves it to be published again.
 */
const PUBLISH_REFUSALS = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 3, #ARGV do redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[i]) end
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
return #ARGV - 2`;

/**
 * Publishes one minute's refusal counts (`slot` = minutes since the epoch) on the log's stream as
 * `smtp.refused` events, one per reason and hostname, once however many processes ask (a marker
 * kept as long as the counts; a minute with no refusals is not marked). Resolves with how many
 * events it published; rejects when Redis refused them (the minute is then not marked either).
 */
export async function publishRefusalMinute(redis: Redis, keys: KeySpace, slot: number): Promise<number> {
  const counts = await readRefusals(redis, keys, 'm', slot * 60_000, slot * 60_000);
  const events = Object.entries(counts).map(([field, count]) => {
    const { reason, hostname } = parseRefusalField(field);
    return JSON.stringify(logEvent('smtp.refused', (slot + 1) * 60_000, '', { reason, hostname: hostname || null, count, minute: slot * 60 }));
  });
  if (!events.length) return 0;
  return (await redis.eval(PUBLISH_REFUSALS, 2, `${keys.prefix}:events:refusals-done:${slot}`, logKeys(keys).events,
    MINUTE_FIGURES_TTL_S, STREAM_MAX_EVENTS, ...events)) as number;
}
