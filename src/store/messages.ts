/** Raw messages and their metadata in Redis: load for delivery, release when every delivery ended. */
import type { Redis } from 'ioredis';
import type { StoredMessageMeta } from '../domain/message.ts';
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
 * Marks one delivery of a message as ended; the last one deletes the raw message, its meta and
 * its pending set (store/incoming.ts writes all three). Atomic (one Lua script), so two workers
 * finishing at once cannot both miss the last one. (The finish path's own rewrite replaces this.)
 */
const RELEASE_SCRIPT = `
redis.call('SREM', KEYS[3], ARGV[1])
local left = redis.call('SCARD', KEYS[3])
if left == 0 then redis.call('DEL', KEYS[1], KEYS[2], KEYS[3]) end
return left`;

export function releaseDelivery(pipeline: ReturnType<Redis['multi']>, keys: KeySpace, messageId: string, deliveryId: string): void {
  pipeline.eval(RELEASE_SCRIPT, 3, keys.messageRaw(messageId), keys.messageMeta(messageId), keys.messagePending(messageId), deliveryId);
}

/** Runs a MULTI and throws the first command error (ioredis reports them per command). */
export async function execOrThrow(multi: ReturnType<Redis['multi']>): Promise<unknown[]> {
  const results = await multi.exec();
  if (!results) throw new Error('Redis transaction was aborted');
  const failed = results.find(([err]) => err);
  if (failed) throw failed[0];
  return results.map(([, value]) => value);
}
