/** The BullMQ queue of event-webhook batches (its own queue: a slow destination never holds up deliveries). */
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from '../store/redis-client.ts';
import type { WebhookEvent } from '../domain/event-webhook.ts';
import type { KeySpace } from '../store/keys.ts';

export const EVENT_QUEUE_NAME = 'event-batches';
export const EVENT_JOB_NAME = 'send';
export const EVENT_BACKOFF_TYPE = 'mxhook-event-backoff';

export interface EventBatchJob {
  readonly destinationId: string;
  readonly events: readonly WebhookEvent[];
  /** When the batch was cut, ms: it is retried until MXHOOK_EVENT_WEBHOOK_MAX_AGE after this. */
  readonly createdAt: number;
}

/** Retries end by age (the sender drops a batch past the max age): the attempt limit is only a backstop. */
export const EVENT_JOB_OPTIONS: Readonly<JobsOptions> = Object.freeze({
  attempts: 1_000_000, backoff: { type: EVENT_BACKOFF_TYPE }, removeOnComplete: true, removeOnFail: true,
});

export function createEventQueue(connection: Redis, keys: KeySpace): Queue<EventBatchJob> {
  return new Queue<EventBatchJob>(EVENT_QUEUE_NAME, { connection, prefix: keys.prefix });
}
