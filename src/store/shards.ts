/**
 * Shards: the key spaces mail is spread over (MXHOOK_SHARDS). Each shard is a whole key space of
 * its own (store/keys.ts) under one Redis Cluster hash tag: a message, its jobs (the shard's
 * BullMQ queue), its log record and its counters share one slot, so storing it stays one script.
 * What every process must find in one place (routes, secrets, the API key, console sessions,
 * breakers, event destinations, the overview's figures) lives in the shared key space.
 *
 * With one shard on a single Redis both are the configured prefix, as before shards existed.
 */
import { hashTagOf } from '../config/hash-tag.ts';
import { createKeySpace, type KeySpace } from './keys.ts';
import type { Redis } from './redis-client.ts';

export interface ShardSet {
  /** What every process finds in one place. */
  readonly shared: KeySpace;
  /** The shards new mail goes to, in order. */
  readonly current: readonly KeySpace[];
  /** The index in `current` of the shard a new message goes to, from its id. */
  shardOf(messageId: string): number;
}

/** Redis Cluster's slot count. */
const SLOTS = 16_384;

/** CRC16/XMODEM, the hash Redis Cluster takes a key's slot from. */
function crc16(text: string): number {
  let crc = 0;
  for (const byte of Buffer.from(text)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The slot of a key, hash tag rules included (a `{...}` with something inside decides). */
export function keySlot(key: string): number {
  return crc16(hashTagOf(key) ?? key) % SLOTS;
}

/**
 * The hash tag of shard `index` of `count`: the first `<index>.<n>` whose slot lies in the
 * index-th of `count` equal slot ranges. A cluster made by `redis-cli --cluster create` gives each
 * primary an equal run of slots, so the shards spread evenly over its primaries (the tags of
 * 0..15 hashed as they are would leave some primary with few).
 */
export function shardTag(index: number, count: number): string {
  const low = Math.floor((index * SLOTS) / count);
  const high = Math.floor(((index + 1) * SLOTS) / count);
  for (let n = 0; ; n++) {
    const tag = `${index}.${n}`;
    const slot = crc16(tag) % SLOTS;
    if (slot >= low && slot < high) return tag;
  }
}

/**
 * The key spaces for `prefix`. A prefix with its own hash tag keeps everything in that one slot,
 * as before (config/load.ts then allows one shard only). On a cluster
 * the shared space is `{prefix}`; on a single Redis it stays `prefix` whatever the shard count,
 * so routes and secrets stay where they are when shards are added.
 */
export function createShardSet(prefix: string, count: number, cluster: boolean): ShardSet {
  const shared = createKeySpace(hashTagOf(prefix) !== undefined || !cluster ? prefix : `{${prefix}}`);
  const current = count === 1 ? [shared]
    : Array.from({ length: count }, (_v, index) => createKeySpace(`${prefix}:{${shardTag(index, count)}}`));
  return {
    shared,
    current,
    shardOf: count === 1 ? () => 0 : (messageId) => fnv1a(messageId) % count,
  };
}

/** FNV-1a, 32 bits: spreads random ids evenly, and is the same in every process. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** Set of the prefixes of every shard mail was ever written to (old ones drain after a change of MXHOOK_SHARDS). */
const shardsKey = (shards: ShardSet) => `${shards.shared.prefix}:shards`;

/** Records this process's shards, so workers and the API of every process find them (also after a change of count). */
export async function recordShards(redis: Redis, shards: ShardSet): Promise<void> {
  await redis.sadd(shardsKey(shards), ...shards.current.map((k) => k.prefix));
}

/**
 * Every shard to read and drain: the current ones first, then any other ever recorded (left
 * from an earlier MXHOOK_SHARDS), and the shared space when it holds mail of its own (one shard
 * before). Sorted so every process lists them alike.
 */
export async function knownShards(redis: Redis, shards: ShardSet): Promise<KeySpace[]> {
  const recorded = await redis.smembers(shardsKey(shards));
  const current = new Set(shards.current.map((k) => k.prefix));
  const others = recorded.filter((p) => !current.has(p)).sort();
  return [...shards.current, ...others.map(createKeySpace)];
}

export interface ShardDirectory {
  readonly shards: ShardSet;
  /** Every shard to read and drain (current first); the recorded list is read again at most every few seconds. */
  all(): Promise<readonly KeySpace[]>;
  /** Every key space with a message-log stream of its own: the shared one and every shard, once each. */
  streams(): Promise<readonly KeySpace[]>;
  /**
   * The shard holding a message: asked with `has` in each (its own shard by id first). With one
   * shard, that one without asking (what is not there is not found by the caller's own read).
   */
  locate(messageId: string, has: (keys: KeySpace) => Promise<boolean>): Promise<KeySpace | undefined>;
}

export function createShardDirectory(redis: Redis, shards: ShardSet, refreshMs = 10_000): ShardDirectory {
  let cached: { at: number; list: Promise<KeySpace[]> } | undefined;
  const all = async (): Promise<readonly KeySpace[]> => {
    if (!cached || Date.now() - cached.at > refreshMs) {
      const list = knownShards(redis, shards);
      cached = { at: Date.now(), list };
      // A failed read is not kept: the next call asks again.
      list.catch(() => { if (cached?.list === list) cached = undefined; });
    }
    return cached.list;
  };
  return {
    shards,
    all,
    async streams() {
      const list = await all();
      return list.some((k) => k.prefix === shards.shared.prefix) ? list : [shards.shared, ...list];
    },
    async locate(messageId, has) {
      const list = await all();
      if (list.length === 1) return list[0];
      const own = shards.current[shards.shardOf(messageId)];
      const ordered = [own, ...list.filter((k) => k !== own)];
      const found = await Promise.all(ordered.map((k) => has(k)));
      return ordered[found.indexOf(true)];
    },
  };
}

/** Numeric fields added up over shards (counters each shard keeps its own share of). */
export function sumFields<T extends object>(parts: readonly T[]): T {
  const total: Record<string, number> = {};
  for (const part of parts) for (const [name, value] of Object.entries(part) as [string, number][]) total[name] = (total[name] ?? 0) + value;
  return total as T;
}

/** `read` of every shard, added up. */
export async function sumOverShards<T extends object>(directory: ShardDirectory, read: (keys: KeySpace) => Promise<T>): Promise<T> {
  return sumFields(await Promise.all((await directory.all()).map(read)));
}

/** A directory of one key space: a single Redis with one shard (tests, the CLI). */
export function singleShardDirectory(keys: KeySpace): ShardDirectory {
  const shards: ShardSet = { shared: keys, current: [keys], shardOf: () => 0 };
  return { shards, all: async () => [keys], streams: async () => [keys], locate: async () => keys };
}
