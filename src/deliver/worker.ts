/**
 * The delivery worker: BullMQ wiring around runDelivery (delivery-run.ts), which decides each
 * run with decideDelivery and carries it out. Nothing is dropped silently.
 */
import { Worker, type Job } from 'bullmq';
import type { KeyObject } from 'node:crypto';
import { fallbackRetryDelay } from '../domain/delivery-decision.ts';
import type { DeliveryJobData } from '../domain/message.ts';
import { BACKOFF_TYPE, DELIVERY_QUEUE_NAME } from '../queue/delivery-queue.ts';
import { RetryLater, runDelivery, type DeliveryWorkerOptions, type Held, type RunContext } from './delivery-run.ts';
import { endFailedJob } from './failed-job.ts';
import { createByteBudget } from './memory-budget.ts';

export type { DeliveryWorkerOptions } from './delivery-run.ts';
export { createByteBudget } from './memory-budget.ts';

/** Raw bytes of large messages one worker process holds at once: one 30 MB message, or several smaller ones. */
export const LARGE_MESSAGE_BUDGET = 32 * 1024 * 1024;

export function createDeliveryWorker(options: DeliveryWorkerOptions): Worker<DeliveryJobData> {
  let ecdsa: Promise<KeyObject> | undefined;
  // Loaded once; a failed load is forgotten, so one Redis error does not fail every later delivery.
  const ecdsaKey = () => (ecdsa ??= options.ecdsaKey().catch((err: unknown) => {
    ecdsa = undefined;
    throw err;
  }));
  const ctx: RunContext = { options, ecdsaKey, origins: new Map(), budget: options.budget ?? createByteBudget(LARGE_MESSAGE_BUDGET) };
  const processor = (job: Job<DeliveryJobData>, token: string | undefined) => {
    const held: Held = { release: () => {} };
    return runDelivery(job, token, ctx, held).finally(() => held.release());
  };
  const worker = new Worker<DeliveryJobData>(DELIVERY_QUEUE_NAME, processor, {
    connection: options.connection,
    prefix: options.keys.prefix,
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs,
    stalledInterval: options.lockDurationMs,
    // A worker killed mid-POST leaves its job "stalled"; it is run again, and dead-lettered by the
    // run after maxWorkerCrashes of them (delivery-decision.ts). BullMQ's own limit is a far backstop.
    maxStalledCount: 1_000,
    settings: {
      // Decided failures carry their delay; anything else (Redis unreachable while carrying a
      // decision out) follows the server's schedule from the job's creation (= receipt).
      backoffStrategy: (_attempts: number, type?: string, err?: Error, job?: { timestamp: number }) =>
        type === BACKOFF_TYPE && err instanceof RetryLater ? err.delayMs : fallbackRetryDelay(options.retryPolicy, job?.timestamp ?? Date.now(), Date.now()),
    },
  });
  worker.on('error', (err) => options.logger.warn({ event: 'worker_error', err: String(err) }));
  // finishedOn is set only when BullMQ failed the job for good (it retries every other failure).
  worker.on('failed', (job, err) => {
    if (!job?.finishedOn) return;
    endFailedJob(job, err, ctx).catch((failure: unknown) => options.logger.error({ event: 'dead_letter_failed', delivery: job.id, err: String(failure) }));
  });
  return worker;
}
