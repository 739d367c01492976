/**
 * Replaying a dead letter: its kept raw message becomes a new message with one delivery to the
 * same route (a new delivery id; the POST carries X-Mxhook-Replay-Of with the old one).
 */
import type { Redis } from '../store/redis-client.ts';
import { newMessageId, type AcceptMessage } from '../domain/message.ts';
import { deleteDeadLetter, loadDeadLetterMessage } from '../store/dead-letters.ts';
import type { KeySpace } from '../store/keys.ts';
import { deliveryId } from './delivery-queue.ts';

/** Resolves with the new delivery id, or undefined when the dead letter does not exist (or expired). */
export async function replayDeadLetter(redis: Redis, keys: KeySpace, accept: AcceptMessage, deadId: string): Promise<string | undefined> {
  const dead = await loadDeadLetterMessage(redis, keys, deadId);
  if (!dead) return undefined;
  const id = newMessageId();
  await accept({
    id, raw: dead.raw, mailFrom: dead.meta.mailFrom, clientIp: dead.meta.clientIp, helo: dead.meta.helo,
    // A fresh retry window: the replay gets the whole schedule again.
    receivedAt: Date.now(),
    // The same delivery again: an address rule's keeps its rule and recipients.
    deliveries: [dead.delivery],
    replayOf: deadId,
    // The verdicts of the original SMTP session (DNS today may say otherwise).
    ...(dead.meta.auth ? { auth: dead.meta.auth } : {}),
  });
  // At least once: if this delete fails, a second replay could deliver the message again.
  await deleteDeadLetter(redis, keys, deadId);
  return deliveryId(id, 0);
}
