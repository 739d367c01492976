/** GET /v3/user/webhooks/parse/stats: messages received per UTC day, in SendGrid's shape. */
import type { FastifyInstance } from 'fastify';
import type { Redis } from '../store/redis-client.ts';
import { receivedStats } from '../services/received-stats.ts';
import type { ShardDirectory } from '../store/shards.ts';
import { dayStats, errorBody, statsQuery } from './schemas.ts';

type StatsQuery = { Querystring: { start_date: string; end_date?: string; offset: number; limit: number } };

export function registerStatsRoutes(app: FastifyInstance, deps: { readonly redis: Redis; readonly shards: ShardDirectory }): void {
  app.get<StatsQuery>('/v3/user/webhooks/parse/stats', {
    schema: { tags: ['stats'], summary: 'Messages received per UTC day', querystring: statsQuery, response: { 200: dayStats, 400: errorBody, 401: errorBody } },
  }, async (request) => {
    const { start_date, end_date, offset, limit } = request.query;
    return receivedStats(deps.redis, await deps.shards.all(), { startDate: start_date, endDate: end_date, offset, limit });
  });
}
