/**
 * Sends event-webhook batches: a BullMQ worker on the batches' own queue that POSTs each as JSON,
 * signed (Standard Webhooks with the destination's secret, SendGrid's ECDSA with the server's key),
 * through the same destination guard and timeouts as the app POSTs, on its own connection pool.
 * A failed POST is retried with doubling waits until the max age, then dropped (counted, logged).
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { Worker, type Job } from 'bullmq';
import type { Redis } from '../store/redis-client.ts';
import type { Logger } from 'pino';
import type { Agent } from 'undici';
import { batchRetryDelay } from '../domain/event-webhook.ts';
import { EVENT_BACKOFF_TYPE, EVENT_QUEUE_NAME, type EventBatchJob } from '../queue/event-queue.ts';
import { countFailedPost, getEventDestination, isInBacklog, leaveBacklog } from '../store/event-destinations.ts';
import type { KeySpace } from '../store/keys.ts';
import { postForm, postTarget, type PostOptions } from './post.ts';
import { signBody } from './signing.ts';

export interface EventSenderOptions {
  /** BullMQ connection (maxRetriesPerRequest: null). */
  readonly connection: Redis;
  readonly redis: Redis;
  readonly keys: KeySpace;
  /** Its own pool: a destination that hangs never takes the app POSTs' connections. */
  readonly agent: Agent;
  readonly post: PostOptions;
  readonly ecdsaKey: () => Promise<KeyObject>;
  /** A batch not sent this long after it was cut is dropped. Default 24 h. */
  readonly maxAgeMs: number;
  /** Longest wait between two tries of a batch. */
  readonly maxIntervalMs: number;
  readonly concurrency: number;
  readonly logger: Logger;
}

class PostFailed extends Error {}

export function createEventSender(options: EventSenderOptions): Worker<EventBatchJob> {
  const { redis, keys, logger } = options;
  const processor = async (job: Job<EventBatchJob>): Promise<void> => {
    const { destinationId, events, createdAt } = job.data;
    const id = job.id as string;
    // Dropped by the backlog cap, or its destination deleted: nothing to send.
    if (!(await isInBacklog(redis, keys, destinationId, id, events.length))) return;
    const destination = await getEventDestination(redis, keys, destinationId);
    if (!destination?.enabled) {
      await leaveBacklog(redis, keys, destinationId, id, events.length, 'dropped');
      return;
    }
    const body = Buffer.from(JSON.stringify(events));
    const headers = signBody(body, { hmacKey: createSecretKey(Buffer.from(destination.secret.replace(/^whsec_/, ''), 'base64')), ecdsaKey: await options.ecdsaKey() }, {
      webhookId: id, timestampSeconds: Math.floor(Date.now() / 1000),
    });
    const target = postTarget(destination.url);
    const started = Date.now();
    const result = await postForm(options.agent, target, { body, contentType: 'application/json', contentLength: body.length }, headers, options.post);
    const ok = result.kind === 'response' && result.status >= 200 && result.status < 300;
    const outcome = result.kind === 'response' ? `HTTP ${result.status}` : `${result.code ?? 'error'}: ${result.message}`;
    logger.info({ event: 'event_batch_post', destination: destinationId, batch: id, events: events.length, target: target.url, ok, outcome, ms: Date.now() - started, attempt: job.attemptsMade + 1 });
    if (ok) {
      await leaveBacklog(redis, keys, destinationId, id, events.length, 'sent');
      return;
    }
    await countFailedPost(redis, keys).catch(() => {});
    if (Date.now() - createdAt >= options.maxAgeMs) {
      await leaveBacklog(redis, keys, destinationId, id, events.length, 'dropped');
      logger.warn({ event: 'event_batch_dropped', destination: destinationId, batch: id, events: events.length, reason: `not accepted within the max age: ${outcome}` });
      return;
    }
    throw new PostFailed(outcome);
  };
  const worker = new Worker<EventBatchJob>(EVENT_QUEUE_NAME, processor, {
    connection: options.connection,
    prefix: keys.prefix,
    concurrency: options.concurrency,
    // A POST is bounded by the request timeout; the lock outlasts it.
    lockDuration: Math.max(30_000, options.post.requestTimeoutMs * 2),
    settings: {
      backoffStrategy: (attempts: number, type?: string) => (type === EVENT_BACKOFF_TYPE ? batchRetryDelay(attempts, options.maxIntervalMs) : 1000),
    },
  });
  worker.on('error', (err) => logger.warn({ event: 'event_sender_error', err: String(err) }));
  return worker;
}
