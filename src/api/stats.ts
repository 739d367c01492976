/** GET /v3/user/webhooks/parse/stats: messages received per UTC day, in SendGrid's shape. */
import type { ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import { MxhookError } from '../domain/errors.ts';
import { utcDay } from '../queue/delivery-queue.ts';
import type { KeySpace } from '../store/keys.ts';
import { sendJson } from './http.ts';

const DAY_MS = 86_400_000;
const MAX_DAYS = 366;

export async function getReceivedStats(redis: Redis, keys: KeySpace, query: URLSearchParams, res: ServerResponse): Promise<void> {
  const start = parseDay(query.get('start_date'), 'start_date');
  if (start === undefined) throw badQuery('start_date', 'start_date is required (YYYY-MM-DD)');
  const end = parseDay(query.get('end_date'), 'end_date') ?? Date.parse(utcDay(Date.now()));
  if (end < start) throw badQuery('end_date', 'end_date must not be before start_date');
  if ((end - start) / DAY_MS >= MAX_DAYS) throw badQuery('end_date', `at most ${MAX_DAYS} days per request`);
  const days: string[] = [];
  for (let t = start; t <= end; t += DAY_MS) days.push(utcDay(t));
  const offset = Number(query.get('offset') ?? 0) || 0;
  const limit = Number(query.get('limit') ?? 500) || 500;
  const page = days.slice(offset, offset + limit);
  const pipeline = redis.pipeline();
  for (const day of page) pipeline.hvals(keys.receivedStats(day));
  const results = (await pipeline.exec()) ?? [];
  sendJson(res, 200, page.map((date, i) => {
    const counts = (results[i]?.[1] as string[] | undefined) ?? [];
    return { date, stats: [{ metrics: { received: counts.reduce((sum, n) => sum + Number(n), 0) } }] };
  }));
}

function parseDay(value: string | null, field: string): number | undefined {
  if (!value) return undefined;
  const time = /^\d{4}-\d{2}-\d{2}$/.test(value) ? Date.parse(`${value}T00:00:00Z`) : NaN;
  if (Number.isNaN(time)) throw badQuery(field, `${field} must be a date in the format YYYY-MM-DD`);
  return time;
}

function badQuery(field: string, message: string): MxhookError {
  return new MxhookError('VALIDATION_FAILED', { message, fieldErrors: [{ field, message }] });
}
