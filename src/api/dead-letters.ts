/** Dead letters over the API: list (by hostname, paged), show, replay one or a route's, purge; over the dead-letter service. */
import type { FastifyInstance } from 'fastify';
import type { DeadLetterAdmin } from '../services/dead-letter-admin.ts';
import { deadLetter, deadLetterListQuery, deadLetterParams, errorBody, replayed, routeQuery } from './schemas.ts';

const BASE = '/v3/user/webhooks/parse/dead-letters';
const tags = ['dead letters'];
const errors = { 400: errorBody, 401: errorBody, 404: errorBody } as const;

type IdParams = { Params: { id: string } };
type RouteQuery = { Querystring: { hostname: string } };

export function registerDeadLetterRoutes(app: FastifyInstance, dead: DeadLetterAdmin): void {
  app.get<{ Querystring: { hostname?: string; limit: number; offset: number } }>(BASE, {
    schema: { tags, summary: 'List dead letters, newest first', querystring: deadLetterListQuery,
      response: { 200: { type: 'object', required: ['total', 'result'], properties: { total: { type: 'integer' }, result: { type: 'array', items: deadLetter } } }, 400: errorBody, 401: errorBody } },
  }, async (request) => dead.list(request.query));

  app.delete<RouteQuery>(BASE, {
    schema: { tags, summary: 'Purge every dead letter of a route', querystring: routeQuery,
      response: { 200: { type: 'object', required: ['purged'], properties: { purged: { type: 'integer' } } }, 400: errorBody, 401: errorBody } },
  }, async (request) => ({ purged: await dead.purgeRoute(request.query.hostname) }));

  app.post<RouteQuery>(`${BASE}/replay`, {
    schema: { tags, summary: 'Replay every dead letter of a route', querystring: routeQuery, response: { 202: replayed, 400: errorBody, 401: errorBody } },
  }, async (request, reply) => reply.code(202).send({ replayed: await dead.replayRoute(request.query.hostname) }));

  app.get<IdParams>(`${BASE}/:id`, {
    schema: { tags, summary: 'Show a dead letter: reason, envelope, every attempt', params: deadLetterParams, response: { 200: deadLetter, ...errors } },
  }, async (request) => dead.show(request.params.id));

  app.delete<IdParams>(`${BASE}/:id`, {
    schema: { tags, summary: 'Purge a dead letter', params: deadLetterParams, response: { 204: { type: 'null' }, ...errors } },
  }, async (request, reply) => {
    await dead.purge(request.params.id);
    return reply.code(204).send();
  });

  app.post<IdParams>(`${BASE}/:id/replay`, {
    schema: { tags, summary: 'Deliver the kept message again (a new delivery id)', params: deadLetterParams, response: { 202: replayed, ...errors } },
  }, async (request, reply) => reply.code(202).send({ replayed: [await dead.replay(request.params.id)] }));
}
