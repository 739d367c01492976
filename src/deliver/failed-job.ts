/**
 * The end of a job BullMQ failed for good by itself (worker.ts's `failed` handler), written apart
 * from a run (delivery-run.ts) because no decision of ours led to it.
 */
import type { Job } from 'bullmq';
import type { DeliveryJobData } from '../domain/message.ts';
import { attemptsKey } from '../store/attempts.ts';
import { deadLetterDelivery } from '../store/dead-letters.ts';
import { loadMessage, releaseDelivery } from '../store/messages.ts';
import { attemptNumber, type RunContext } from './delivery-run.ts';
import { logRun } from './run-log.ts';

/**
 * The queue's own backstops (maxStalledCount, the attempts limit) failed the job for good without
 * a decision of ours: it is dead-lettered (or released, when its message is gone) all the same, so
 * nothing ends silently in BullMQ's failed set or leaks its message.
 */
export async function endFailedJob(job: Job<DeliveryJobData>, err: Error, ctx: RunContext): Promise<void> {
  const { redis, keys, logger } = ctx.options;
  const { messageId, hostname } = job.data;
  const deliveryId = job.id as string;
  const message = await loadMessage(redis, keys, messageId, 1);
  const reason = `the queue gave up on the job: ${err.message}`;
  if (!message) await releaseDelivery(redis, keys, messageId, deliveryId, [attemptsKey(keys, deliveryId)]);
  else {
    await deadLetterDelivery(redis, keys, { deliveryId, messageId, hostname, reason, meta: message.meta, retentionMs: ctx.options.deadLetterRetentionMs, now: Date.now() });
    // The log (and the event webhook's dead_lettered) tell of it as of any other dead letter.
    logRun(ctx, () => logger, job, message, undefined, { kind: 'dead-lettered' }, attemptNumber(job), reason);
  }
  logger.warn({ event: 'delivery_dead', delivery: deliveryId, message: messageId, hostname, reason });
}
