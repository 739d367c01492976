/**
 * The dead-letter store: deliveries that failed for good keep their raw message (for the retention
 * time), their envelope and their attempt history, instead of being dropped as SendGrid does.
 */
import type { Redis } from './redis-client.ts';
import { MxhookError } from '../domain/errors.ts';
import { deliveryOf, isDeliveryId, type DeliveryTarget, type StoredMessageMeta } from '../domain/message.ts';
import type { KeySpace } from './keys.ts';
import { attemptsKey, readAttempts, type AttemptRecord } from './attempts.ts';
import { execOrThrow } from './messages.ts';
import { retryingMarker, routeStatsKey } from './route-stats.ts';

export interface DeadLetter {
  readonly deliveryId: string;
  readonly messageId: string;
  readonly hostname: string;
  readonly reason: string;
  readonly diedAt: string;
  readonly receivedAt: string;
  readonly mailFrom: string;
  readonly recipients: readonly string[];
  /** The address rule that made the delivery (its match pattern), when one did. */
  readonly rule?: string;
  readonly attempts: readonly AttemptRecord[];
}

const hostIndex = (keys: KeySpace, hostname: string) => `${keys.deadIndex}:host:${hostname}`;
const hostOf = (keys: KeySpace) => `${keys.deadIndex}:hostnames`;
const metaField = 'meta';

/**
 * KEYS: raw, meta, pending set, record, kept raw, index, host index, host-of hash, attempt
 * history, kept attempt history, route counters, the delivery's `retrying` marker. ARGV: delivery
 * id, ttl seconds, now ms, hostname, record fields. The route's `dead` goes up (and `retrying`
 * down, if the delivery was counted there) in the same script: counted once, with the dead letter.
 * `#!lua` (writes, no allow-oom) on purpose: when Redis is full (noeviction) the script is refused
 * as a whole before it runs, so a dead letter is never half made; the job is then retried later.
 * The last pending delivery of a message moves the raw bytes (RENAME) instead of copying them.
 */
const DEAD_LETTER_SCRIPT = `#!lua
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then return -1 end
local last = redis.call('SCARD', KEYS[3]) == 1
if redis.call('EXISTS', KEYS[1]) == 1 then
  if last then redis.call('RENAME', KEYS[1], KEYS[5]) else redis.call('COPY', KEYS[1], KEYS[5], 'REPLACE') end
  redis.call('EXPIRE', KEYS[5], ARGV[2])
end
redis.call('DEL', KEYS[4])
redis.call('HSET', KEYS[4], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[4], ARGV[2])
redis.call('ZADD', KEYS[6], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[7], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[8], ARGV[1], ARGV[4])
if redis.call('EXISTS', KEYS[9]) == 1 then
  redis.call('RENAME', KEYS[9], KEYS[10])
  redis.call('EXPIRE', KEYS[10], ARGV[2])
end
redis.call('HINCRBY', KEYS[11], 'dead', 1)
if redis.call('DEL', KEYS[12]) == 1 then redis.call('HINCRBY', KEYS[11], 'retrying', -1) end
redis.call('SREM', KEYS[3], ARGV[1])
if last then redis.call('DEL', KEYS[1], KEYS[2]) return 0 end
return 1`;

/**
 * Ids come from API paths and the command line and become key suffixes: `host:<h>` would name a
 * route's index. Anything but a delivery id's form is refused before a key is made of it.
 */
function checkedId(deliveryId: string): string {
  if (!isDeliveryId(deliveryId)) throw new MxhookError('BAD_DEAD_LETTER_ID', { fieldErrors: [{ field: 'id', message: `not a dead-letter id: ${deliveryId.slice(0, 80)}` }] });
  return deliveryId;
}

/**
 * Moves a delivery to the dead-letter store and releases its hold on the raw message, in one
 * script. Resolves `already-finished` (and changes nothing) when the delivery had ended before.
 * Rejects when Redis refuses it (full): nothing was written, the caller retries later. The route
 * counters are written by the same script.
 */
export async function deadLetterDelivery(
  redis: Redis,
  keys: KeySpace,
  input: { deliveryId: string; messageId: string; hostname: string; reason: string; meta: StoredMessageMeta; retentionMs: number; now: number },
): Promise<'dead-lettered' | 'already-finished'> {
  const { deliveryId, messageId, meta, hostname } = input;
  const ttl = Math.ceil(input.retentionMs / 1000);
  const delivery = deliveryOf(meta, deliveryId, hostname);
  const record = {
    deliveryId, messageId, hostname, reason: input.reason,
    diedAt: new Date(input.now).toISOString(),
    receivedAt: new Date(meta.receivedAt).toISOString(),
    mailFrom: meta.mailFrom,
    recipients: JSON.stringify(delivery.recipients),
    ...(delivery.rule !== undefined ? { rule: delivery.rule } : {}),
    [metaField]: JSON.stringify(meta),
  };
  const done = await redis.eval(DEAD_LETTER_SCRIPT, 12,
    keys.messageRaw(messageId), keys.messageMeta(messageId), keys.messagePending(messageId),
    keys.deadLetter(deliveryId), keys.deadLetterRaw(deliveryId), keys.deadIndex, hostIndex(keys, hostname), hostOf(keys),
    attemptsKey(keys, deliveryId), `${keys.deadLetter(deliveryId)}:attempts`, routeStatsKey(keys, hostname), retryingMarker(keys, deliveryId),
    deliveryId, ttl, input.now, hostname, ...Object.entries(record).flat());
  return done === -1 ? 'already-finished' : 'dead-lettered';
}

