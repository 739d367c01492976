/**
 * What a delivery run writes to the message log (and so to the event webhook): its attempt, the
 * state it leads to with the attempt's facts (one script, one event), and its route's circuit
 * opening or closing.
 */
import type { Job } from 'bullmq';
import type { ChainableCommander } from 'ioredis';
import type { Redis } from '../store/redis-client.ts';
import type { Logger } from 'pino';
import type { BreakerState } from '../domain/circuit-breaker.ts';
import type { DeliveryJobData } from '../domain/message.ts';
import { logEvent, messageIdOf, type AttemptLog, type DeliveryEvent, type ParsedFacts } from '../domain/message-log.ts';
import { attemptEndedLogArgs, logAttempt, logAttemptEnded, logDeliveryState, logParsed, type AttemptEnded } from '../store/message-log.ts';
import { logStreamEvent } from '../store/message-log-events.ts';
import type { StoredMessage } from '../store/messages.ts';
import type { KeySpace } from '../store/keys.ts';
import type { MinuteFigures } from '../store/minute-figures.ts';

/** What these writes need of a run's context (delivery-run.ts RunContext). */
interface LogContext {
  readonly options: { readonly redis: Redis; readonly keys: KeySpace; readonly messageLog?: boolean | undefined; readonly figures?: MinuteFigures | undefined };
}

/**
 * Message-log writes: a pipeline sent without waiting for it (its scripts swallow their own
 * errors), so the log never delays a delivery; it goes out in the same turn as the run's own writes.
 */
export function sendToLog(ctx: LogContext, log: () => Logger, write: (pipe: ChainableCommander) => void): void {
  if (!ctx.options.messageLog) return;
  const { redis } = ctx.options;
  const failed = (err: unknown) => log().warn({ event: 'message_log_write_failed', err: String(err) });
  if (redis.options.enableAutoPipelining) {
    write(joiningAutoPipeline(redis, failed));
    return;
  }
  const pipe = redis.pipeline();
  write(pipe);
  pipe.exec().catch(failed);
}

/**
 * The connection itself, as a pipeline to write to: on an auto-pipelining connection each command
 * joins the batch of this event-loop turn, which the run's own next write (the release, the
 * retry's counters) also joins: one round trip and one fsync turn of Redis for both, where a
 * pipeline of its own is a write of its own. Each command's failure is reported, never thrown.
 */
function joiningAutoPipeline(redis: Redis, failed: (err: unknown) => void): ChainableCommander {
  return new Proxy(redis, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        (value.apply(target, args) as Promise<unknown>).catch(failed);
        return undefined;
      };
    },
  }) as unknown as ChainableCommander;
}

/** A circuit that opened (it was not open) or closed (it had opened before), for the event webhook. */
export function logBreakerChange(ctx: LogContext, log: () => Logger, before: BreakerState, after: BreakerState, where: { deliveryId: string; messageId: string; hostname: string; origin: string }): void {
  const now = Date.now();
  const opened = after.openUntil > now && !(before.openUntil > now);
  const closed = after.opened === 0 && before.opened > 0;
  if (!opened && !closed) return;
  sendToLog(ctx, log, (pipe) => logStreamEvent(pipe, ctx.options.keys, logEvent(opened ? 'route.circuit_open' : 'route.circuit_closed', now, where.messageId, {
    delivery_id: where.deliveryId, hostname: where.hostname, origin: where.origin, ...(opened ? { open_until: new Date(after.openUntil).toISOString() } : {}),
  })));
}

/** The log's account of a run: its attempt (if one was made) and the state the decision leads to. */
export function logRun(
  ctx: LogContext, log: () => Logger, job: Job<DeliveryJobData>, message: StoredMessage | undefined, attempt: AttemptLog | undefined, event: DeliveryEvent | undefined,
  number: number, reason?: string,
  /** What parsing found, at a delivery's first attempt (written with it). */
  parsed?: ParsedFacts,
): void {
  if (!message || (!attempt && !event)) return;
  const { keys } = ctx.options;
  if (attempt && attempt.outcome !== 'delivered') ctx.options.figures?.failed(attempt.at + attempt.durationMs, job.data.hostname);
  const deliveryId = job.id as string;
  const { hostname } = job.data;
  sendToLog(ctx, log, (pipe) => {
    if (attempt && event) logAttemptEnded(pipe, keys, attemptEnded(job, message, attempt, event, number, reason, parsed));
    else if (attempt) {
      logAttempt(pipe, keys, deliveryId, hostname, attempt);
      if (parsed) logParsed(pipe, keys, messageIdOf(deliveryId), parsed);
    }
    else if (event) logDeliveryState(pipe, keys, deliveryId, hostname, message.meta.receivedAt, event, Date.now(), undefined, eventDetails(undefined, event, number, reason));
  });
}

/**
 * A delivered attempt's log write as arguments for the release script (store/messages.ts), which
 * then logs it in the command that ends the delivery; undefined with the log off.
 */
export function deliveredLogArgs(
  ctx: LogContext, job: Job<DeliveryJobData>, message: StoredMessage, attempt: AttemptLog, number: number, parsed?: ParsedFacts,
): (string | number)[] | undefined {
  if (!ctx.options.messageLog) return undefined;
  return attemptEndedLogArgs(ctx.options.keys, attemptEnded(job, message, attempt, { kind: 'delivered' }, number, undefined, parsed));
}

function attemptEnded(
  job: Job<DeliveryJobData>, message: StoredMessage, attempt: AttemptLog, event: DeliveryEvent, number: number, reason: string | undefined, parsed: ParsedFacts | undefined,
): AttemptEnded {
  return {
    deliveryId: job.id as string, hostname: job.data.hostname, receivedAt: message.meta.receivedAt, attempt, event,
    details: eventDetails(attempt, event, number, reason), parsed,
  };
}

/** What the event webhook tells of the move (domain/event-webhook.ts): the attempt that led to it. */
function eventDetails(attempt: AttemptLog | undefined, event: DeliveryEvent | undefined, number: number, reason: string | undefined): Record<string, unknown> {
  const details: Record<string, unknown> = attempt
    ? { attempt: number, duration_ms: attempt.durationMs, ...(attempt.status !== undefined ? { status: attempt.status } : {}), ...(attempt.error ? { error: attempt.error } : {}) }
    : {};
  if (event?.kind === 'dead-lettered') Object.assign(details, { reason: reason ?? null, attempts: attempt ? number : number - 1 });
  return details;
}
