/**
 * Event-webhook state in Redis (prefix P): `P:events:dests` hash id -> destination JSON (with its
 * signing secret, never answered); `P:events:cursor` the last log-stream id turned into batches;
 * `P:events:lock` the dispatcher's lock (one process cuts batches); per destination
 * `P:events:backlog:{id}` a sorted set of its unsent batches (`jobId:count` by enqueue time) and
 * `P:events:backlog-n:{id}` their event count; `P:events:counts` sent / failed / dropped totals.
 */
import type { Redis } from './redis-client.ts';
import type { EventDestination } from '../domain/event-webhook.ts';
import type { KeySpace } from './keys.ts';

export const eventKeys = (keys: KeySpace) => ({
  destinations: `${keys.prefix}:events:dests`,
  cursor: `${keys.prefix}:events:cursor`,
  lock: `${keys.prefix}:events:lock`,
  backlog: (id: string) => `${keys.prefix}:events:backlog:${id}`,
  backlogCount: (id: string) => `${keys.prefix}:events:backlog-n:${id}`,
  counts: `${keys.prefix}:events:counts`,
});

interface StoredDestination extends EventDestination {
  readonly secret: string;
}

const strip = ({ secret: _secret, ...destination }: StoredDestination): EventDestination => destination;

export async function listEventDestinations(redis: Redis, keys: KeySpace): Promise<EventDestination[]> {
  return (await listWithSecrets(redis, keys)).map(strip);
}

/** Every destination with its signing secret (for the dispatcher and the sender only). */
export async function listWithSecrets(redis: Redis, keys: KeySpace): Promise<StoredDestination[]> {
  const all = await redis.hgetall(eventKeys(keys).destinations);
  return Object.values(all).map((json) => JSON.parse(json) as StoredDestination).sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
}

export async function getEventDestination(redis: Redis, keys: KeySpace, id: string): Promise<(EventDestination & { secret: string }) | undefined> {
  const json = await redis.hget(eventKeys(keys).destinations, id);
  return json ? (JSON.parse(json) as StoredDestination) : undefined;
}

export async function putEventDestination(redis: Redis, keys: KeySpace, destination: EventDestination, secret: string): Promise<void> {
  await redis.hset(eventKeys(keys).destinations, destination.id, JSON.stringify({ ...destination, secret }));
}

/** Resolves false when there was none. Its unsent batches are forgotten (their jobs then send nothing). */
export async function removeEventDestination(redis: Redis, keys: KeySpace, id: string): Promise<boolean> {
  const k = eventKeys(keys);
  const [[, removed]] = (await redis.multi().hdel(k.destinations, id).del(k.backlog(id), k.backlogCount(id)).exec()) as [[unknown, number]];
  return removed === 1;
}

// KEYS: backlog, backlog count, counts. ARGV: member, score, events, cap. Answers the members dropped.
const ENQUEUE_SCRIPT = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local n = redis.call('INCRBY', KEYS[2], ARGV[3])
local dropped = {}
while n > tonumber(ARGV[4]) and redis.call('ZCARD', KEYS[1]) > 1 do
  local oldest = redis.call('ZPOPMIN', KEYS[1])[1]
  local count = tonumber(string.match(oldest, ':(%d+)$'))
  n = redis.call('DECRBY', KEYS[2], count)
  redis.call('HINCRBY', KEYS[3], 'dropped', count)
  table.insert(dropped, oldest)
end
return dropped`;

/** A batch's backlog entry: its job id and event count. */
export const backlogMember = (jobId: string, events: number) => `${jobId}:${events}`;

/**
 * Counts a new batch into its destination's backlog; past `cap` events the oldest batches are
 * dropped (counted). Resolves with the job ids dropped, for the caller to remove and report.
 */
export async function addToBacklog(redis: Redis, keys: KeySpace, destinationId: string, jobId: string, events: number, cap: number): Promise<string[]> {
  const k = eventKeys(keys);
  const dropped = (await redis.eval(ENQUEUE_SCRIPT, 3, k.backlog(destinationId), k.backlogCount(destinationId), k.counts,
    backlogMember(jobId, events), Date.now(), events, cap)) as string[];
  return dropped.map((member) => member.slice(0, member.lastIndexOf(':')));
}

/** Whether the batch is still to be sent (not dropped by the cap, its destination not deleted). */
export async function isInBacklog(redis: Redis, keys: KeySpace, destinationId: string, jobId: string, events: number): Promise<boolean> {
  return (await redis.zscore(eventKeys(keys).backlog(destinationId), backlogMember(jobId, events))) !== null;
}

// KEYS: backlog, backlog count, counts. ARGV: member, events, counter field.
const LEAVE_SCRIPT = `
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('DECRBY', KEYS[2], ARGV[2])
  redis.call('HINCRBY', KEYS[3], ARGV[3], ARGV[2])
end
return 1`;

/** A batch leaves the backlog: sent, or dropped after its retry window. */
export async function leaveBacklog(redis: Redis, keys: KeySpace, destinationId: string, jobId: string, events: number, as: 'sent' | 'dropped'): Promise<void> {
  const k = eventKeys(keys);
  await redis.eval(LEAVE_SCRIPT, 3, k.backlog(destinationId), k.backlogCount(destinationId), k.counts, backlogMember(jobId, events), events, as);
}

/** Takes a batch that never made it into the queue out of the backlog again, without counting it. */
export async function forgetBacklogEntry(redis: Redis, keys: KeySpace, destinationId: string, jobId: string, events: number): Promise<void> {
  const k = eventKeys(keys);
  await redis.eval(`if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('DECRBY', KEYS[2], ARGV[2]) end return 1`, 2,
    k.backlog(destinationId), k.backlogCount(destinationId), backlogMember(jobId, events), events);
}

export async function countFailedPost(redis: Redis, keys: KeySpace): Promise<void> {
  await redis.hincrby(eventKeys(keys).counts, 'failed', 1);
}

/** Events sent and dropped, and batch POSTs that failed, since the start (for /metrics). */
export async function readEventCounts(redis: Redis, keys: KeySpace): Promise<{ sent: number; failed: number; dropped: number }> {
  const counts = await redis.hgetall(eventKeys(keys).counts);
  return { sent: Number(counts.sent ?? 0), failed: Number(counts.failed ?? 0), dropped: Number(counts.dropped ?? 0) };
}

/** Events of one destination waiting to be sent. */
export async function backlogSize(redis: Redis, keys: KeySpace, destinationId: string): Promise<number> {
  return Number((await redis.get(eventKeys(keys).backlogCount(destinationId))) ?? 0);
}
