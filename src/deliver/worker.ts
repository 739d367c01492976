/**
 * The delivery worker: for each job, load the message, build the route's payload, POST it,
 * classify the result (domain/outcome) and act on that value: done, retry later, or dead-letter.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Agent } from 'undici';
import type { DeliveryJobData } from '../domain/message.ts';
import { classifyAttempt, type DeliveryOutcome } from '../domain/outcome.ts';
import { nextRetry, type RetryPolicy } from '../domain/retry-policy.ts';
import { effectiveRetryPolicy, type ParseSetting } from '../domain/route.ts';
import { buildParsedPayload } from '../parse/parsed-payload.ts';
import { buildRawPayload } from '../parse/raw-payload.ts';
import { removeSpoolDir } from '../parse/spool.ts';
import { BACKOFF_TYPE, DELIVERY_QUEUE_NAME } from '../queue/delivery-queue.ts';
import type { RouteRegistry } from '../routes/registry.ts';
import { recordAttempt } from '../store/attempts.ts';
import { deadLetterDelivery } from '../store/dead-letters.ts';
import type { KeySpace } from '../store/keys.ts';
import { loadMessage, releaseDeliveryNow, type StoredMessage } from '../store/messages.ts';
import { encodeForm } from './encode-form.ts';
import { postForm, splitUrlCredentials, type PostOptions } from './post.ts';

export interface DeliveryWorkerOptions {
  /** BullMQ connection (maxRetriesPerRequest: null); the worker duplicates it for blocking calls. */
  readonly connection: Redis;
  /** Connection for message, attempt and dead-letter reads and writes. */
  readonly redis: Redis;
  readonly keys: KeySpace;
  readonly routes: RouteRegistry;
  readonly agent: Agent;
  readonly post: PostOptions;
  /** Server-wide retry schedule; a route's retry_policy overrides parts of it. */
  readonly retryPolicy: RetryPolicy;
  /** Dead letters and their raw message are kept this long, ms. Default 7 days. */
  readonly deadLetterRetentionMs: number;
  /** Deliveries in flight at once. Default 32. */
  readonly concurrency: number;
  /** Where large attachments are spooled while a payload is built. */
  readonly spoolDir: string;
  readonly logger: Logger;
}

/** Thrown to have BullMQ schedule the next attempt after `delayMs`. */
export class RetryLater extends Error {
  readonly delayMs: number;
  constructor(reason: string, delayMs: number) {
    super(reason);
    this.name = 'RetryLater';
    this.delayMs = delayMs;
  }
}

/** Wait before retrying a job that failed for an unexpected reason (a bug, a Redis hiccup). */
const UNEXPECTED_FAILURE_DELAY_MS = 30_000;

export function createDeliveryWorker(options: DeliveryWorkerOptions): Worker<DeliveryJobData> {
  const worker = new Worker<DeliveryJobData>(DELIVERY_QUEUE_NAME, (job) => deliver(job, options), {
    connection: options.connection,
    prefix: options.keys.prefix,
    concurrency: options.concurrency,
    // A worker killed mid-POST leaves its job "stalled"; recover it instead of failing it.
    maxStalledCount: 1_000,
    settings: {
      backoffStrategy: (_attempts: number, type?: string, err?: Error) =>
        type === BACKOFF_TYPE && err instanceof RetryLater ? err.delayMs : UNEXPECTED_FAILURE_DELAY_MS,
    },
  });
  worker.on('error', (err) => options.logger.warn({ event: 'worker_error', err: String(err) }));
  return worker;
}