/** Rejects with BAD_DEAD_LETTER_ID when `deliveryId` is not one (see checkedId). */
export async function getDeadLetter(redis: Redis, keys: KeySpace, deliveryId: string): Promise<DeadLetter | undefined> {
  checkedId(deliveryId);
  const record = await redis.hgetall(keys.deadLetter(deliveryId));
  if (!record.deliveryId) return undefined;
  return {
    deliveryId: record.deliveryId,
    messageId: record.messageId,
    hostname: record.hostname,
    reason: record.reason,
    diedAt: record.diedAt,
    receivedAt: record.receivedAt,
    mailFrom: record.mailFrom,
    recipients: JSON.parse(record.recipients) as string[],
    ...(record.rule !== undefined ? { rule: record.rule } : {}),
    attempts: await readAttempts(redis, `${keys.deadLetter(deliveryId)}:attempts`),
  };
}

/** What a replay needs: the kept raw message and its original envelope. */
export async function loadDeadLetterMessage(redis: Redis, keys: KeySpace, deliveryId: string): Promise<{ raw: Buffer; meta: StoredMessageMeta; hostname: string; delivery: DeliveryTarget } | undefined> {
  checkedId(deliveryId);
  const [raw, meta, hostname] = await Promise.all([
    redis.getBuffer(keys.deadLetterRaw(deliveryId)),
    redis.hget(keys.deadLetter(deliveryId), metaField),
    redis.hget(keys.deadLetter(deliveryId), 'hostname'),
  ]);
  if (!raw || !meta || !hostname) return undefined;
  const parsed = JSON.parse(meta) as StoredMessageMeta;
  return { raw, meta: parsed, hostname, delivery: deliveryOf(parsed, deliveryId, hostname) };
}

/** Newest first, optionally for one hostname. Index entries whose record expired are pruned. */
export async function listDeadLetters(
  redis: Redis,
  keys: KeySpace,
  options: { hostname?: string | undefined; offset?: number; limit?: number } = {},
): Promise<{ total: number; result: DeadLetter[] }> {
  const index = options.hostname ? hostIndex(keys, options.hostname) : keys.deadIndex;
  const offset = options.offset ?? 0;
  const ids = await redis.zrevrange(index, offset, offset + (options.limit ?? 50) - 1);
  const result: DeadLetter[] = [];
  for (const id of ids) {
    const letter = await getDeadLetter(redis, keys, id);
    if (letter) result.push(letter);
    else await forgetDeadLetter(redis, keys, id);
  }
  return { total: await redis.zcard(index), result };
}

/** Ids of every dead letter of a hostname (for replay or purge of a whole route). */
export async function deadLetterIds(redis: Redis, keys: KeySpace, hostname: string): Promise<string[]> {
  return redis.zrange(hostIndex(keys, hostname), '0', '-1');
}

/** Removes a dead letter and everything it keeps; resolves false when it did not exist. */
export async function deleteDeadLetter(redis: Redis, keys: KeySpace, deliveryId: string): Promise<boolean> {
  checkedId(deliveryId);
  const existed = await redis.exists(keys.deadLetter(deliveryId));
  await forgetDeadLetter(redis, keys, deliveryId);
  return existed === 1;
}

async function forgetDeadLetter(redis: Redis, keys: KeySpace, deliveryId: string): Promise<void> {
  const hostname = await redis.hget(hostOf(keys), deliveryId);
  const multi = redis.multi();
  multi.del(keys.deadLetter(deliveryId), keys.deadLetterRaw(deliveryId), `${keys.deadLetter(deliveryId)}:attempts`);
  multi.zrem(keys.deadIndex, deliveryId);
  if (hostname) multi.zrem(hostIndex(keys, hostname), deliveryId);
  multi.hdel(hostOf(keys), deliveryId);
  await execOrThrow(multi);
}

/** Drops index entries of dead letters past the retention time (their keys expire by TTL). */
export async function sweepExpiredDeadLetters(redis: Redis, keys: KeySpace, retentionMs: number, now: number): Promise<number> {
  const expired = await redis.zrangebyscore(keys.deadIndex, '-inf', String(now - retentionMs));
  for (const id of expired) await forgetDeadLetter(redis, keys, id);
  return expired.length;
}
