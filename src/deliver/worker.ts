/**
 * The delivery worker: for each job, load the message and route, respect the destination's
 * circuit breaker, attempt the POST (attempt.ts), and act on the classified outcome: done,
 * retry later, or dead-letter. Nothing is dropped.
 */
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Agent } from 'undici';
import type { KeyObject } from 'node:crypto';
import { afterFailure, afterSuccess, isOpen, type BreakerPolicy } from '../domain/circuit-breaker.ts';
import type { DeliveryJobData } from '../domain/message.ts';
import type { DeliveryMetrics } from '../domain/metrics.ts';
import { nextRetry, type RetryPolicy } from '../domain/retry-policy.ts';
import { effectiveRetryPolicy } from '../domain/route.ts';
import { BACKOFF_TYPE, DELIVERY_QUEUE_NAME } from '../queue/delivery-queue.ts';
import type { RouteRegistry } from '../routes/registry.ts';
import type { SigningSecrets } from '../routes/signing-secrets.ts';
import { attemptsKey, recordAttempt } from '../store/attempts.ts';
import { readBreaker, writeBreaker } from '../store/breakers.ts';
import { deadLetterDelivery } from '../store/dead-letters.ts';
import type { KeySpace } from '../store/keys.ts';
import { execOrThrow, loadMessage, loadRawInPieces, releaseDelivery } from '../store/messages.ts';
import { countRoute, markRetrying, unmarkRetrying } from '../store/route-stats.ts';
import { attemptDelivery } from './attempt.ts';
import { createByteBudget, type ByteBudget } from './memory-budget.ts';
import { spamCheckFields } from './spam-check.ts';
import type { SpamdOptions } from '../parse/spamd.ts';
import { postTarget, type PostOptions } from './post.ts';

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
  /** Where large attachments are spooled while a payload is built. */
  readonly spoolDir: string;
  readonly logger: Logger;
  /** Attempts, bytes and end-to-end latency for /metrics (app/metrics.ts); optional. */
  readonly metrics?: DeliveryMetrics | undefined;
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

/**
 * Messages up to this size are read whole with everything else an attempt needs (one round trip);
 * the rest of bigger ones is read in pieces once the process's large-message budget has room.
 * Kept small: every job that starts holds this much at once (twenty large ones arriving together).
 */
const INLINE_BYTES = 256 * 1024;
/** Raw bytes of large messages one worker process holds at once: one 30 MB message, or several smaller ones. */
const LARGE_MESSAGE_BUDGET = 32 * 1024 * 1024;

/** Budget bytes held by one running delivery; given back when its job function ends. */
interface Held {
  release: () => void;
}

