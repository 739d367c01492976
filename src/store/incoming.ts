/**
 * Storing an accepted message: raw bytes, meta and the set of its pending deliveries, with the
 * received counters and an entry in the accept journal, in one Lua script of ours (all or nothing:
 * Redis refuses a script's first write when it is out of memory, and a script is never cut half
 * way). The journal entry says "jobs not yet confirmed"; the SMTP side clears it once the jobs are
 * in (queue/accept.ts), and a sweep removes what an accept left half done (queue/accept-sweep.ts).
 */
import { Cluster } from 'ioredis';
import type { Redis } from './redis-client.ts';
import { recipientsByHostname, ruleDeliveries, type IncomingMessage, type StoredMessageMeta } from '../domain/message.ts';
import type { KeySpace } from './keys.ts';
import { ARGS_FROM_LUA, LOG_ACCEPT_LUA } from './message-log-scripts.ts';
import { routeStatsKey } from './route-stats.ts';

/** The daily received counters are kept this long. */
const STATS_TTL_SECONDS = 400 * 86_400;

/**
 * KEYS: raw, meta, pending, journal, staging, received stats, route stats (one per delivery).
 * ARGV: raw bytes (for a staged message only the rest), meta JSON, TTL seconds, staged length
 * (-1: not staged), now ms, message id (journalled as journalMember), count (1: bump received
 * counters), stats TTL, n (deliveries), then the n delivery ids, the n hostnames (one per
 * delivery) and, optionally, the message log's accept arguments (logAccept): the record is
 * written in the same command, under pcall (a log write never fails the store).
 * A staged message is checked and renamed here, so nothing can remove the staged bytes between
 * the check and the rename (APPEND would recreate a missing key without the message's start).
 */
const STORE_SCRIPT = `${LOG_ACCEPT_LUA}${ARGS_FROM_LUA}
local ttl = tonumber(ARGV[3])
local staged = tonumber(ARGV[4])
local n = tonumber(ARGV[9])
if staged >= 0 then
  local length = redis.call('STRLEN', KEYS[5])
  if length ~= staged then return redis.error_reply('ESTAGED staged message has ' .. length .. ' bytes, expected ' .. staged) end
  if #ARGV[1] > 0 then redis.call('APPEND', KEYS[5], ARGV[1]) end
  redis.call('RENAME', KEYS[5], KEYS[1])
  redis.call('EXPIRE', KEYS[1], ttl)
else
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ttl)
end
redis.call('HSET', KEYS[2], 'meta', ARGV[2])
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('DEL', KEYS[3])
for i = 1, n do redis.call('SADD', KEYS[3], ARGV[9 + i]) end
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[6] .. ':' .. n)
if ARGV[7] == '1' then
  local counted = {}
  for i = 1, n do
    -- SendGrid's daily stats count messages per hostname (address rules may make several deliveries there);
    -- a route's own counters count deliveries, as its delivered and dead counters do.
    local hostname = ARGV[9 + n + i]
    if not counted[hostname] then redis.call('HINCRBY', KEYS[6], hostname, 1) end
    counted[hostname] = true
    redis.call('HINCRBY', KEYS[6 + i], 'received', 1)
  end
  redis.call('EXPIRE', KEYS[6], tonumber(ARGV[8]))
end
if #ARGV > 9 + 2 * n then pcall(logAccept, argsFrom(10 + 2 * n)) end
return n`;

export const STORE_INCOMING_COMMAND = 'mxhookStoreIncoming';
type StoreCommand = (numberOfKeys: number, ...args: (string | Buffer | number)[]) => Promise<number>;

export function utcDay(time: number): string {
  return new Date(time).toISOString().slice(0, 10);
}

export function metaOf(message: IncomingMessage): StoredMessageMeta {
  return {
    mailFrom: message.mailFrom,
    clientIp: message.clientIp,
    helo: message.helo,
    receivedAt: message.receivedAt,
    size: (message.staged ?? 0) + message.raw.length,
    recipients: recipientsByHostname(message.deliveries),
    ...ruleDeliveries(message.deliveries),
    ...(message.replayOf ? { replayOf: message.replayOf } : {}),
    ...(message.auth ? { auth: message.auth } : {}),
  };
}

/**
 * Defines the store script on `redis` (ioredis's defineCommand: run by its SHA, the text sent
 * once). Call it when the connection is set up, before traffic: on an auto-pipelining connection
 * a command defined while a pipeline is already being filled is missing from that pipeline, which
 * fails the message and can throw inside ioredis (a burst of first messages found it).
 */
export function prepareStoreIncoming(redis: Redis): void {
  if (!(STORE_INCOMING_COMMAND in redis)) redis.defineCommand(STORE_INCOMING_COMMAND, { lua: STORE_SCRIPT });
}

