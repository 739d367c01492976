/**
 * The delivery worker: BullMQ wiring around runDelivery (delivery-run.ts), which decides each
 * run with decideDelivery and carries it out. Nothing is dropped silently.
 */
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Agent } from 'undici';
import type { KeyObject } from 'node:crypto';
import type { BreakerPolicy } from '../domain/circuit-breaker.ts';
import { fallbackRetryDelay } from '../domain/delivery-decision.ts';
import type { DeliveryJobData } from '../domain/message.ts';
import type { DeliveryMetrics } from '../domain/metrics.ts';
import type { RetryPolicy } from '../domain/retry-policy.ts';
import { BACKOFF_TYPE, DELIVERY_QUEUE_NAME } from '../queue/delivery-queue.ts';
import type { RouteRegistry } from '../routes/registry.ts';
import type { SigningSecrets } from '../routes/signing-secrets.ts';
import type { KeySpace } from '../store/keys.ts';
import { RetryLater, runDelivery, type Held, type RunContext } from './delivery-run.ts';
import { createByteBudget } from './memory-budget.ts';
import type { SpamdOptions } from '../parse/spamd.ts';
import type { PostOptions } from './post.ts';

export interface DeliveryWorkerOptions {
  /** BullMQ connection (maxRetriesPerRequest: null); the worker duplicates it for blocking calls. */
  readonly connection: Redis;
  /** Connection for message, attempt and dead-letter reads and writes. */
  readonly redis: Redis;
  readonly keys: KeySpace;
  readonly routes: RouteRegistry;
  readonly secrets: SigningSecrets;
  /** Loads the server's ECDSA key (for routes with sendgrid_signature); called once, lazily. */
  readonly ecdsaKey: () => Promise<KeyObject>;
  readonly agent: Agent;
  readonly post: PostOptions;
  /** spamd for routes with spam_check. */
  readonly spamd: SpamdOptions;
  /** Server-wide retry schedule; a route's retry_policy overrides parts of it. */
  readonly retryPolicy: RetryPolicy;
  readonly breaker: BreakerPolicy;
  /** Dead letters and their raw message are kept this long, ms. Default 7 days. */
  readonly deadLetterRetentionMs: number;
  /** Deliveries in flight at once. Default 32. */
  readonly concurrency: number;
  /** A job whose worker died is picked up again after this long, ms. Default 30 s. */
  readonly lockDurationMs: number;
  /** Runs whose worker died after which the next run dead-letters the delivery. Default 3. */
  readonly maxWorkerCrashes: number;
  /** Where large attachments are spooled while a payload is built. */
  readonly spoolDir: string;
  readonly logger: Logger;
  /** Attempts, bytes and end-to-end latency for /metrics (app/metrics.ts); optional. */
  readonly metrics?: DeliveryMetrics | undefined;
}

/** Raw bytes of large messages one worker process holds at once: one 30 MB message, or several smaller ones. */
const LARGE_MESSAGE_BUDGET = 32 * 1024 * 1024;

export function createDeliveryWorker(options: DeliveryWorkerOptions): Worker<DeliveryJobData> {
  let ecdsa: Promise<KeyObject> | undefined;
  // Loaded once; a failed load is forgotten, so one Redis error does not fail every later delivery.
  const ecdsaKey = () => (ecdsa ??= options.ecdsaKey().catch((err: unknown) => {
    ecdsa = undefined;
    throw err;
  }));
  const ctx: RunContext = { options, ecdsaKey, origins: new Map(), budget: createByteBudget(LARGE_MESSAGE_BUDGET) };
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
  return worker;
}
