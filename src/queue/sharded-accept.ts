/** Accepting into shards: each message (with its jobs) goes to the shard of its id (store/shards.ts). */
import type { AcceptMessage } from '../domain/message.ts';
import type { KeySpace } from '../store/keys.ts';
import type { Redis } from '../store/redis-client.ts';
import type { ShardSet } from '../store/shards.ts';
import { createAcceptMessage, type AcceptOptions } from './accept.ts';
import type { ShardQueues } from './delivery-queue.ts';

/** One accept per current shard (`optionsFor` may give each its own, e.g. its refusals); queues made ready first. */
export async function createShardedAccept(queues: ShardQueues, redis: Redis, shards: ShardSet, optionsFor: (keys: KeySpace) => AcceptOptions): Promise<AcceptMessage> {
  for (const keys of shards.current) await queues.of(keys).waitUntilReady();
  const accepts = shards.current.map((keys) => createAcceptMessage(queues.of(keys), redis, keys, optionsFor(keys)));
  return (message) => accepts[shards.shardOf(message.id)]!(message);
}
