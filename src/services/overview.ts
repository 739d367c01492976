/** The overview (mail per minute, latency, queue, refusals, routes) for the API and the console. */
import type { Redis } from '../store/redis-client.ts';
import { foldOverview, type OverviewAnswer } from '../domain/overview.ts';
import type { KeySpace } from '../store/keys.ts';
import { readRefusals } from '../store/message-log-retention.ts';
import { readMinuteFigures } from '../store/overview-figures.ts';

/** The default window and the longest one (minute figures are kept a little over 2 h). */
export const OVERVIEW_MINUTES_DEFAULT = 60;
export const OVERVIEW_MINUTES_MAX = 120;

/** Queue depth by state (BullMQ's job counts), given by the app layer. */
export type QueueCounts = () => Promise<Record<string, number>>;

/** The last `minutes` whole and current minutes up to `now`. */
export async function readOverview(
  redis: Redis, keys: KeySpace, options: { minutes: number; queueCounts: QueueCounts; now?: number },
): Promise<OverviewAnswer> {
  const now = options.now ?? Date.now();
  const lastSlot = Math.floor(now / 60_000);
  const firstSlot = lastSlot - options.minutes + 1;
  const [minutes, refusals, queue] = await Promise.all([
    readMinuteFigures(redis, keys, firstSlot, lastSlot),
    readRefusals(redis, keys, 'm', firstSlot * 60_000, now),
    options.queueCounts(),
  ]);
  return foldOverview({ window: options.minutes, lastSlot, minutes, queue, refusals });
}
