/** Per-route counters: received, delivered, dead, and the deliveries currently waiting to retry. */
import type { Redis } from './redis-client.ts';
import type { KeySpace } from './keys.ts';
import type { EndedCount } from './messages.ts';

export interface RouteStats {
  readonly received: number;
  readonly delivered: number;
  readonly retrying: number;
  readonly dead: number;
}

export const routeStatsKey = (keys: KeySpace, hostname: string) => `${keys.prefix}:route-stats:${hostname}`;

type Pipeline = ReturnType<Redis['multi']>;

/**
 * `retrying` counts deliveries, not attempts, and must survive a worker dying between an attempt
 * and its bookkeeping (the job then runs again with the same attempt number). So a delivery is
 * counted once, through a marker key set here and cleared by the script that ends the delivery
 * (the release, or the dead letter), in the same step as its counter.
 */
export const retryingMarker = (keys: KeySpace, deliveryId: string) => `${keys.prefix}:delivery:${deliveryId}:retrying`;
/**
 * Far longer than any sane retry schedule (retry_max_age has no upper bound): a marker that expired
 * first would leave the gauge one too high. Only a delivery removed by hand leaves one behind.
 */
const MARKER_TTL_SECONDS = 400 * 86_400;
const MARK_RETRYING = `
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then redis.call('HINCRBY', KEYS[1], 'retrying', 1) end
return 1`;

/** The delivery waits for a retry: counted in `retrying` unless it already is. */
export function markRetrying(pipeline: Pipeline, keys: KeySpace, hostname: string, deliveryId: string): void {
  pipeline.eval(MARK_RETRYING, 2, routeStatsKey(keys, hostname), retryingMarker(keys, deliveryId), MARKER_TTL_SECONDS);
}

export async function readRouteStats(redis: Redis, keys: KeySpace, hostname: string): Promise<RouteStats> {
  const raw = await redis.hgetall(routeStatsKey(keys, hostname));
  const n = (k: string) => Math.max(0, Number(raw[k] ?? 0));
  return { received: n('received'), delivered: n('delivered'), retrying: n('retrying'), dead: n('dead') };
}

/** The counters of an ended delivery as releaseDelivery writes them with the release. */
export function endedCount(keys: KeySpace, hostname: string, deliveryId: string, counter: 'delivered' | 'dead', mayBeRetrying = true): EndedCount {
  return { statsKey: routeStatsKey(keys, hostname), counter, ...(mayBeRetrying ? { retryingMarker: retryingMarker(keys, deliveryId) } : {}) };
}
