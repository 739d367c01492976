/** The BullMQ queue of deliveries, and the atomic "store message + enqueue its deliveries" step. */
import { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { MxhookError } from '../domain/errors.ts';
import type { AcceptMessage, DeliveryJobData, IncomingMessage, StoredMessageMeta } from '../domain/message.ts';
import type { KeySpace } from '../store/keys.ts';
import { execOrThrow } from '../store/messages.ts';
import { countRoute } from '../store/route-stats.ts';

export const DELIVERY_QUEUE_NAME = 'deliveries';
export const DELIVERY_JOB_NAME = 'deliver';
/** The custom backoff type the worker's backoffStrategy answers for. */
export const BACKOFF_TYPE = 'mxhook-schedule';

/**
 * Retries are scheduled by the worker from the route's policy (72 h by default), so BullMQ's own
 * attempt limit is only a backstop far beyond any real schedule.
 */
const ATTEMPTS_BACKSTOP = 100_000;

export function createDeliveryQueue(connection: Redis, keys: KeySpace): Queue<DeliveryJobData> {
  return new Queue<DeliveryJobData>(DELIVERY_QUEUE_NAME, { connection, prefix: keys.prefix });
}

/** Delivery ids are the BullMQ job ids: stable across attempts, so apps can de-duplicate. */
export function deliveryId(messageId: string, index: number): string {
  return `${messageId}.${index + 1}`;
}

export function utcDay(time: number): string {
  return new Date(time).toISOString().slice(0, 10);
}

/**
 * Stores the raw message, its meta and one job per hostname route in a single MULTI/EXEC, so
 * either all of it exists or none does. Rejects with STORE_UNAVAILABLE when Redis cannot take it.
 */
export function createAcceptMessage(queue: Queue<DeliveryJobData>, keys: KeySpace): AcceptMessage {
  return async (message: IncomingMessage) => {
    const meta: StoredMessageMeta = {
      mailFrom: message.mailFrom,
      clientIp: message.clientIp,
      helo: message.helo,
      receivedAt: message.receivedAt,
      size: message.raw.length,
      recipients: Object.fromEntries(message.deliveries.map((d) => [d.hostname, d.recipients])),
      ...(message.replayOf ? { replayOf: message.replayOf } : {}),
      ...(message.auth ? { auth: message.auth } : {}),
    };
    try {
      const client = (await queue.getBackend().client) as unknown as Redis;
      const multi = client.multi();
      multi.set(keys.messageRaw(message.id), message.raw);
      multi.hset(keys.messageMeta(message.id), { meta: JSON.stringify(meta), pending: message.deliveries.length });
      const statsKey = keys.receivedStats(utcDay(message.receivedAt));
      message.deliveries.forEach((delivery, index) => {
        if (!message.replayOf) {
          multi.hincrby(statsKey, delivery.hostname, 1);
          countRoute(multi, keys, delivery.hostname, 'received');
        }
        const data: DeliveryJobData = { messageId: message.id, hostname: delivery.hostname };
        const job = new Job(queue, DELIVERY_JOB_NAME, data, {
          jobId: deliveryId(message.id, index),
          attempts: ATTEMPTS_BACKSTOP,
          backoff: { type: BACKOFF_TYPE },
          removeOnComplete: true,
          removeOnFail: { age: 30 * 86_400 },
        }, deliveryId(message.id, index));
        // Queued on the MULTI synchronously; its result arrives with exec().
        job.addJob(multi as unknown as Parameters<typeof job.addJob>[0]).catch(() => {});
      });
      multi.expire(statsKey, 400 * 86_400);
      await execOrThrow(multi);
    } catch (err) {
      throw new MxhookError('STORE_UNAVAILABLE', { cause: err });
    }
  };
}
