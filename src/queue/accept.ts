/**
 * Accepting a message: (1) one Lua script of ours stores it, journalled as "jobs not confirmed"
 * (store/incoming.ts); (2) BullMQ's own job insertion adds its deliveries under deterministic job
 * ids; (3) only then is the accept done (the SMTP reply is 250) and the journal entry cleared.
 * When (2) fails the message and any of its jobs are removed before the caller answers 451; what
 * cannot be removed then (Redis gone) is left to the sweep (accept-sweep.ts), which removes every
 * journalled message whose jobs are not all there.
 */
import type { Queue } from 'bullmq';
import type { Redis } from '../store/redis-client.ts';
import { MxhookError } from '../domain/errors.ts';
import { recipientsByHostname, type AcceptMessage, type DeliveryJobData, type IncomingMessage } from '../domain/message.ts';
import { awaitReplicas, forgetIncoming, journalMember, prepareStoreIncoming, removeIncoming, storeIncoming } from '../store/incoming.ts';
import type { KeySpace } from '../store/keys.ts';
import { acceptedLogArgs, confirmLogged, forgetLogged, sendAccepted, type AcceptLogIncludes, type MessageLogOptions } from '../store/message-log.ts';
import type { MinuteFigures } from '../store/minute-figures.ts';
import { authSummary, headerSummary, SUMMARY_HEAD_BYTES, type MessageRecord } from '../domain/message-log.ts';
import { DELIVERY_JOB_NAME, DELIVERY_JOB_OPTIONS, deliveryId } from './delivery-queue.ts';

/**
 * The sweep leaves journal entries younger than this alone: an accept in progress is never taken
 * for a half-done one. An accept that took longer than half of it checks its entry is still there
 * before it reports success (the sweep may have removed it).
 */
export const ACCEPT_SWEEP_GRACE_MS = 60_000;

/**
 * Messages this process answered "not accepted" but could not remove (Redis was unreachable):
 * message id -> its delivery ids. The sweep removes them first, jobs or not.
 */
export type RefusedAccepts = Map<string, readonly string[]>;

export interface AcceptOptions {
  /** MXHOOK_MESSAGE_TTL, ms. */
  readonly messageTtlMs: number;
  /** Where refusals that could not be cleaned up wait for the sweep; without it they wait for the journal sweep. */
  readonly refused?: RefusedAccepts;
  /** For tests: the clock. */
  readonly now?: () => number;
  /** The message log (store/message-log.ts); absent: nothing is recorded. */
  readonly messageLog?: MessageLogOptions;
  /** The overview's figures (store/minute-figures.ts): mail in, counted once its jobs exist. */
  readonly figures?: MinuteFigures;
  /**
   * Replicas that must hold the message and its jobs before the accept is done
   * (MXHOOK_REDIS_WAIT_REPLICAS), asked on `redis` (a connection of its own: WAIT holds its
   * connection until answered); fewer in `timeoutMs`: the accept is undone and refused.
   */
  readonly replicas?: { readonly count: number; readonly timeoutMs: number; readonly redis: Redis };
}

/** How long a shortfall of replicas refuses a shard's accepts without asking again. */
const REPLICAS_SHORT_HOLD_MS = 1000;

/** Redis's answer when it is at maxmemory with noeviction. */
const isOutOfMemory = (err: unknown) => /\bOOM\b/.test(String((err as Error)?.message ?? err));
const failure = (err: unknown) => new MxhookError(isOutOfMemory(err) ? 'STORE_FULL' : 'STORE_UNAVAILABLE', { cause: err });

/**
 * `redis`: a plain connection of ours (auto-pipelined is best: the journal clear shares a write).
 * Rejects with STORE_FULL (Redis out of memory) or STORE_UNAVAILABLE; then nothing was accepted.
 */
