/** Raw messages and their metadata in Redis: load for delivery, release when every delivery ended. */
import type { Redis } from './redis-client.ts';
import type { StoredMessageMeta } from '../domain/message.ts';
import { logKeys } from './message-log.ts';
import { ARGS_FROM_LUA, LOG_ATTEMPT_ENDED_LUA } from './message-log-scripts.ts';
import type { KeySpace } from './keys.ts';

export interface StoredMessage {
  readonly raw: Buffer;
  readonly meta: StoredMessageMeta;
}

/**
 * `upTo`: read at most this many bytes of the raw message (GETRANGE), so a caller can learn a
 * large message's size (meta.size) before holding all of it; `raw` is then shorter than meta.size.
 */
export async function loadMessage(redis: Redis, keys: KeySpace, messageId: string, upTo?: number): Promise<StoredMessage | undefined> {
  // Two plain reads (a message never changes once stored): on an auto-pipelining connection they
  // share one write with whatever else is asked in the same turn.
  const [raw, meta] = await Promise.all([
    upTo === undefined ? redis.getBuffer(keys.messageRaw(messageId)) : redis.getrangeBuffer(keys.messageRaw(messageId), 0, upTo - 1),
    redis.hget(keys.messageMeta(messageId), 'meta'),
  ]);
  if (!raw?.length || !meta) return undefined;
  return { raw, meta: JSON.parse(meta) as StoredMessageMeta };
}

/** Piece size when a large message is read whole: one big GET would be held twice (reply chunks, then their concatenation). */
const READ_PIECE = 4 * 1024 * 1024;

/**
 * The whole raw message of `size` bytes, read in pieces into one buffer, starting after `head`
 * (its first bytes, already read). Undefined when the stored message is not `size` bytes long.
 */
export async function loadRawInPieces(redis: Redis, keys: KeySpace, messageId: string, size: number, head: Buffer): Promise<Buffer | undefined> {
  const raw = Buffer.allocUnsafe(size);
  let filled = head.copy(raw, 0, 0, Math.min(head.length, size));
  for await (const piece of readInPieces(redis, keys.messageRaw(messageId), filled, READ_PIECE, size)) filled += piece.copy(raw, filled);
  if (filled < size) return undefined;
  const total = await redis.strlen(keys.messageRaw(messageId));
  return total === size ? raw : undefined;
}

/** A string key's bytes from `from` up to `to` (exclusive; default: its end), one GETRANGE of `piece` bytes at a time. */
export async function* readInPieces(redis: Redis, key: string, from: number, piece: number, to = Infinity): AsyncGenerator<Buffer> {
  for (let at = from; at < to; at += piece) {
    const wanted = Math.min(piece, to - at);
    const bytes = await redis.getrangeBuffer(key, at, at + wanted - 1);
    if (bytes.length) yield bytes;
    if (bytes.length < wanted) return;
  }
}

/**
 * Whether the delivery has not ended yet: its id is still in the message's pending set. A job
 * whose delivery ended (delivered, dead-lettered) but which runs again (its worker died after the
 * finish, or BullMQ could not complete it) finds it gone and must not POST again.
 */
export async function isPending(redis: Redis, keys: KeySpace, messageId: string, deliveryId: string): Promise<boolean> {
  return (await redis.sismember(keys.messagePending(messageId), deliveryId)) === 1;
}

/** What releaseDelivery did. `already-finished`: the delivery had ended before; nothing changed. */
export type ReleaseResult = 'released' | 'last' | 'already-finished';

/**
 * KEYS: raw, meta, pending set, then keys of this delivery to delete with it (attempt history).
 * No shebang on purpose: Redis then checks maxmemory only at a script's first write that may grow
 * memory, and SREM/DEL never do, so a delivery is released even when Redis is full (noeviction).
 * A script with `#!lua` (and no allow-oom) would be refused as a whole; so would any MULTI, whose
 * commands are all refused while queued under OOM (test/finish.test.ts checks both).
 */
