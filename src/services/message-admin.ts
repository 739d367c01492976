/**
 * Acting on logged messages, as the API, the CLI and the console do, written once: a redeliver
 * of a message's every delivery, and marking a delivery `replayed` once a new one was made of it
 * (a redeliver here, a dead-letter replay in dead-letter-admin.ts).
 */
import type { Redis } from '../store/redis-client.ts';
import { MxhookError } from '../domain/errors.ts';
import type { AcceptMessage } from '../domain/message.ts';
import { messageIdOf } from '../domain/message-log.ts';
import { redeliver } from '../queue/redeliver.ts';
import type { KeySpace } from '../store/keys.ts';
import { getLoggedMessage, logDeliveryState, logKeys } from '../store/message-log.ts';
import { listLoggedMessages, mergeMessagePages, type MessagePage } from '../store/message-log-query.ts';
import type { ShardDirectory } from '../store/shards.ts';
import type { MessageFilter } from '../domain/message-log.ts';

export interface Redelivered {
  readonly delivery_id: string;
  readonly new_delivery_id: string;
}

/**
 * Records that `deliveryId` was delivered again as `replayedAs`. A message the log no longer holds
 * (or a log that is off) has nothing to mark; the write is otherwise the log's guarded one.
 */
export async function markReplayed(redis: Redis, keys: KeySpace, deliveryId: string, replayedAs: string, via: 'replay' | 'redeliver'): Promise<void> {
  const message = await getLoggedMessage(redis, keys, messageIdOf(deliveryId));
  const delivery = message?.deliveries.find((d) => d.id === deliveryId);
  if (!message || !delivery) return;
  const multi = redis.multi();
  // `via` tells the event webhook's `replayed` from `redelivered` (domain/event-webhook.ts).
  logDeliveryState(multi, keys, delivery.id, delivery.hostname, message.record.receivedAt, { kind: 'replayed', replayedAs }, Date.now(), undefined, { via });
  await multi.exec();
}

/** NOT_FOUND (field `id`) when the message is not logged or its raw bytes are no longer kept. */
export async function redeliverLogged(redis: Redis, keys: KeySpace, accept: AcceptMessage, id: string): Promise<Redelivered[]> {
  const message = await getLoggedMessage(redis, keys, id);
  if (!message) throw new MxhookError('NOT_FOUND', { fieldErrors: [{ field: 'id', message: `no logged message ${id}` }] });
  const redelivered: Redelivered[] = [];
  for (const d of message.deliveries) {
    const next = await redeliver(redis, keys, accept, { messageId: id, deliveryId: d.id, hostname: d.hostname });
    if (!next) throw new MxhookError('NOT_FOUND', { fieldErrors: [{ field: 'id', message: `the raw message of ${id} is no longer kept` }] });
    await markReplayed(redis, keys, d.id, next, 'redeliver');
    redelivered.push({ delivery_id: d.id, new_delivery_id: next });
  }
  return redelivered;
}

/** The shard holding a logged message (asked by its record; its own shard by id first), or undefined. */
export function findLoggedShard(redis: Redis, shards: ShardDirectory, id: string): Promise<KeySpace | undefined> {
  return shards.locate(id, async (k) => (await redis.exists(logKeys(k).record(id))) === 1);
}

/** A page of the log across every shard (the API's and the CLI's list), newest first. */
export async function listLoggedAcrossShards(
  redis: Redis, shards: ShardDirectory, filter: MessageFilter, options: Parameters<typeof listLoggedMessages>[3],
): Promise<MessagePage> {
  const all = await shards.all();
  return mergeMessagePages(await Promise.all(all.map((k) => listLoggedMessages(redis, k, filter, options))), options.limit);
}
