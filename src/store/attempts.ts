/** The attempt history of one delivery (time, outcome, status), kept until the delivery ends. */
import type { Redis } from './redis-client.ts';
import type { KeySpace } from './keys.ts';
import { execOrThrow } from './messages.ts';

export interface AttemptRecord {
  readonly attempt: number;
  readonly at: string;
  /** `error`: the attempt failed for an unexpected reason (not the app's answer or the network). */
  readonly outcome: 'delivered' | 'retry' | 'permanent' | 'error';
  readonly status?: number | undefined;
  readonly reason?: string | undefined;
  readonly durationMs: number;
}

export const attemptsKey = (keys: KeySpace, deliveryId: string): string => `${keys.prefix}:delivery:${deliveryId}:attempts`;

export async function recordAttempt(redis: Redis, keys: KeySpace, deliveryId: string, record: AttemptRecord): Promise<void> {
  const key = attemptsKey(keys, deliveryId);
  // Bounded: a delivery retried for 72 h makes a few dozen attempts; keep the newest 200.
  await execOrThrow(redis.multi().rpush(key, JSON.stringify(record)).ltrim(key, -200, -1).expire(key, 30 * 86_400));
}

export async function readAttempts(redis: Redis, key: string): Promise<AttemptRecord[]> {
  return (await redis.lrange(key, 0, -1)).map((line) => JSON.parse(line) as AttemptRecord);
}
