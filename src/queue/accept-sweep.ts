/**
 * The accept journal's sweep (run by the SMTP role): a journal entry older than the grace period
 * belongs to an accept that never finished. If the message is stored and every delivery still
 * pending has its job, the jobs were all added (the process died after enqueueing, maybe before its
 * 250 went out): the entry is dropped and the message delivered. Otherwise (a job missing, or the
 * message already removed by an undo cut short) the accept cannot have answered 250: the message,
 * its keys and any of its jobs are removed. One SMTP process sweeps at a time (a lock key).
 */
import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from '../store/redis-client.ts';
import type { Logger } from 'pino';
import type { DeliveryJobData } from '../domain/message.ts';
import { forgetIncoming, incomingState, parseJournalMember, unconfirmedBefore } from '../store/incoming.ts';
import type { KeySpace } from '../store/keys.ts';
import { ACCEPT_SWEEP_GRACE_MS, undoAccept, type RefusedAccepts } from './accept.ts';
import { deliveryId } from './delivery-queue.ts';

export interface AcceptSweepOptions {
  readonly queue: Queue<DeliveryJobData>;
  readonly redis: Redis;
  readonly keys: KeySpace;
  readonly logger: Logger;
  /** This process's refusals not yet cleaned up (accept.ts). */
  readonly refused: RefusedAccepts;
  /** Default ACCEPT_SWEEP_GRACE_MS. */
  readonly graceMs?: number;
  /** For tests: the clock. */
  readonly now?: () => number;
}

export interface SweepResult {
  /** Entries dropped: all their jobs were there. */
  readonly confirmed: readonly string[];
  /** Messages removed with their jobs: their accept never completed. */
  readonly removed: readonly string[];
  /** False when another process held the sweep lock (the refusals of this one were still cleaned). */
  readonly swept: boolean;
}

/** Entries looked at per sweep; the rest wait for the next one. */
const BATCH = 200;
/** Released by the sweeper at the end; expires by itself if that process dies mid-sweep. */
const LOCK_MS = 60_000;
const RELEASE_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export async function sweepAcceptJournal(options: AcceptSweepOptions): Promise<SweepResult> {
  const { queue, redis, keys, logger, refused } = options;
  const now = options.now ?? Date.now;
  const removed: string[] = [];
  const confirmed: string[] = [];
  for (const [messageId, ids] of [...refused]) {
    if (await undoAccept(queue, redis, keys, messageId, ids, refused)) removed.push(messageId);
  }
  const token = randomBytes(8).toString('hex');
  if ((await redis.set(keys.acceptSweepLock, token, 'PX', LOCK_MS, 'NX')) !== 'OK') return { confirmed, removed, swept: false };
  try {
    for (const member of await unconfirmedBefore(redis, keys, now() - (options.graceMs ?? ACCEPT_SWEEP_GRACE_MS), BATCH)) {
      const { messageId, deliveries } = parseJournalMember(member);
      // A delivery leaves the pending set only once it ended, so its job existed: only the ids
      // still pending need a job. (A message whose deliveries all ended has no keys left, and no
      // jobs either: removing "it" below changes nothing.)
      const { stored, pending } = await incomingState(redis, keys, messageId);
      const jobs = await Promise.all(pending.map((id) => queue.getJob(id)));
      if (stored && jobs.every(Boolean)) {
        await forgetIncoming(redis, keys, messageId, deliveries);
        confirmed.push(messageId);
        logger.warn({ event: 'accept_journal_confirmed', message: messageId, deliveries });
        continue;
      }
      const ids = Array.from({ length: deliveries }, (_d, index) => deliveryId(messageId, index));
      if (await undoAccept(queue, redis, keys, messageId, ids)) {
        removed.push(messageId);
        logger.warn({ event: 'accept_journal_removed', message: messageId, stored, jobsFound: jobs.filter(Boolean).length, deliveries });
      }
    }
  } finally {
    await redis.eval(RELEASE_LOCK, 1, keys.acceptSweepLock, token).catch(() => {});
  }
  return { confirmed, removed, swept: true };
}

/** Sweeps now and every `intervalMs` until stopped; a failed sweep (Redis down) is logged and tried again next time. */
export function startAcceptSweep(options: AcceptSweepOptions, intervalMs: number): () => Promise<void> {
  let running: Promise<unknown> | undefined;
  const run = () => {
    // One sweep at a time: a slow one is not overtaken by the next.
    running ??= sweepAcceptJournal(options)
      .catch((err: unknown) => options.logger.warn({ event: 'accept_sweep_failed', err: String(err) }))
      .finally(() => (running = undefined));
  };
  run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
