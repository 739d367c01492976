/** GET .../overview: the console's overview figures over the last N minutes (services/overview.ts). */
import type { FastifyInstance } from 'fastify';
import type { Redis } from '../store/redis-client.ts';
import { OVERVIEW_MINUTES_DEFAULT, OVERVIEW_MINUTES_MAX, readOverview, type QueueCounts } from '../services/overview.ts';
import type { KeySpace } from '../store/keys.ts';
import { errorBody } from './schemas.ts';

const count = { type: 'integer', minimum: 0 } as const;
const overviewQuery = {
  type: 'object',
  properties: {
    minutes: {
      type: 'integer', minimum: 1, maximum: OVERVIEW_MINUTES_MAX, default: OVERVIEW_MINUTES_DEFAULT,
      'x-error': `minutes must be a whole number from 1 to ${OVERVIEW_MINUTES_MAX}`, description: 'The window, ending now.',
    },
  },
} as const;
const overviewAnswer = {
  type: 'object', required: ['window_minutes', 'minutes', 'latency_ms', 'queue', 'refusals', 'routes'],
  properties: {
    window_minutes: count,
    minutes: {
      type: 'array', description: 'One row per minute of the window, oldest first; `t` is its start in seconds since the epoch.',
      items: { type: 'object', required: ['t', 'received', 'delivered', 'failed'], properties: { t: count, received: count, delivered: count, failed: { ...count, description: 'failed delivery attempts' } } },
    },
    latency_ms: {
      type: 'object', required: ['p50', 'p99'], description: 'Receipt (end of DATA) to the app\'s 2xx, retries included, over the window; null when nothing was delivered.',
      properties: { p50: { type: ['number', 'null'] }, p99: { type: ['number', 'null'] } },
    },
    queue: { type: 'object', description: 'Deliveries in the queue by state, now.', additionalProperties: count },
    refusals: {
      type: 'array', description: 'SMTP refusals by reason (error code) and hostname (empty when none; `*` past the per-minute cap), most first.',
      items: { type: 'object', required: ['reason', 'hostname', 'count'], properties: { reason: { type: 'string' }, hostname: { type: 'string' }, count } },
    },
    routes: {
      type: 'array', description: 'Per route: deliveries delivered, failed attempts, and failed / (delivered + failed); worst first.',
      items: {
        type: 'object', required: ['hostname', 'delivered', 'failed', 'error_rate'],
        properties: { hostname: { type: 'string' }, delivered: count, failed: count, error_rate: { type: 'number', minimum: 0, maximum: 1 } },
      },
    },
  },
} as const;

export function registerOverviewRoute(app: FastifyInstance, deps: { readonly redis: Redis; readonly keys: KeySpace; readonly queueCounts?: QueueCounts | undefined }): void {
  const queueCounts = deps.queueCounts ?? (async () => ({}));
  app.get<{ Querystring: { minutes: number } }>('/v3/user/webhooks/parse/overview', {
    schema: {
      tags: ['stats'], summary: 'Mail per minute, delivery latency, queue depth, SMTP refusals and per-route error rates (the console\'s overview)',
      querystring: overviewQuery, response: { 200: overviewAnswer, 400: errorBody, 401: errorBody },
    },
  }, async (request) => readOverview(deps.redis, deps.keys, { minutes: request.query.minutes, queueCounts }));
}
