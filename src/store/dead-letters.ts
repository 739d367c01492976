/**
 * The dead-letter store: deliveries that failed for good keep their raw message (for the retention
 * time) and their attempt history, instead of being dropped as SendGrid does.
 */
import type { Redis } from 'ioredis';
import type { StoredMessageMeta } from '../domain/message.ts';
import type { KeySpace } from './keys.ts';
import { attemptsKey, readAttempts, type AttemptRecord } from './attempts.ts';
import { execOrThrow, releaseDelivery } from './messages.ts';

export interface DeadLetter {
  readonly deliveryId: string;
  readonly messageId: string;
  readonly hostname: string;
  readonly reason: string;
  readonly diedAt: string;
  readonly receivedAt: string;
  readonly mailFrom: string;
  readonly recipients: readonly string[];
  readonly attempts: readonly AttemptRecord[];
}

/**
 * Moves a delivery to the dead-letter store and releases its hold on the raw message, in one
 * MULTI: the copy of the raw message exists before the original can be deleted.
 */
export async function deadLetterDelivery(
  redis: Redis,
  keys: KeySpace,
  input: { deliveryId: string; messageId: string; hostname: string; reason: string; meta: StoredMessageMeta | undefined; retentionMs: number; now: number },
): Promise<void> {
  const { deliveryId, messageId, meta } = input;
  const ttl = Math.ceil(input.retentionMs / 1000);
  const record = {
    deliveryId, messageId, hostname: input.hostname, reason: input.reason,
    diedAt: new Date(input.now).toISOString(),
    receivedAt: new Date(meta?.receivedAt ?? input.now).toISOString(),
    mailFrom: meta?.mailFrom ?? '',
    recipients: JSON.stringify(meta?.recipients[input.hostname] ?? []),
  };
  const multi = redis.multi();
  multi.copy(keys.messageRaw(messageId), keys.deadLetterRaw(deliveryId), 'REPLACE');
  multi.expire(keys.deadLetterRaw(deliveryId), ttl);
  multi.del(keys.deadLetter(deliveryId));
  multi.hset(keys.deadLetter(deliveryId), record);
  multi.expire(keys.deadLetter(deliveryId), ttl);
  multi.zadd(keys.deadIndex, input.now, deliveryId);
  multi.rename(attemptsKey(keys, deliveryId), `${keys.deadLetter(deliveryId)}:attempts`);
  multi.expire(`${keys.deadLetter(deliveryId)}:attempts`, ttl);
  releaseDelivery(multi, keys, messageId);
  try {
    await execOrThrow(multi);
  } catch (err) {
    // RENAME fails when no attempt was recorded (route deleted before the first try); that is fine.
    if (!/no such key/i.test(String(err))) throw err;
  }
}

export async function getDeadLetter(redis: Redis, keys: KeySpace, deliveryId: string): Promise<DeadLetter | undefined> {
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
    attempts: await readAttempts(redis, `${keys.deadLetter(deliveryId)}:attempts`),
  };
}

/** Newest first. Entries whose record expired are pruned from the index on the way. */
export async function listDeadLetters(redis: Redis, keys: KeySpace, options: { offset?: number; limit?: number } = {}): Promise<DeadLetter[]> {
  const ids = await redis.zrevrange(keys.deadIndex, options.offset ?? 0, (options.offset ?? 0) + (options.limit ?? 50) - 1);
  const letters: DeadLetter[] = [];
  for (const id of ids) {
    const letter = await getDeadLetter(redis, keys, id);
    if (letter) letters.push(letter);
    else await redis.zrem(keys.deadIndex, id);
  }
  return letters;
}
