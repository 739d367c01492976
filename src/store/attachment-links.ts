/**
 * What attachment download links rest on in Redis: the server secret that signs them, made once
 * and shared by every process, and a copy of the raw message kept until the last link to it
 * expires (the message itself is deleted when its deliveries end, or by raw retention). The copies
 * are bounded like kept raw messages: an index by expiry with their sizes, a byte cap (oldest
 * dropped first) and eviction when Redis is short of memory, both counted with the log's cuts.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from './redis-client.ts';
import type { KeySpace } from './keys.ts';
import { logKeys } from './message-log.ts';
import { evictSizedIndex } from './message-log-retention.ts';

const secretKey = (keys: KeySpace) => `${keys.prefix}:att:secret`;
const rawCopyKey = (keys: KeySpace, messageId: string) => `${keys.prefix}:att:raw:${messageId}`;
/** Sorted set: `<message id>|<bytes>` of each kept copy, scored by its expiry (ms). */
const copyIndex = (keys: KeySpace) => `${keys.prefix}:att:raw-index`;
/** The bytes of all kept copies. */
const copyBytes = (keys: KeySpace) => `${keys.prefix}:att:raw-bytes`;

/**
 * The link-signing secret, read once per process: a GET (allowed by a full Redis), and SET NX
 * only when it is missing (made by whichever process asks first, never changed after).
 */
export function createAttachmentSecret(redis: Redis, keys: KeySpace): () => Promise<Buffer> {
  let loaded: Promise<Buffer> | undefined;
  const load = async () => {
    let stored = await redis.get(secretKey(keys));
    if (!stored) {
      await redis.set(secretKey(keys), randomBytes(32).toString('base64'), 'NX');
      stored = await redis.get(secretKey(keys));
    }
    if (!stored) throw new Error('attachment link secret missing');
    return Buffer.from(stored, 'base64');
  };
  return () => (loaded ??= load().catch((err: unknown) => {
    loaded = undefined;
    throw err;
  }));
}

// KEYS: raw, copy, index, bytes, cuts. ARGV: expiry ms, now ms, max bytes, message id, key prefix.
// Entries of copies past their expiry (gone by TTL) give their bytes back first. An existing copy
// is only extended (GT); a new one first makes room under the cap by dropping the oldest copies.
const KEEP_SCRIPT = `
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[2], 'LIMIT', 0, 200)
if #gone > 0 then
  local freed = 0
  for i = 1, #gone do freed = freed + tonumber(string.sub(gone[i], string.find(gone[i], '|', 1, true) + 1)) end
  redis.call('ZREM', KEYS[3], unpack(gone))
  redis.call('DECRBY', KEYS[4], freed)
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('PEXPIREAT', KEYS[2], ARGV[1], 'GT')
  local size = redis.call('STRLEN', KEYS[2])
  if redis.call('ZADD', KEYS[3], 'GT', ARGV[1], ARGV[4] .. '|' .. size) == 1 then redis.call('INCRBY', KEYS[4], size) end
  return 1
end
local size = redis.call('STRLEN', KEYS[1])
if size == 0 then return 0 end
if size > tonumber(ARGV[3]) then return -1 end
local used = tonumber(redis.call('GET', KEYS[4]) or '0')
local dropped = 0
while used + size > tonumber(ARGV[3]) do
  local oldest = redis.call('ZPOPMIN', KEYS[3])
  if #oldest == 0 then break end
  local sep = string.find(oldest[1], '|', 1, true)
  redis.call('DEL', ARGV[5] .. ':att:raw:' .. string.sub(oldest[1], 1, sep - 1))
  local bytes = tonumber(string.sub(oldest[1], sep + 1))
  redis.call('DECRBY', KEYS[4], bytes)
  used = used - bytes
  dropped = dropped + 1
end
if dropped > 0 then redis.call('HINCRBY', KEYS[5], 'attachment_cap', dropped) end
redis.call('COPY', KEYS[1], KEYS[2])
redis.call('PEXPIREAT', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[4] .. '|' .. size)
redis.call('INCRBY', KEYS[4], size)
return 1`;

/**
 * Keeps the message's raw bytes until `untilMs` for its links, within `maxBytes` for all such
 * copies. `gone`: the message is no longer stored; `too-large`: it alone is over `maxBytes`.
 */
export async function keepRawForLinks(
  redis: Redis, keys: KeySpace, messageId: string, untilMs: number, maxBytes: number,
): Promise<'kept' | 'gone' | 'too-large'> {
  const result = await redis.eval(KEEP_SCRIPT, 5, keys.messageRaw(messageId), rawCopyKey(keys, messageId), copyIndex(keys), copyBytes(keys), logKeys(keys).cuts,
    untilMs, Date.now(), maxBytes, messageId, keys.prefix);
  return result === 1 ? 'kept' : result === -1 ? 'too-large' : 'gone';
}

/** Deletes up to `count` of the attachment-link copies that expire soonest (Redis is short of room for them). */
export function evictLinkCopies(redis: Redis, keys: KeySpace, count: number): Promise<{ messages: number; bytes: number }> {
  return evictSizedIndex(redis, keys, { key: copyIndex(keys), bytes: copyBytes(keys), cut: 'attachment_memory', keysOf: [rawCopyKey(keys, '{id}')] }, count);
}

/** The raw bytes a link serves from: the kept copy, else the message while it is still stored. */
/** Whether a raw copy or the message itself is there (without reading it). */
export async function hasRawForLinks(redis: Redis, keys: KeySpace, messageId: string): Promise<boolean> {
  return (await redis.exists(rawCopyKey(keys, messageId), keys.messageRaw(messageId))) > 0;
}

export async function rawForLinks(redis: Redis, keys: KeySpace, messageId: string): Promise<Buffer | undefined> {
  return (await redis.getBuffer(rawCopyKey(keys, messageId))) ?? (await redis.getBuffer(keys.messageRaw(messageId))) ?? undefined;
}
