/**
 * Retention of the message log: the periodic trim (one process at a time, by a lock), raw
 * messages kept after their last delivery under a byte cap, and SMTP refusal counters.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import type { KeySpace } from './keys.ts';
import { INDEXED_STATES, logKeys } from './message-log.ts';

const rawIndex = (keys: KeySpace) => `${keys.prefix}:log:raw`;
const rawBytes = (keys: KeySpace) => `${keys.prefix}:log:raw-bytes`;

/**
 * The finish path's replacement for deleting the raw message when the last delivery ends: with
 * the pending SET `${prefix}:msg:${id}:pending`, removes `deliveryId`; when none is left, the raw
 * message and its meta are kept `rawRetentionMs` (indexed with their size; the oldest dropped
 * first past `maxRawBytes`), or deleted when `keep` is false (Redis near full, or the log off).
 */
const RELEASE_KEEPING_RAW = `
local left = 0
if redis.call('SREM', KEYS[3], ARGV[1]) >= 0 then left = redis.call('SCARD', KEYS[3]) end
if left > 0 then return left end
redis.call('DEL', KEYS[3])
if ARGV[2] == '0' then redis.call('DEL', KEYS[1], KEYS[2]) return 0 end
local size = redis.call('STRLEN', KEYS[1])
if size == 0 then redis.call('DEL', KEYS[2]) return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[6] .. '|' .. size)
local total = redis.call('INCRBY', KEYS[5], size)
local max = tonumber(ARGV[4])
local dropped = 0
while total > max do
  local oldest = redis.call('ZPOPMIN', KEYS[4])
  if #oldest == 0 then break end
  local sep = string.find(oldest[1], '|', 1, true)
  local id = string.sub(oldest[1], 1, sep - 1)
  redis.call('DEL', ARGV[7] .. ':msg:' .. id .. ':raw', ARGV[7] .. ':msg:' .. id .. ':meta')
  total = redis.call('DECRBY', KEYS[5], tonumber(string.sub(oldest[1], sep + 1)))
  dropped = dropped + 1
end
if dropped > 0 then redis.call('HINCRBY', KEYS[6], 'raw_cap', dropped) end
return 0`;

export function releaseDeliveryKeepingRaw(
  pipe: ChainableCommander, keys: KeySpace, messageId: string, deliveryId: string,
  options: { keep: boolean; rawRetentionMs: number; maxRawBytes: number; now?: number },
): void {
  pipe.eval(RELEASE_KEEPING_RAW, 6, keys.messageRaw(messageId), keys.messageMeta(messageId), `${keys.prefix}:msg:${messageId}:pending`,
    rawIndex(keys), rawBytes(keys), logKeys(keys).cuts,
    deliveryId, options.keep ? '1' : '0', Math.max(1, Math.ceil(options.rawRetentionMs / 1000)), options.maxRawBytes, options.now ?? Date.now(), messageId, keys.prefix);
}

/** Whether Redis is above `fraction` of its maxmemory (false without a maxmemory): delete raw messages instead of keeping them. */
export async function redisNearlyFull(redis: Redis, fraction: number): Promise<boolean> {
  const info = await redis.info('memory');
  const used = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
  const max = Number(/maxmemory:(\d+)/.exec(info)?.[1] ?? 0);
  return max > 0 && used > max * fraction;
}

/**
 * Drops index entries past the retention (the records themselves expire by TTL) and the size
 * entries of kept raw messages past theirs. Runs only where the lock is won, so one process
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
  // Kept raw messages expire by TTL; their byte count is given back here, in batches.
  let raw = 0;
  for (;;) {
    const expired = await redis.zrangebyscore(rawIndex(keys), '-inf', String(now - options.rawRetentionMs), 'LIMIT', 0, 500);
    if (!expired.length) break;
    const bytes = expired.reduce((sum, member) => sum + Number(member.slice(member.lastIndexOf('|') + 1)), 0);
    await redis.multi().zrem(rawIndex(keys), ...expired).decrby(rawBytes(keys), bytes).exec();
    raw += expired.length;
  }
  return { records, raw };
}

/** What the cap and retention have cut so far (for a /metrics counter read at scrape time). */
export async function readLogCuts(redis: Redis, keys: KeySpace): Promise<{ cap: number; retention: number; rawCap: number }> {
  const cuts = await redis.hgetall(logKeys(keys).cuts);
  return { cap: Number(cuts.cap ?? 0), retention: Number(cuts.retention ?? 0), rawCap: Number(cuts.raw_cap ?? 0) };
}

/** Distinct reason|hostname pairs counted per bucket; past it they count as `reason|*`. */
const REFUSAL_FIELDS_MAX = 1000;
const REFUSAL_SCRIPT = `
for i = 1, 2 do
  local field = ARGV[1]
  if redis.call('HEXISTS', KEYS[i], field) == 0 and redis.call('HLEN', KEYS[i]) >= tonumber(ARGV[2]) then field = ARGV[3] end
  redis.call('HINCRBY', KEYS[i], field, 1)
  redis.call('EXPIRE', KEYS[i], ARGV[3 + i])
end
return 1`;

/** Counts one SMTP refusal by reason (error code) and hostname, per minute (kept 2 h) and hour (kept 8 d). No body is kept. */
export function logRefusal(pipe: ChainableCommander, keys: KeySpace, reason: string, hostname: string | undefined, now = Date.now()): void {
  const k = logKeys(keys);
  pipe.eval(REFUSAL_SCRIPT, 2, k.refusals('m', Math.floor(now / 60_000)), k.refusals('h', Math.floor(now / 3_600_000)),
    `${reason}|${hostname ?? ''}`, REFUSAL_FIELDS_MAX, `${reason}|*`, 2 * 3600, 8 * 86_400);
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
