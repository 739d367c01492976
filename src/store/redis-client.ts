/**
 * The type of a Redis connection of ours: one Redis, or a Redis Cluster (MXHOOK_REDIS_CLUSTER).
 * ioredis's two clients share their command API; what differs (a Cluster routes each command by
 * its first key's slot, and a pipeline or script must keep to one slot) is kept to by the keys'
 * hash tags (store/shards.ts).
 */
import type { Cluster, Redis as SingleRedis } from 'ioredis';

export type Redis = SingleRedis | Cluster;