export function createAcceptMessage(queue: Queue<DeliveryJobData>, redis: Redis, keys: KeySpace, options: AcceptOptions): AcceptMessage {
  prepareStoreIncoming(redis);
  const now = options.now ?? Date.now;
  const logWrites = loggedWrites();
  // After a shortfall of replicas, the next second's accepts are refused at once: each WAIT holds
  // its connection up to the timeout, so waiting for every one would queue them behind each other.
  let replicasShortUntil = 0;
  return async (message: IncomingMessage) => {
    if (options.replicas && now() < replicasShortUntil) {
      throw new MxhookError('STORE_UNAVAILABLE', { message: `message ${message.id} not taken: Redis replicas were short a moment ago`, cause: new Error('not replicated') });
    }
    const ids = message.deliveries.map((_d, index) => deliveryId(message.id, index));
    const storedAt = now();
    // Logged before the jobs exist, so a worker's first state write finds the record: by the
    // store's own command (store/incoming.ts), so the log costs the accept no command of its
    // own. A staged message is logged after its store, which holds the first bytes its header
    // summary is read from.
    const logNow = options.messageLog !== undefined && message.staged === undefined;
    const record = logNow ? acceptedRecord(message, message.raw) : undefined;
    const logArgs = record ? acceptedLogArgs(keys, options.messageLog!, record, message.deliveries, logWrites(message, storedAt)) : [];
    try {
      await storeIncoming(redis, keys, message, ids, options.messageTtlMs, storedAt, logArgs);
    } catch (err) {
      // Not stored, so not logged either (one script: all or nothing), unless the reply was lost
      // after Redis ran it: then the sweep removes the message, and this its record.
      if (logNow) await forgetLogged(redis, keys, message.id).catch(() => {});
      throw failure(err);
    }
    const logged = record ?? (options.messageLog ? await logStagedMessage(redis, keys, options.messageLog, message, logWrites(message, storedAt)) : undefined);
    try {
      await enqueueDeliveries(queue, message, ids);
    } catch (err) {
      await undoAccept(queue, redis, keys, message.id, ids, options.refused);
      throw failure(err);
    }
    if (options.replicas) {
      // A primary lost before its replica had these would take a 250'd message with it.
      const { count, timeoutMs } = options.replicas;
      const held = await awaitReplicas(options.replicas.redis, keys, message.id, Math.ceil(options.messageTtlMs / 1000), count, timeoutMs)
        .catch((err: unknown) => err as Error);
      if (typeof held !== 'number' || held < count) {
        replicasShortUntil = now() + REPLICAS_SHORT_HOLD_MS;
        await undoAccept(queue, redis, keys, message.id, ids, options.refused);
        const cause = typeof held === 'number' ? new Error(`not replicated: ${held} of ${count} replicas answered within ${timeoutMs} ms`) : held;
        throw new MxhookError('STORE_UNAVAILABLE', { message: `message ${message.id} not replicated`, cause });
      }
    }
    // Its jobs exist: the log may tell of it, and it counts as mail in (a replay or redeliver does not).
    const tell = options.messageLog !== undefined && logged !== undefined;
    if (now() - storedAt > ACCEPT_SWEEP_GRACE_MS / 2) {
      // Slow enough that a sweep may have taken it for half done and removed it: ask, and tell of
      // it only once the answer is yes.
      const stillJournalled = await forgetIncoming(redis, keys, message.id, ids.length).catch(() => -1);
      if (stillJournalled !== 1) {
        await undoAccept(queue, redis, keys, message.id, ids, options.refused);
        throw new MxhookError('STORE_UNAVAILABLE', { message: `accept of ${message.id} took too long`, cause: new Error('journal entry gone') });
      }
      if (tell) confirmLogged(redis, keys, message.id, options.messageLog!.maxEvents).catch(() => {});
    } else {
      // Not awaited: a lost clear only leaves an entry the sweep drops (its jobs all exist). With
      // the log, one command clears the entry and publishes the accepted event.
      const journal = { key: keys.acceptJournal, member: journalMember(message.id, ids.length) };
      (tell ? confirmLogged(redis, keys, message.id, options.messageLog!.maxEvents, journal) : forgetIncoming(redis, keys, message.id, ids.length)).catch(() => {});
    }
    if (!message.replayOf) options.figures?.received(message.receivedAt);
  };
}