export function createDeliveryWorker(options: DeliveryWorkerOptions): Worker<DeliveryJobData> {
  let ecdsa: Promise<KeyObject> | undefined;
  // Loaded once; a failed load (Redis down) is not kept, so the next delivery tries again.
  const ecdsaKey = () => (ecdsa ??= options.ecdsaKey().catch((err: unknown) => {
    ecdsa = undefined;
    throw err;
  }));
  // hostname -> origin of its URL at the last delivery, to read the breaker with everything else.
  const origins = new Map<string, string>();
  const budget = createByteBudget(LARGE_MESSAGE_BUDGET);
  const processor = (job: Job<DeliveryJobData>, token: string | undefined) => {
    const held: Held = { release: () => {} };
    return deliver(job, token, options, ecdsaKey, origins, budget, held).finally(() => held.release());
  };
  const worker = new Worker<DeliveryJobData>(DELIVERY_QUEUE_NAME, processor, {
    connection: options.connection,
    prefix: options.keys.prefix,
    concurrency: options.concurrency,
    lockDuration: options.lockDurationMs,
    stalledInterval: options.lockDurationMs,
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

async function deliver(
  job: Job<DeliveryJobData>, token: string | undefined, options: DeliveryWorkerOptions, ecdsaKey: () => Promise<KeyObject>, origins: Map<string, string>,
  budget: ByteBudget, held: Held,
): Promise<void> {
  const { messageId, hostname } = job.data;
  const deliveryId = job.id as string;
  const attempt = job.attemptsMade + 1;
  const where = { delivery: deliveryId, message: messageId, hostname, attempt };
  // A child logger costs more than the one line a delivered message writes: made only when needed.
  let child: Logger | undefined;
  const log = () => (child ??= options.logger.child(where));
  // Everything an attempt reads is asked for at once: one round trip instead of four. The breaker
  // is read for the origin this route had last time, and read again below only if the URL moved.
  const lastOrigin = origins.get(hostname);
  const [head, route, hmacKeys, lastBreaker] = await Promise.all([
    loadMessage(options.redis, options.keys, messageId, INLINE_BYTES),
    options.routes.get(hostname),
    options.secrets.keysFor(hostname),
    lastOrigin === undefined ? undefined : readBreaker(options.redis, options.keys, lastOrigin),
  ]);
  let message = head;
  if (head && head.raw.length < head.meta.size) {
    held.release = await budget.acquire(head.meta.size);
    const raw = await loadRawInPieces(options.redis, options.keys, messageId, head.meta.size, head.raw);
    message = raw && { raw, meta: head.meta };
  }
  if (!message) {
    // Only possible if the keys were removed by hand: there is nothing left to deliver.
    log().error({ event: 'delivery_message_missing' });
    throw new UnrecoverableError(`raw message ${messageId} is missing`);
  }
  const dead = (reason: string) => deadLetterDelivery(options.redis, options.keys, {
    deliveryId, messageId, hostname, reason, meta: message.meta, retentionMs: options.deadLetterRetentionMs, now: Date.now(),
  });
  if (!route) {
    await dead('route deleted before delivery');
    log().warn({ event: 'delivery_dead', reason: 'route deleted' });
    return;
  }
  const target = postTarget(route.url);
  const { origin } = target;
  origins.set(hostname, origin);
  const breaker = lastOrigin === origin && lastBreaker ? lastBreaker : await readBreaker(options.redis, options.keys, origin);
  // Needed only when the delivery does not go through at once: not worked out on the hot path.
  const policy = () => effectiveRetryPolicy(options.retryPolicy, route.retry_policy);
  if (isOpen(breaker, Date.now())) {
    if (breaker.openUntil - message.meta.receivedAt > policy().maxAgeMs) {
      await dead(`gave up after ${attempt - 1} attempts: ${origin} unavailable (circuit open past the retry window)`);
      return;
    }
    // Wait out the cool-down without using an attempt or holding a worker slot.
    await job.moveToDelayed(breaker.openUntil + Math.round(Math.random() * 1000), token);
    throw new DelayedError();
  }

  const started = Date.now();
  const { outcome, status, bytesSent } = await attemptDelivery({
    agent: options.agent, post: options.post, spoolDir: options.spoolDir, spamCheck: (raw) => spamCheckFields(raw, options.spamd, log()),
  }, {
    route, target, message, deliveryId, attempt,
    hmacKeys,
    ecdsaKey: route.sendgrid_signature ? await ecdsaKey() : undefined,
  });
  const durationMs = Date.now() - started;
  options.metrics?.attempt(outcome.kind, durationMs, bytesSent);
  // A delivered attempt's record would go with the delivery at once (finishDelivered): not written.
  if (outcome.kind !== 'delivered') await recordAttempt(options.redis, options.keys, deliveryId, {
    attempt, at: new Date(started).toISOString(), outcome: outcome.kind, status, durationMs, reason: outcome.reason,
  });
  options.logger.info({ ...where, event: 'delivery_attempt', target: target.url, outcome: outcome.kind, status, ms: durationMs, ...(outcome.kind !== 'delivered' ? { reason: outcome.reason } : {}) });
  const now = Date.now();
  const nextBreaker = outcome.kind === 'retry' ? afterFailure(breaker, options.breaker, now) : afterSuccess();
  if (nextBreaker !== breaker) await writeBreaker(options.redis, options.keys, origin, nextBreaker);

  if (outcome.kind === 'delivered') {
    // Only a delivery that ran before can have an attempt history or be counted as retrying; the
    // first run of a fresh job (started once, failed never: the hot path) skips those commands.
    // A job re-run after its worker died has started twice with no failure counted.
    await finishDelivered(options, messageId, deliveryId, hostname, attempt > 1 || job.attemptsStarted !== 1);
    options.metrics?.delivered(Date.now() - message.meta.receivedAt);
    return;
  }
  if (outcome.kind === 'permanent') return dead(outcome.reason);
  const decision = nextRetry(policy(), {
    receivedAt: message.meta.receivedAt, now,
    ...(outcome.retryAfterMs !== undefined ? { retryAfterMs: outcome.retryAfterMs } : {}),
  });
  if (!decision.retry) {
    await dead(`gave up after ${attempt} attempts: ${outcome.reason}`);
    log().warn({ event: 'delivery_dead', reason: 'retries exhausted' });
    return;
  }
  const multi = options.redis.multi();
  markRetrying(multi, options.keys, hostname, deliveryId);
  await execOrThrow(multi);
  throw new RetryLater(outcome.reason, decision.delayMs);
}

async function finishDelivered(
  options: DeliveryWorkerOptions, messageId: string, deliveryId: string, hostname: string, ranBefore: boolean,
): Promise<void> {
  const multi = options.redis.multi();
  // The attempt history is kept until the delivery ends (dead letters take theirs along).
  if (ranBefore) multi.del(attemptsKey(options.keys, deliveryId));
  countRoute(multi, options.keys, hostname, 'delivered');
  if (ranBefore) unmarkRetrying(multi, options.keys, hostname, deliveryId);
  releaseDelivery(multi, options.keys, messageId, deliveryId);
  await execOrThrow(multi);
}
