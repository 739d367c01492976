/**
 * Dead letters as the API, the CLI and the console act on them, written once: list, show, replay
 * and purge one or a whole route's, with the id and hostname checks in one place.
 */
import type { Redis } from '../store/redis-client.ts';
import { normalizeHostname } from '../domain/address.ts';
import { MxhookError } from '../domain/errors.ts';
import type { AcceptMessage } from '../domain/message.ts';
import { replayDeadLetter } from '../queue/replay.ts';
import { deadLetterIds, deleteDeadLetter, getDeadLetter, listDeadLetters, type DeadLetter } from '../store/dead-letters.ts';
import type { KeySpace } from '../store/keys.ts';
import { messageIdOf } from '../domain/message-log.ts';
import { singleShardDirectory, type ShardDirectory } from '../store/shards.ts';
import { markReplayed } from './message-admin.ts';

export interface Replayed {
  readonly dead_letter: string;
  readonly delivery_id: string;
}

export interface DeadLetterAdmin {
  /** Newest first; `hostname` narrows to one route (VALIDATION_FAILED when it is no hostname). */
  list(options?: { hostname?: string | undefined; offset?: number; limit?: number }): Promise<{ total: number; result: DeadLetter[] }>;
  /** BAD_DEAD_LETTER_ID when `id` is not one, NOT_FOUND when there is no such dead letter. */
  show(id: string): Promise<DeadLetter>;
  /** Delivers the kept message again (a new delivery id), then drops the dead letter. */
  replay(id: string): Promise<Replayed>;
  replayRoute(hostname: string): Promise<Replayed[]>;
  purge(id: string): Promise<void>;
  /** Resolves with how many were purged. */
  purgeRoute(hostname: string): Promise<number>;
}

export const MAX_LIST_LIMIT = 500;

/** A hostname given to narrow or act on dead letters: normalised, or VALIDATION_FAILED naming it. */
export function hostnameArgument(raw: string): string {
  const hostname = normalizeHostname(raw);
  if (!hostname) throw new MxhookError('VALIDATION_FAILED', { fieldErrors: [{ field: 'hostname', message: `invalid hostname: ${raw.slice(0, 260)}` }] });
  return hostname;
}

function checkRange(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new MxhookError('VALIDATION_FAILED', { fieldErrors: [{ field, message: `${field} must be a whole number from ${min} to ${max}` }] });
  }
  return value;
}

const notFound = (id: string) => new MxhookError('NOT_FOUND', { message: `no dead letter ${id}` });

/** `accept` is called only to replay (a CLI opens its queue on the first call). */
export function createDeadLetterAdmin(deps: { readonly redis: Redis; readonly keys: KeySpace; readonly accept: AcceptMessage; readonly shards?: ShardDirectory }): DeadLetterAdmin {
  const { redis, accept } = deps;
  const shards = deps.shards ?? singleShardDirectory(deps.keys);
  // The shard a dead letter is in: that of its message, asked by its record.
  const shardOf = (id: string) => shards.locate(messageIdOf(id), async (k) => (await redis.exists(k.deadLetter(id))) === 1);
  /** Replays dead letter `id` of shard `keys`. */
  const replayIn = async (keys: KeySpace, id: string): Promise<Replayed | undefined> => {
    const deliveryId = await replayDeadLetter(redis, keys, accept, id);
    if (!deliveryId) return undefined;
    // The log shows the dead-lettered delivery as replayed, pointing at the new one.
    await markReplayed(redis, keys, id, deliveryId, 'replay').catch(() => {});
    return { dead_letter: id, delivery_id: deliveryId };
  };
  return {
    async list(options = {}) {
      const hostname = options.hostname === undefined ? undefined : hostnameArgument(options.hostname);
      const offset = checkRange('offset', options.offset ?? 0, 0, Number.MAX_SAFE_INTEGER);
      const limit = checkRange('limit', options.limit ?? 50, 1, MAX_LIST_LIMIT);
      const all = await shards.all();
      if (all.length === 1) return listDeadLetters(redis, all[0]!, { hostname, offset, limit });
      // Each shard's newest offset+limit, merged newest first: the page is among them.
      const pages = await Promise.all(all.map((k) => listDeadLetters(redis, k, { hostname, offset: 0, limit: offset + limit })));
      const merged = pages.flatMap((p) => p.result).sort((a, b) => (a.diedAt === b.diedAt ? (a.deliveryId < b.deliveryId ? 1 : -1) : a.diedAt < b.diedAt ? 1 : -1));
      return { total: pages.reduce((n, p) => n + p.total, 0), result: merged.slice(offset, offset + limit) };
    },
    async show(id) {
      const keys = await shardOf(id);
      const letter = keys && await getDeadLetter(redis, keys, id);
      if (!letter) throw notFound(id);
      return letter;
    },
    async replay(id) {
      const keys = await shardOf(id);
      const done = keys && await replayIn(keys, id);
      if (!done) throw notFound(id);
      return done;
    },
    async replayRoute(hostname) {
      const route = hostnameArgument(hostname);
      const replayed: Replayed[] = [];
      for (const keys of await shards.all()) {
        for (const id of await deadLetterIds(redis, keys, route)) {
          const done = await replayIn(keys, id);
          if (done) replayed.push(done);
        }
      }
      return replayed;
    },
    async purge(id) {
      const keys = await shardOf(id);
      if (!keys || !(await deleteDeadLetter(redis, keys, id))) throw notFound(id);
    },
    async purgeRoute(hostname) {
      let purged = 0;
      const route = hostnameArgument(hostname);
      for (const keys of await shards.all()) {
        for (const id of await deadLetterIds(redis, keys, route)) if (await deleteDeadLetter(redis, keys, id)) purged++;
      }
      return purged;
    },
  };
}