/** The log's record of an accepted message, its header summary read from `head`. */
function acceptedRecord(message: IncomingMessage, head: Buffer): MessageRecord {
  return {
    id: message.id, receivedAt: message.receivedAt, clientIp: message.clientIp, helo: message.helo, mailFrom: message.mailFrom,
    recipients: recipientsByHostname(message.deliveries),
    size: (message.staged ?? 0) + message.raw.length, ...headerSummary(head.subarray(0, SUMMARY_HEAD_BYTES)), auth: authSummary(message.auth),
    ...(message.replayOf ? { replayOf: message.replayOf } : {}),
  };
}

/** A staged (large) message's log record: its first bytes are read back for its header summary (one more read). */
async function logStagedMessage(redis: Redis, keys: KeySpace, log: MessageLogOptions, message: IncomingMessage, include: AcceptLogIncludes): Promise<MessageRecord> {
  const head = await redis.getrangeBuffer(keys.messageRaw(message.id), 0, SUMMARY_HEAD_BYTES - 1).catch(() => Buffer.alloc(0));
  const record = acceptedRecord(message, head);
  sendAccepted(redis, keys, log, record, message.deliveries, include).catch(() => {});
  return record;
}

/** The record cap is checked at every CAP_CHECK_EVERY-th accept of a process (it may overshoot by about as many meanwhile). */
const CAP_CHECK_EVERY = 8;
/** A hostname is added to the log's set of them at most this often per process. */
const HOSTNAMES_EVERY_MS = 10 * 60_000;

/**
 * What each accept's log write may leave out, per process: two commands most messages do not
 * need (a cap check, and adding hostnames the set has), kept on a schedule that still catches up.
 */
function loggedWrites(): (message: IncomingMessage, now: number) => { capCheck: boolean; hostnames: boolean } {
  let accepts = 0;
  const added = new Map<string, number>();
  return (message, now) => {
    const stale = message.deliveries.filter((d) => (added.get(d.hostname) ?? -Infinity) < now - HOSTNAMES_EVERY_MS);
    // Bounded: the hostnames mail is accepted for are the routes'.
    if (added.size > 10_000) added.clear();
    for (const d of stale) added.set(d.hostname, now);
    return { capCheck: accepts++ % CAP_CHECK_EVERY === 0, hostnames: stale.length > 0 };
  };
}

/** BullMQ's documented insertion; an id already in the queue is not added again. */
async function enqueueDeliveries(queue: Queue<DeliveryJobData>, message: IncomingMessage, ids: readonly string[]): Promise<void> {
  const jobs = message.deliveries.map((delivery, index) => ({
    name: DELIVERY_JOB_NAME,
    data: { messageId: message.id, hostname: delivery.hostname },
    opts: { ...DELIVERY_JOB_OPTIONS, jobId: ids[index] },
  }));
  if (jobs.length === 1) await queue.add(jobs[0].name, jobs[0].data, jobs[0].opts);
  else await queue.addBulk(jobs);
}

/**
 * The message first (a job that runs after finds nothing to deliver), then its jobs, then its
 * journal entry: an undo cut short leaves the entry, and a sweep finishes it. What fails is also
 * remembered in `refused`, so this process's sweep removes it even if its keys could not be deleted.
 */
export async function undoAccept(
  queue: Queue<DeliveryJobData>, redis: Redis, keys: KeySpace, messageId: string, ids: readonly string[], refused?: RefusedAccepts,
): Promise<boolean> {
  try {
    await removeIncoming(redis, keys, messageId);
    // 0 (not removed) only for a job a worker holds: it finds no message and ends.
    await Promise.all(ids.map((id) => queue.remove(id)));
    await forgetIncoming(redis, keys, messageId, ids.length);
    // Its log record too (written before the jobs), so the log shows no message the sender was refused.
    await forgetLogged(redis, keys, messageId).catch(() => {});
    refused?.delete(messageId);
    return true;
  } catch {
    refused?.set(messageId, ids);
    return false;
  }
}
