/**
 * One run of a delivery job: gather the facts (in one round trip where it can), let
 * decideDelivery (domain/delivery-decision.ts) decide, attempt the POST when it says so, decide
 * again on the outcome, and carry that out: release, retry later, wait, dead-letter or drop.
 */
import { DelayedError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { KeyObject } from 'node:crypto';
import { afterFailure, afterSuccess, type BreakerState } from '../domain/circuit-breaker.ts';
import { decideDelivery, fallbackRetryDelay, type DeliveryDecision, type DeliveryFacts, type UnexpectedError } from '../domain/delivery-decision.ts';
import { deliveryOf, type DeliveryJobData } from '../domain/message.ts';
import { ruleUrl } from '../domain/address-rules.ts';
import type { DeliveryOutcome } from '../domain/outcome.ts';
import { effectiveRetryPolicy, type ParseSetting } from '../domain/route.ts';
import { attemptsKey, recordAttempt } from '../store/attempts.ts';
import { readBreaker, writeBreaker } from '../store/breakers.ts';
import { deadLetterDelivery } from '../store/dead-letters.ts';
import { isPending, loadMessage, loadRawInPieces, releaseDelivery, type KeepRaw, type StoredMessage } from '../store/messages.ts';
import { endedCount, markRetrying } from '../store/route-stats.ts';
import { logDeliveryState } from '../store/message-log.ts';
import { deliveredLogArgs, logBreakerChange, logRun, sendToLog } from './run-log.ts';
import type { AttemptLog, ParsedFacts } from '../domain/message-log.ts';
import { attemptDelivery, type AttemptContext } from './attempt.ts';
import type { ByteBudget } from './memory-budget.ts';
import { postTarget, type PostTarget } from './post.ts';
import { spamCheckFields } from './spam-check.ts';
import type { Redis } from '../store/redis-client.ts';
import type { Agent } from 'undici';
import type { BreakerPolicy } from '../domain/circuit-breaker.ts';
import type { DeliveryMetrics } from '../domain/metrics.ts';
import type { RetryPolicy } from '../domain/retry-policy.ts';
import type { SpamdOptions } from '../parse/spamd.ts';
import type { RouteRegistry } from '../routes/registry.ts';
import type { SigningSecrets } from '../routes/signing-secrets.ts';
import type { KeySpace } from '../store/keys.ts';
import type { MinuteFigures } from '../store/minute-figures.ts';
import type { PostOptions } from './post.ts';

export interface DeliveryWorkerOptions {
  /** BullMQ connection (maxRetriesPerRequest: null); the worker duplicates it for blocking calls. */
  readonly connection: Redis;
  /** Connection for message, attempt and dead-letter reads and writes. */
  readonly redis: Redis;
  /** The shard whose queue this worker consumes: its messages, log, dead letters and counters. */
  readonly keys: KeySpace;
  /** Where the breakers are, shared by every shard's worker (store/shards.ts). Default: `keys`. */
  readonly sharedKeys?: KeySpace;
  /** The large-message budget, when several workers (one per shard) share one process's. */
  readonly budget?: ByteBudget;
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
  /** MXHOOK_MESSAGE_TTL, ms: a route's max_age ends before it (effectiveRetryPolicy). Absent: no limit. */
  readonly messageTtlMs?: number;
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
  /** Record states and attempts in the message log (store/message-log.ts). */
  readonly messageLog?: boolean;
  /** Download links of large attachments in JSON POSTs (encode-json.ts); absent: JSON POSTs with one fail. */
  readonly attachmentLink?: AttemptContext['attachmentLink'];
  /** Whether (and how long) a delivered message's raw bytes are kept for the log; asked at each finish. */
  readonly keepRaw?: () => KeepRaw | undefined;
  /** The overview's figures (store/minute-figures.ts): deliveries, their latency, failed attempts. */
  readonly figures?: MinuteFigures | undefined;
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

/** What one worker process shares between its runs. */
export interface RunContext {
  readonly options: DeliveryWorkerOptions;
  readonly ecdsaKey: () => Promise<KeyObject>;
  /** hostname -> origin of its URL at the last delivery, to read the breaker with everything else. */
  readonly origins: Map<string, string>;
  readonly budget: ByteBudget;
}

/** Budget bytes held by one running delivery; given back when its job function ends. */
export interface Held {
  release: () => void;
}

/**
 * Messages up to this size are read whole with everything else an attempt needs (one round trip);
 * the rest of bigger ones is read in pieces once the process's large-message budget has room.
 * Kept small: every job that starts holds this much at once (twenty large ones arriving together).
 */
const INLINE_BYTES = 256 * 1024;
/** An attempt running this long is logged as `delivering` (the live views show it). */
const DELIVERING_NOTICE_MS = 1_000;

type Settled<T> = { ok: true; value: T } | { ok: false; error: UnexpectedError };
const settle = <T>(promise: Promise<T>): Promise<Settled<T>> =>
  promise.then((value) => ({ ok: true as const, value }), (err: unknown) => ({ ok: false as const, error: unexpected(err) }));
const unexpected = (err: unknown): UnexpectedError => ({ kind: 'error', reason: err instanceof Error ? err.message : String(err) });

/**
 * The attempt number: attempts started, counted as started. BullMQ's attemptsStarted also counts
 * the runs that only waited for a breaker (moveToDelayed), so it is built from the attempts that
 * ended (attemptsMade) plus the runs whose worker died (stalledCounter) plus this one.
 */
export function attemptNumber(job: Pick<Job, 'attemptsMade' | 'stalledCounter'>): number {
  return job.attemptsMade + job.stalledCounter + 1;
}

export async function runDelivery(job: Job<DeliveryJobData>, token: string | undefined, ctx: RunContext, held: Held): Promise<void> {
  const { options } = ctx;
  const { redis, keys } = options;
  const breakerKeys = options.sharedKeys ?? keys;
  const { messageId, hostname } = job.data;
  const deliveryId = job.id as string;
  const crashes = job.stalledCounter;
  const attempt = attemptNumber(job);
  const where = { delivery: deliveryId, message: messageId, hostname, attempt };
  // A child logger costs more than the one line a delivered message writes: made only when needed.
  let child: Logger | undefined;
  const log = () => (child ??= options.logger.child(where));

  // Everything a run reads is asked for at once (one round trip on the auto-pipelined connection).
  // The breaker is read for the origin this route had last time, again below only if the URL moved.
  const lastOrigin = ctx.origins.get(hostname);
  const [pending, head, routeRead, hmacRead, lastBreaker] = await Promise.all([
    isPending(redis, keys, messageId, deliveryId),
    loadMessage(redis, keys, messageId, INLINE_BYTES),
    settle(options.routes.get(hostname)),
    settle(options.secrets.keysFor(hostname)),
    lastOrigin === undefined ? undefined : settle(readBreaker(redis, breakerKeys, lastOrigin)),
  ]);
  let message: StoredMessage | undefined = head;
  if (pending && head && head.raw.length < head.meta.size) {
    held.release = await ctx.budget.acquire(head.meta.size);
    const raw = await loadRawInPieces(redis, keys, messageId, head.meta.size, head.raw);
    message = raw && { raw, meta: head.meta };
  }

  let error: UnexpectedError | undefined = !routeRead.ok ? routeRead.error : !hmacRead.ok ? hmacRead.error : undefined;
  const route: ParseSetting | undefined = routeRead.ok ? routeRead.value : undefined;
  let policy = options.retryPolicy;
  let target: PostTarget | undefined;
  let breaker: BreakerState | undefined;
  if (route && !error && pending && message) {
    try {
      policy = effectiveRetryPolicy(options.retryPolicy, route.retry_policy, options.messageTtlMs);
      // An address rule's delivery goes to the rule's URL (a read of a moved origin costs one more breaker read).
      target = postTarget(ruleUrl(route.address_rules, deliveryOf(message.meta, deliveryId, hostname).rule, route.url));
      ctx.origins.set(hostname, target.origin);
      breaker = lastOrigin === target.origin && lastBreaker?.ok ? lastBreaker.value : await readBreaker(redis, breakerKeys, target.origin);
    } catch (err) {
      error = unexpected(err);
    }
  }
  const facts: DeliveryFacts = {
    now: Date.now(), pending, receivedAt: message?.meta.receivedAt, attempt, crashes, maxCrashes: options.maxWorkerCrashes, policy,
    routeExists: !routeRead.ok || route !== undefined,
    destination: target && breaker ? { origin: target.origin, openUntil: breaker.openUntil } : undefined,
    result: error,
  };
  const before = decideDelivery(facts);
  if (before.kind !== 'attempt') return carryOut(before, job, token, ctx, message, log);

  // decideDelivery answers `attempt` only with the route, its target, breaker and message present.
  // `delivering` is logged only for an attempt still running after a moment: a quick one (most)
  // goes from queued or retrying to its outcome in the one write after it.
  const startedNotice = setTimeout(() => sendToLog(ctx, log, (pipe) => logDeliveryState(pipe, keys, deliveryId, hostname, message!.meta.receivedAt, { kind: 'attempt-started' })), DELIVERING_NOTICE_MS);
  const started = Date.now();
  let response: string | undefined;
  let bytesSent = 0;
  let parsed: ParsedFacts | undefined;
  let result: DeliveryOutcome | UnexpectedError;
  let status: number | undefined;
  try {
    const done = await attemptDelivery({
      agent: options.agent, post: options.post, spoolDir: options.spoolDir, spamCheck: (raw) => spamCheckFields(raw, options.spamd, log()),
      ...(options.attachmentLink ? { attachmentLink: options.attachmentLink } : {}),
    }, {
      route: route!, target: target!, message: message!, deliveryId, attempt,
      hmacKeys: hmacRead.ok ? hmacRead.value : [],
      ecdsaKey: route!.sendgrid_signature ? await ctx.ecdsaKey() : undefined,
    });
    result = done.outcome;
    status = done.status;
    response = done.response;
    bytesSent = done.bytesSent;
    parsed = done.parsed;
    options.metrics?.attempt(done.outcome.kind, Date.now() - started, done.bytesSent);
  } catch (err) {
    // Something that is neither the app's answer nor a network error (the disk, a bug, the key).
    result = unexpected(err);
  } finally {
    clearTimeout(startedNotice);
  }
  const durationMs = Date.now() - started;
  options.logger.info({ ...where, event: 'delivery_attempt', target: target!.url, outcome: result.kind, status, ms: durationMs, ...(result.kind !== 'delivered' ? { reason: result.reason } : {}) });
  // A delivered attempt's record would go with the delivery at once: not written. Best effort (a
  // full Redis refuses it; the delivery itself must go on).
  if (result.kind !== 'delivered') {
    await recordAttempt(redis, keys, deliveryId, {
      attempt, at: new Date(started).toISOString(), outcome: result.kind, status, durationMs, reason: result.reason,
    }).catch((err: unknown) => log().warn({ event: 'attempt_record_failed', err: String(err) }));
  }
  if (result.kind !== 'error') {
    const next = result.kind === 'retry' ? afterFailure(breaker!, options.breaker, Date.now()) : afterSuccess();
    if (next !== breaker) {
      await writeBreaker(redis, breakerKeys, target!.origin, next).catch((err: unknown) => log().warn({ event: 'breaker_write_failed', err: String(err) }));
      logBreakerChange(ctx, log, breaker!, next, { deliveryId, messageId, hostname, origin: target!.origin });
    }
  }
  const after = decideDelivery({ ...facts, now: Date.now(), result });
  const attemptLog: AttemptLog = {
    at: started, durationMs, outcome: result.kind === 'error' ? 'retry' : result.kind, status, bytesSent,
    ...(result.kind !== 'delivered' && status === undefined ? { error: result.reason } : {}), ...(response ? { response } : {}),
  };
  // What parsing found is the same at every attempt: recorded once, with the first.
  return carryOut(after, job, token, ctx, message, log, attemptLog, attempt === 1 ? parsed : undefined);
}

async function carryOut(
  decision: DeliveryDecision, job: Job<DeliveryJobData>, token: string | undefined, ctx: RunContext, message: StoredMessage | undefined, log: () => Logger,
  attempt?: AttemptLog, parsed?: ParsedFacts,
): Promise<void> {
  const { options } = ctx;
  const { redis, keys } = options;
  const { messageId, hostname } = job.data;
  const deliveryId = job.id as string;
  // Only a delivery that ran before can have an attempt history or be counted as retrying; the
  // first run of a fresh job (the hot path) skips those commands.
  const ranBefore = job.attemptsStarted !== 1 || job.attemptsMade !== 0;
  switch (decision.kind) {
    case 'attempt':
      throw new Error('decideDelivery answered attempt after the attempt');
    case 'finish': {
      // The attempt's log write goes in the release's command (one write); without an attempt, on its own.
      const logArgs = message && attempt ? deliveredLogArgs(ctx, job, message, attempt, attemptNumber(job), parsed) : undefined;
      if (!logArgs) logRun(ctx, log, job, message, attempt, { kind: 'delivered' }, attemptNumber(job), undefined, parsed);
      // The attempt history goes with the delivery (dead letters take theirs along).
      // The route's counters go in the same script: one write, and never counted twice.
      const keep = options.keepRaw?.();
      const released = await releaseDelivery(redis, keys, messageId, deliveryId, ranBefore ? [attemptsKey(keys, deliveryId)] : [],
        keep && message ? { ...keep, size: message.meta.size } : keep,
        endedCount(keys, hostname, deliveryId, 'delivered', ranBefore), logArgs);
      if (released === 'already-finished') {
        log().warn({ event: 'delivery_finished_twice' });
        return;
      }
      if (message) {
        const now = Date.now();
        options.metrics?.delivered(now - message.meta.receivedAt);
        // Counted after the release said this run ended it: once per delivery.
        options.figures?.delivered(now, hostname, now - message.meta.receivedAt);
      }
      return;
    }
    case 'retry': {
      logRun(ctx, log, job, message, attempt, { kind: 'retry-scheduled', nextAttemptAt: Date.now() + decision.delayMs }, attemptNumber(job), undefined, parsed);
      const multi = redis.pipeline();
      markRetrying(multi as unknown as Parameters<typeof markRetrying>[0], keys, hostname, deliveryId);
      await multi.exec().catch(() => {});
      throw new RetryLater(decision.reason, decision.delayMs);
    }
    case 'wait':
      logRun(ctx, log, job, message, attempt, undefined, attemptNumber(job));
      // Wait out the cool-down without using an attempt or holding a worker slot.
      await job.moveToDelayed(decision.untilMs, token);
      throw new DelayedError();
    case 'dead-letter': {
      const meta = message!.meta;
      try {
        await deadLetterDelivery(redis, keys, {
          deliveryId, messageId, hostname, reason: decision.reason, meta, retentionMs: options.deadLetterRetentionMs, now: Date.now(),
        });
      } catch (err) {
        // Not written at all (a full Redis refuses the whole script): try again later, never lost.
        log().error({ event: 'dead_letter_failed', reason: decision.reason, err: String(err) });
        throw new RetryLater(`could not dead-letter (${String(err)}): ${decision.reason}`, fallbackRetryDelay(options.retryPolicy, meta.receivedAt, Date.now()));
      }
      logRun(ctx, log, job, message, attempt, { kind: 'dead-lettered' }, attemptNumber(job), decision.reason, parsed);
      log().warn({ event: 'delivery_dead', reason: decision.reason });
      return;
    }
    case 'drop': {
      // Still in the pending set when the message went missing: taken out, so nothing waits on it.
      await releaseDelivery(redis, keys, messageId, deliveryId, [attemptsKey(keys, deliveryId)]);
      if (decision.ended) log().info({ event: 'delivery_already_ended' });
      else log().warn({ event: 'delivery_dropped', reason: decision.reason });
    }
  }
}