async function deliver(job: Job<DeliveryJobData>, options: DeliveryWorkerOptions): Promise<void> {
  const { messageId, hostname } = job.data;
  const deliveryId = job.id as string;
  const attempt = job.attemptsMade + 1;
  const log = options.logger.child({ delivery: deliveryId, message: messageId, hostname, attempt });
  const message = await loadMessage(options.redis, options.keys, messageId);
  if (!message) {
    // Only possible if the keys were removed by hand: there is nothing left to deliver.
    log.error({ event: 'delivery_message_missing' });
    throw new UnrecoverableError(`raw message ${messageId} is missing`);
  }
  const route = await options.routes.get(hostname);
  if (!route) {
    await deadLetter(options, { deliveryId, messageId, hostname, message, reason: 'route deleted before delivery' });
    log.warn({ event: 'delivery_dead', reason: 'route deleted' });
    return;
  }
  const started = Date.now();
  const { outcome, status } = await attemptPost(options, route, message, { deliveryId, attempt, hostname });
  const durationMs = Date.now() - started;
  await recordAttempt(options.redis, options.keys, deliveryId, {
    attempt, at: new Date(started).toISOString(), outcome: outcome.kind, status, durationMs,
    reason: outcome.kind === 'delivered' ? undefined : outcome.reason,
  });
  const target = splitUrlCredentials(route.url).url;
  log.info({ event: 'delivery_attempt', url: target, outcome: outcome.kind, status, ms: durationMs, ...(outcome.kind !== 'delivered' ? { reason: outcome.reason } : {}) });

  if (outcome.kind === 'delivered') {
    await releaseDeliveryNow(options.redis, options.keys, messageId);
    return;
  }
  if (outcome.kind === 'permanent') {
    await deadLetter(options, { deliveryId, messageId, hostname, message, reason: outcome.reason });
    return;
  }
  const policy = effectiveRetryPolicy(options.retryPolicy, route.retry_policy);
  const decision = nextRetry(policy, {
    receivedAt: message.meta.receivedAt, now: Date.now(),
    ...(outcome.retryAfterMs !== undefined ? { retryAfterMs: outcome.retryAfterMs } : {}),
  });
  if (!decision.retry) {
    await deadLetter(options, { deliveryId, messageId, hostname, message, reason: `gave up after ${attempt} attempts: ${outcome.reason}` });
    log.warn({ event: 'delivery_dead', reason: 'retries exhausted' });
    return;
  }
  throw new RetryLater(outcome.reason, decision.delayMs);
}

async function attemptPost(
  options: DeliveryWorkerOptions,
  route: ParseSetting,
  message: StoredMessage,
  ids: { deliveryId: string; attempt: number; hostname: string },
): Promise<{ outcome: DeliveryOutcome; status?: number }> {
  const context = {
    senderIp: message.meta.clientIp,
    mailFrom: message.meta.mailFrom,
    recipients: message.meta.recipients[ids.hostname] ?? [],
  };
  const spoolDir = path.join(options.spoolDir, `${ids.deliveryId}-${ids.attempt}-${process.pid}`);
  try {
    let payload;
    if (route.send_raw) payload = buildRawPayload(message.raw, context);
    else {
      await mkdir(spoolDir, { recursive: true });
      payload = await buildParsedPayload(message.raw, context, { dir: spoolDir });
    }
    const result = await postForm(options.agent, splitUrlCredentials(route.url), encodeForm(payload), {
      'x-mxhook-delivery-id': ids.deliveryId,
      'x-mxhook-attempt': String(ids.attempt),
    }, options.post);
    const outcome = classifyAttempt(result);
    const detailed = outcome.kind === 'permanent' && result.kind === 'response' && result.bodySnippet
      ? { ...outcome, reason: `${outcome.reason}: ${result.bodySnippet.slice(0, 200)}` }
      : outcome;
    return { outcome: detailed, ...(result.kind === 'response' ? { status: result.status } : {}) };
  } finally {
    await removeSpoolDir(spoolDir);
  }
}

function deadLetter(
  options: DeliveryWorkerOptions,
  input: { deliveryId: string; messageId: string; hostname: string; message: StoredMessage; reason: string },
): Promise<void> {
  return deadLetterDelivery(options.redis, options.keys, {
    deliveryId: input.deliveryId, messageId: input.messageId, hostname: input.hostname, reason: input.reason,
    meta: input.message.meta, retentionMs: options.deadLetterRetentionMs, now: Date.now(),
  });
}
