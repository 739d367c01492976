/** Messages received per UTC day (SendGrid's parse stats), for the API and the console. */
import type { Redis } from '../store/redis-client.ts';
import { MxhookError } from '../domain/errors.ts';
import { utcDay } from '../queue/delivery-queue.ts';
import type { KeySpace } from '../store/keys.ts';

const DAY_MS = 86_400_000;
export const MAX_STATS_DAYS = 366;

export interface DayStats {
  readonly date: string;
  readonly stats: readonly [{ readonly metrics: { readonly received: number } }];
}

/** Days from `startDate` to `endDate` (default today), both YYYY-MM-DD, paged by offset/limit. */
export async function receivedStats(
  redis: Redis,
  /** Every shard (each counts its own mail). */
  shards: readonly KeySpace[],
  query: { startDate: string; endDate?: string | undefined; offset?: number; limit?: number },
): Promise<DayStats[]> {
  const start = parseDay(query.startDate, 'start_date');
  const end = query.endDate === undefined ? Date.parse(utcDay(Date.now())) : parseDay(query.endDate, 'end_date');
  if (end < start) throw badQuery('end_date', 'end_date must not be before start_date');
  if ((end - start) / DAY_MS >= MAX_STATS_DAYS) throw badQuery('end_date', `at most ${MAX_STATS_DAYS} days per request`);
  const offset = query.offset ?? 0;
  const limit = query.limit ?? 500;
  if (!Number.isInteger(offset) || offset < 0) throw badQuery('offset', 'offset must be a whole number of at least 0');
  if (!Number.isInteger(limit) || limit < 1) throw badQuery('limit', 'limit must be a whole number of at least 1');
  const days: string[] = [];
  for (let t = start; t <= end; t += DAY_MS) days.push(utcDay(t));
  const page = days.slice(offset, offset + limit);
  // One pipeline per shard (a pipeline keeps to one slot on a cluster).
  const perShard = await Promise.all(shards.map(async (keys) => {
    const pipeline = redis.pipeline();
    for (const day of page) pipeline.hvals(keys.receivedStats(day));
    return (await pipeline.exec()) ?? [];
  }));
  return page.map((date, i) => {
    const received = perShard.reduce((total, results) => total + ((results[i]?.[1] as string[] | undefined) ?? []).reduce((sum, n) => sum + Number(n), 0), 0);
    return { date, stats: [{ metrics: { received } }] };
  });
}

function parseDay(value: string, field: string): number {
  const time = /^\d{4}-\d{2}-\d{2}$/.test(value) ? Date.parse(`${value}T00:00:00Z`) : NaN;
  if (Number.isNaN(time)) throw badQuery(field, `${field} must be a date in the format YYYY-MM-DD`);
  return time;
}

function badQuery(field: string, message: string): MxhookError {
  return new MxhookError('VALIDATION_FAILED', { message, fieldErrors: [{ field, message }] });
}