const RELEASE_SCRIPT = `${LOG_ATTEMPT_ENDED_LUA}${ARGS_FROM_LUA}
-- The message log's account of the attempt (ARGV[14..], logAttemptEnded), first: a full Redis
-- refuses its writes (pcall; Redis checks memory until a script's first write), and the release
-- below goes on.
if #ARGV > 13 then pcall(logAttemptEnded, argsFrom(14)) end
if redis.call('SREM', KEYS[3], ARGV[1]) == 0 then return -1 end
for i = 4, #KEYS do redis.call('DEL', KEYS[i]) end
-- The route's counters (ARGV[10..12]: stats key, counter, retrying marker or ''), once per
-- delivery as the SREM above is. Redis lets a script that has written go on when full; if it ever
-- refuses them (pcall), the release goes on.
if ARGV[10] ~= '' then
  pcall(function()
    redis.call('HINCRBY', ARGV[10], ARGV[11], 1)
    if ARGV[12] ~= '' and redis.call('DEL', ARGV[12]) == 1 then redis.call('HINCRBY', ARGV[10], 'retrying', -1) end
  end)
end
if redis.call('SCARD', KEYS[3]) > 0 then return 1 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 0
end
-- Kept for the message log, ARGV[2] s: the log's trim deletes them then (store/message-log-retention.ts),
-- by the raw index below; their TTL from the store (the message TTL) stays as the backstop, and is
-- lengthened only when it is the shorter (EXPIRE never grows memory). The byte accounting may be
-- refused by a full Redis (pcall): the TTL still bounds what is kept.
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
pcall(function()
  -- the size as stored (ARGV[13], from the meta), else read
  local size = tonumber(ARGV[13]) or redis.call('STRLEN', KEYS[1])
  local index, bytes, cuts, prefix = ARGV[3], ARGV[4], ARGV[5], ARGV[8]
  redis.call('ZADD', index, ARGV[7], ARGV[9] .. '|' .. size)
  local total = redis.call('INCRBY', bytes, size)
  local dropped = 0
  while total > tonumber(ARGV[6]) do
    local oldest = redis.call('ZPOPMIN', index)
    if #oldest == 0 then break end
    local sep = string.find(oldest[1], '|', 1, true)
    local id = string.sub(oldest[1], 1, sep - 1)
    redis.call('DEL', prefix .. ':msg:' .. id .. ':raw', prefix .. ':msg:' .. id .. ':meta')
    total = redis.call('DECRBY', bytes, tonumber(string.sub(oldest[1], sep + 1)))
    dropped = dropped + 1
  end
  if dropped > 0 then redis.call('HINCRBY', cuts, 'raw_cap', dropped) end
end)
return 0`;

/** An ended delivery's route counters (store/route-stats.ts endedCount builds it). */
export interface EndedCount {
  readonly statsKey: string;
  readonly counter: 'delivered' | 'dead';
  /** The delivery's retrying marker, when it may be counted in `retrying`. */
  readonly retryingMarker?: string | undefined;
}

export const RELEASE_DELIVERY_COMMAND = 'mxhookReleaseDelivery';

/** Defines the release script as an ioredis command (sent by SHA); before the connection's first pipeline. */
export function defineMessageCommands(redis: Redis): void {
  if (!(RELEASE_DELIVERY_COMMAND in redis)) redis.defineCommand(RELEASE_DELIVERY_COMMAND, { lua: RELEASE_SCRIPT });
}

/** The message log keeps a delivered message's raw bytes this long, within `maxBytes` in all (oldest dropped first). */
export interface KeepRaw {
  readonly ttlMs: number;
  readonly maxBytes: number;
  /** The message's stored size, when the caller knows it (saves a read). */
  readonly size?: number | undefined;
}

/**
 * Marks one delivery of a message as ended; the last one deletes the raw message, its meta and
 * the pending set. Atomic (one Lua script), so two workers finishing at once cannot both miss the
 * end, and idempotent: a delivery not in the set (ended before) changes nothing.
 */
export async function releaseDelivery(
  redis: Redis, keys: KeySpace, messageId: string, deliveryId: string, alsoDelete: readonly string[] = [], keepRaw?: KeepRaw,
  /** Counted in the route's stats with the release (the same write, once per delivery). */
  count?: EndedCount,
  /** The message log's account of the attempt that ended it (store/message-log.ts attemptEndedLogArgs), written by the same command. */
  logArgs: readonly (string | number)[] = [],
): Promise<ReleaseResult> {
  const log = logKeys(keys);
  const keep = keepRaw ? [Math.max(1, Math.ceil(keepRaw.ttlMs / 1000)), log.rawIndex, log.rawBytes, log.cuts, keepRaw.maxBytes, Date.now(), keys.prefix, messageId]
    : ['', '', '', '', '', '', '', ''];
  const counting = count ? [count.statsKey, count.counter, count.retryingMarker ?? ''] : ['', '', ''];
  counting.push(keepRaw?.size === undefined ? '' : String(keepRaw.size));
  const release = (redis as unknown as Record<string, ((...args: unknown[]) => Promise<unknown>) | undefined>)[RELEASE_DELIVERY_COMMAND];
  // By SHA on a connection of ours (store/redis.ts defines it), else the script's text.
  const left = await (release ? release.bind(redis) : (...args: unknown[]) => redis.eval(RELEASE_SCRIPT, ...(args as [number, ...string[]])))(3 + alsoDelete.length,
    keys.messageRaw(messageId), keys.messageMeta(messageId), keys.messagePending(messageId), ...alsoDelete, deliveryId, ...keep, ...counting, ...logArgs);
  return left === -1 ? 'already-finished' : left === 0 ? 'last' : 'released';
}

/** Runs a MULTI and throws the first command error (ioredis reports them per command). */
export async function execOrThrow(multi: ReturnType<Redis['multi']>): Promise<unknown[]> {
  const results = await multi.exec();
  if (!results) throw new Error('Redis transaction was aborted');
  const failed = results.find(([err]) => err);
  if (failed) throw failed[0];
  return results.map(([, value]) => value);
}
