/** The BullMQ queue of deliveries: its name, job options and delivery ids (storing a message: accept.ts). */
import { Queue, type JobsOptions, type JobType } from 'bullmq';
import type { Redis } from '../store/redis-client.ts';
import type { DeliveryJobData } from '../domain/message.ts';
import type { KeySpace } from '../store/keys.ts';
import { sumFields, type ShardDirectory } from '../store/shards.ts';

export { utcDay } from '../store/incoming.ts';

export const DELIVERY_QUEUE_NAME = 'deliveries';
export const DELIVERY_JOB_NAME = 'deliver';
/** The custom backoff type the worker's backoffStrategy answers for. */
export const BACKOFF_TYPE = 'mxhook-schedule';

/**
 * Retries are scheduled by the worker from the route's policy (72 h by default), so BullMQ's own
 * attempt limit is only a backstop far beyond any real schedule.
 */
const ATTEMPTS_BACKSTOP = 100_000;

/** Options of every delivery job; the job id (deliveryId) is added per job. */
export const DELIVERY_JOB_OPTIONS: Readonly<JobsOptions> = Object.freeze({
  attempts: ATTEMPTS_BACKSTOP, backoff: { type: BACKOFF_TYPE }, removeOnComplete: true, removeOnFail: { age: 30 * 86_400 },
});

export function createDeliveryQueue(connection: Redis, keys: KeySpace): Queue<DeliveryJobData> {
  return new Queue<DeliveryJobData>(DELIVERY_QUEUE_NAME, { connection, prefix: keys.prefix });
}

/** Delivery ids are the BullMQ job ids: stable across attempts, so apps can de-duplicate. */
export function deliveryId(messageId: string, index: number): string {
  return `${messageId}.${index + 1}`;
}


/** Every shard's delivery queue on one connection, made when first asked for. */
export interface ShardQueues {
  of(keys: KeySpace): Queue<DeliveryJobData>;
  /** Job counts by state, added up over every shard (current and draining). */
  counts(...states: JobType[]): Promise<Record<string, number>>;
  close(): Promise<void>;
}

export function createShardQueues(connection: Redis, directory: ShardDirectory): ShardQueues {
  const queues = new Map<string, Queue<DeliveryJobData>>();
  const of = (keys: KeySpace) => {
    let queue = queues.get(keys.prefix);
    if (!queue) {
      queue = createDeliveryQueue(connection, keys);
      queues.set(keys.prefix, queue);
    }
    return queue;
  };
  return {
    of,
    async counts(...states) {
      const shards = await directory.all();
      return sumFields(await Promise.all(shards.map((k) => of(k).getJobCounts(...states))));
    },
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
    },
  };
}