/**
 * Stores the message with `deliveryIds` (one per entry of message.deliveries) pending, and
 * journals it at `now`. A replay (message.replayOf) is not counted as received again. Rejects
 * when Redis refuses (down, out of memory, staged bytes missing or short); then nothing is written.
 * `logArgs`: the message log's record of it (store/message-log.ts acceptedLogArgs), written by the same command.
 */
export async function storeIncoming(
  redis: Redis, keys: KeySpace, message: IncomingMessage, deliveryIds: readonly string[], ttlMs: number, now: number,
  logArgs: readonly (string | number)[] = [],
): Promise<void> {
  prepareStoreIncoming(redis);
  const run = (redis as unknown as Record<string, StoreCommand>)[STORE_INCOMING_COMMAND];
  const id = message.id;
  const storeKeys = [
    keys.messageRaw(id), keys.messageMeta(id), keys.messagePending(id), keys.acceptJournal, keys.messageStaging(id),
    keys.receivedStats(utcDay(message.receivedAt)), ...message.deliveries.map((d) => routeStatsKey(keys, d.hostname)),
  ];
  await run.call(redis, storeKeys.length, ...storeKeys,
    message.raw, JSON.stringify(metaOf(message)), Math.ceil(ttlMs / 1000), message.staged ?? -1, now, id,
    message.replayOf ? 0 : 1, STATS_TTL_SECONDS, deliveryIds.length, ...deliveryIds, ...message.deliveries.map((d) => d.hostname), ...logArgs);
}

/**
 * The journal's member for a message: its id and how many deliveries it has, so a sweep knows
 * every job id (deliveryId) even once the message's own keys are gone.
 */
export function journalMember(messageId: string, deliveries: number): string {
  return `${messageId}:${deliveries}`;
}

export function parseJournalMember(member: string): { messageId: string; deliveries: number } {
  const at = member.lastIndexOf(':');
  return { messageId: member.slice(0, at), deliveries: Number(member.slice(at + 1)) || 0 };
}

/** Deletes a message's keys (raw, meta, pending, staging); its journal entry stays until its jobs are gone too. */
export async function removeIncoming(redis: Redis, keys: KeySpace, messageId: string): Promise<void> {
  await redis.del(keys.messageRaw(messageId), keys.messageMeta(messageId), keys.messagePending(messageId), keys.messageStaging(messageId));
}

/** Drops the journal entry (the jobs are in, or the message and its jobs are removed); 1 if it was there. */
export function forgetIncoming(redis: Redis, keys: KeySpace, messageId: string, deliveries: number): Promise<number> {
  return redis.zrem(keys.acceptJournal, journalMember(messageId, deliveries));
}

/** Journal members (journalMember) older than `before` (ms), oldest first. */
export function unconfirmedBefore(redis: Redis, keys: KeySpace, before: number, limit: number): Promise<string[]> {
  return redis.zrangebyscore(keys.acceptJournal, '-inf', before, 'LIMIT', 0, limit);
}

/** Whether the message's raw bytes are stored, and the delivery ids not yet ended. */
export async function incomingState(redis: Redis, keys: KeySpace, messageId: string): Promise<{ stored: boolean; pending: string[] }> {
  const [stored, pending] = await Promise.all([redis.exists(keys.messageRaw(messageId)), redis.smembers(keys.messagePending(messageId))]);
  return { stored: stored === 1, pending };
}

/**
 * Waits until `replicas` replicas hold the message and its jobs (Redis WAIT); resolves with how
 * many do. WAIT covers what its own connection wrote, so the message's pending set is given its
 * TTL again on it first (the same TTL, a few ms later: no key outlives the others by more): a
 * write after the jobs were added, which a replica can only have with all before it. On a
 * cluster both go to the message's shard's primary (the pipeline's slot).
 */
export async function awaitReplicas(redis: Redis, keys: KeySpace, messageId: string, ttlSeconds: number, replicas: number, timeoutMs: number): Promise<number> {
  const ask = () => redis.pipeline().expire(keys.messagePending(messageId), ttlSeconds).call('WAIT', replicas, timeoutMs).exec();
  let replies = await ask();
  // After a failover the slot moved: ioredis retries a pipeline's MOVED only when all its commands
  // are reads (WAIT is not), so the slot map is refreshed here and the question asked again.
  if (redis instanceof Cluster && replies?.some(([err]) => err && /^(MOVED|ASK) /.test(err.message))) {
    await new Promise<void>((resolve) => redis.refreshSlotsCache(() => resolve()));
    replies = await ask();
  }
  const failed = replies?.find(([err]) => err)?.[0];
  if (failed) throw failed;
  return Number(replies?.[1]?.[1] ?? 0);
}
