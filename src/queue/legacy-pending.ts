/**
 * Upgrade step for messages queued by mxhook 0.1.0, which kept a `pending` counter in the meta
 * hash instead of the set of pending delivery ids (and no TTL). The worker treats a delivery id
 * missing from the set as ended, so without this step such mail would be dropped on upgrade.
 * A delivery is pending when its BullMQ job still exists and has not completed.
 */
import type { Queue } from 'bullmq';
import type { Redis } from '../store/redis-client.ts';
import type { DeliveryJobData, StoredMessageMeta } from '../domain/message.ts';
import type { KeySpace } from '../store/keys.ts';
import { deliveryId } from './delivery-queue.ts';

export async function migrateLegacyPending(redis: Redis, queue: Queue<DeliveryJobData>, keys: KeySpace, messageTtlMs: number): Promise<number> {
  let migrated = 0;
  const suffix = ':meta';
  const start = `${keys.prefix}:msg:`;
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${start}*${suffix}`, 'COUNT', 500);
    cursor = next;
    for (const metaKey of found) {
      const [metaText, legacyCount] = await redis.hmget(metaKey, 'meta', 'pending');
      if (legacyCount === null || !metaText) continue;
      const messageId = metaKey.slice(start.length, -suffix.length);
      const meta = JSON.parse(metaText) as StoredMessageMeta;
      const ids = Object.keys(meta.recipients).map((_hostname, index) => deliveryId(messageId, index));
      const pending: string[] = [];
      for (const id of ids) {
        const job = await queue.getJob(id);
        if (job && !(await job.isCompleted())) pending.push(id);
      }
      const multi = redis.multi();
      if (pending.length) {
        multi.sadd(keys.messagePending(messageId), ...pending);
        multi.hdel(metaKey, 'pending');
        for (const key of [keys.messageRaw(messageId), metaKey, keys.messagePending(messageId)]) multi.pexpire(key, messageTtlMs);
      } else {
        multi.del(keys.messageRaw(messageId), metaKey);
      }
      await multi.exec();
      migrated++;
    }
  } while (cursor !== '0');
  return migrated;
}
