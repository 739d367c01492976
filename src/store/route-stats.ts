/** Per-route counters: received, delivered, dead, and the deliveries currently waiting to retry. */
import type { Redis } from 'ioredis';
import type { KeySpace } from './keys.ts';

export type RouteCounter = 'received' | 'delivered' | 'dead' | 'retrying';

export interface RouteStats {
  readonly received: number;
  readonly delivered: number;
  readonly retrying: number;
  readonly dead: number;
}

export const routeStatsKey = (keys: KeySpace, hostname: string) => `${keys.prefix}:route-stats:${hostname}`;

type Pipeline = ReturnType<Redis['multi']>;

export function countRoute(pipeline: Pipeline, keys: KeySpace, hostname: string, counter: RouteCounter, by = 1): void {
  pipeline.hincrby(routeStatsKey(keys, hostname), counter, by);
}

export async function readRouteStats(redis: Redis, keys: KeySpace, hostname: string): Promise<RouteStats> {
  const raw = await redis.hgetall(routeStatsKey(keys, hostname));
  const n = (k: string) => Math.max(0, Number(raw[k] ?? 0));
  return { received: n('received'), delivered: n('delivered'), retrying: n('retrying'), dead: n('dead') };
}
