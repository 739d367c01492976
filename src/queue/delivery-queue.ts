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
 * either all of it exists or none does (a MULTI does not roll back: for a staged message that
 * rests on checkStaged before and undoAccept after a failed RENAME). Rejects with
 * STORE_UNAVAILABLE when Redis cannot take it.
 */
export function createAcceptMessage(queue: Queue<DeliveryJobData>, keys: KeySpace, plain?: Redis): AcceptMessage {
  let transactions: Promise<() => ReturnType<Redis['multi']>> | undefined;
  return async (message: IncomingMessage) => {
    const meta: StoredMessageMeta = {
      mailFrom: message.mailFrom,
      clientIp: message.clientIp,
      helo: message.helo,
      receivedAt: message.receivedAt,
      size: (message.staged ?? 0) + message.raw.length,
      recipients: Object.fromEntries(message.deliveries.map((d) => [d.hostname, d.recipients])),
      ...(message.replayOf ? { replayOf: message.replayOf } : {}),
      ...(message.auth ? { auth: message.auth } : {}),
    };
    try {
      if (message.staged !== undefined) await checkStaged(queue, keys, message.id, message.staged);
      const multi = (await (transactions ??= transactionMaker(queue, plain)))();
      if (message.staged === undefined) multi.set(keys.messageRaw(message.id), message.raw);
      else {
        // A large message arrived through its staging key (store/message-stage.ts): the rest is
        // appended and the key becomes the raw message in this same MULTI, without its expiry.
        const staging = keys.messageStaging(message.id);
        if (message.raw.length) multi.append(staging, message.raw);
        multi.rename(staging, keys.messageRaw(message.id));
        multi.persist(keys.messageRaw(message.id));
      }
      multi.hset(keys.messageMeta(message.id), { meta: JSON.stringify(meta) });
      // Interim, until the accept side's rewrite lands: the pending set of the delivery ids.
      multi.sadd(keys.messagePending(message.id), ...message.deliveries.map((_d, index) => deliveryId(message.id, index)));
      const statsKey = keys.receivedStats(utcDay(message.receivedAt));
      message.deliveries.forEach((delivery, index) => {
        if (!message.replayOf) {
          multi.hincrby(statsKey, delivery.hostname, 1);
          countRoute(multi, keys, delivery.hostname, 'received');
        }
        const data: DeliveryJobData = { messageId: message.id, hostname: delivery.hostname };
        const id = deliveryId(message.id, index);
        const job = new Job(queue, DELIVERY_JOB_NAME, data, {
          jobId: id, attempts: ATTEMPTS_BACKSTOP, backoff: { type: BACKOFF_TYPE }, removeOnComplete: true, removeOnFail: { age: 30 * 86_400 },
        }, id);
        // Queued on the MULTI synchronously; its result arrives with exec().
        job.addJob(multi as unknown as Parameters<typeof job.addJob>[0]).catch(() => {});
      });
      multi.expire(statsKey, 400 * 86_400);
      try {
        await execOrThrow(multi);
      } catch (err) {
        // Commands of a MULTI run even when one fails: if the staged bytes were gone (RENAME
        // failed), undo the jobs and meta so no delivery waits on a message that does not exist.
        if (message.staged !== undefined) await undoAccept(queue, keys, message).catch(() => {});
        throw err;
      }
    } catch (err) {
      throw new MxhookError('STORE_UNAVAILABLE', { cause: err });
    }
  };
}

/**
 * APPEND recreates a missing key, so staged bytes deleted mid-DATA would leave a message without
 * its beginning: its length must be exactly what was staged before it is committed.
 */
async function checkStaged(queue: Queue<DeliveryJobData>, keys: KeySpace, messageId: string, staged: number): Promise<void> {
  const client = (await queue.getBackend().client) as unknown as Redis;
  const length = await client.strlen(keys.messageStaging(messageId));
  if (length !== staged) throw new Error(`staged message ${messageId} has ${length} bytes, expected ${staged}`);
}

async function undoAccept(queue: Queue<DeliveryJobData>, keys: KeySpace, message: IncomingMessage): Promise<void> {
  const client = (await queue.getBackend().client) as unknown as Redis;
  if (await client.exists(keys.messageRaw(message.id))) return; // the message is whole: nothing to undo
  await Promise.allSettled(message.deliveries.map((_d, index) => queue.remove(deliveryId(message.id, index))));
  await client.del(keys.messageMeta(message.id), keys.messagePending(message.id));
}

type ScriptSet = Record<string, { readonly lua: string; readonly numberOfKeys: number | null }>;

/**
 * Makes the MULTI of an accepted message. ioredis copies every Lua command a client defines onto
 * each new transaction, and BullMQ's client defines ~60 (about 0.1 ms per message, the largest
 * single cost of the SMTP process in a profile). A plain connection taught only the job-insert
 * script builds the same MULTI without that. BullMQ's client is used when no plain connection is
 * given, or when this BullMQ version does not keep that script where expected.
 */
async function transactionMaker(queue: Queue<DeliveryJobData>, plain: Redis | undefined): Promise<() => ReturnType<Redis['multi']>> {
  const bull = (await queue.getBackend().client) as unknown as Redis & { scriptsSet?: ScriptSet };
  const names = Object.keys(bull.scriptsSet ?? {}).filter((name) => name.startsWith('addStandardJob:'));
  if (!plain || names.length !== 1) return () => bull.multi();
  const [name] = names;
  const script = bull.scriptsSet![name];
  if (!(name in plain)) plain.defineCommand(name, { lua: script.lua, numberOfKeys: script.numberOfKeys ?? undefined });
  return () => {
    const multi = plain.multi() as ReturnType<Redis['multi']> & Record<string, unknown>;
    // What BullMQ's job insert calls on a transaction (its own client adds the same method).
    multi.runCommand = (command: string, args: unknown[]) => {
      (multi[command] as (a: unknown[]) => unknown)(args);
      return multi;
    };
    return multi;
  };
}
