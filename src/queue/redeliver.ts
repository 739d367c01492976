/**
 * Redelivering a logged message: its kept raw message (or, once that is gone, a dead letter's
 * copy) becomes a new message with one delivery to the same route, as a dead-letter replay does
 * (new delivery id; the POST carries X-Mxhook-Replay-Of with the old one). Works for any recent
 * message whose raw bytes are still kept, not only dead letters.
 */
import type { Redis } from '../store/redis-client.ts';
import { deliveryOf, newMessageId, type AcceptMessage, type StoredMessageMeta } from '../domain/message.ts';
import { loadDeadLetterMessage } from '../store/dead-letters.ts';
import type { KeySpace } from '../store/keys.ts';
import { loadMessage } from '../store/messages.ts';
import { deliveryId } from './delivery-queue.ts';

/** The exact stored bytes of a message (our Received: first), from the message or a dead letter of it. */
export async function loadKeptRaw(redis: Redis, keys: KeySpace, messageId: string, deliveryIds: readonly string[]): Promise<{ raw: Buffer; meta: StoredMessageMeta } | undefined> {
  const kept = await loadMessage(redis, keys, messageId);
  if (kept) return kept;
  for (const id of deliveryIds) {
    const dead = await loadDeadLetterMessage(redis, keys, id);
    if (dead) return { raw: dead.raw, meta: dead.meta };
  }
  return undefined;
}

/** Resolves with the new delivery id, or undefined when the raw message is no longer kept. */
export async function redeliver(
  redis: Redis, keys: KeySpace, accept: AcceptMessage, old: { messageId: string; deliveryId: string; hostname: string },
): Promise<string | undefined> {
  const kept = await loadKeptRaw(redis, keys, old.messageId, [old.deliveryId]);
  if (!kept) return undefined;
  const id = newMessageId();
  await accept({
    id, raw: kept.raw, mailFrom: kept.meta.mailFrom, clientIp: kept.meta.clientIp, helo: kept.meta.helo,
    receivedAt: Date.now(),
    // The same delivery again: an address rule's keeps its rule and recipients.
    deliveries: [deliveryOf(kept.meta, old.deliveryId, old.hostname)],
    replayOf: old.deliveryId,
    ...(kept.meta.auth ? { auth: kept.meta.auth } : {}),
  });
  return deliveryId(id, 0);
}
