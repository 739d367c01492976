/** Reads the overview's per-minute figures (written by the message log's scripts, store/message-log.ts). */
import type { Redis } from './redis-client.ts';
import { decodeMinute, type MinuteFigures } from '../domain/overview.ts';
import type { KeySpace } from './keys.ts';
import { logKeys } from './message-log.ts';

/** The minutes from `firstSlot` to `lastSlot` (ms / 60,000) that have figures, in one round trip. */
export async function readMinuteFigures(redis: Redis, keys: KeySpace, firstSlot: number, lastSlot: number): Promise<MinuteFigures[]> {
  const k = logKeys(keys);
  const pipe = redis.pipeline();
  const slots: number[] = [];
  for (let slot = firstSlot; slot <= lastSlot; slot++) {
    slots.push(slot);
    pipe.hgetall(k.minute(slot));
  }
  const replies = (await pipe.exec()) ?? [];
  const minutes: MinuteFigures[] = [];
  replies.forEach(([err, fields], i) => {
    if (err) throw err;
    const hash = (fields ?? {}) as Record<string, string>;
    if (Object.keys(hash).length) minutes.push(decodeMinute(slots[i], hash));
  });
  return minutes;
}
