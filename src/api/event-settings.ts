/**
 * Event-webhook destinations over HTTP, shaped like SendGrid's multi-webhook Event Webhook
 * settings: POST .../event/settings (201 with an id), GET (all), GET|PATCH|DELETE .../{id}.
 */
import type { FastifyInstance } from 'fastify';
import { WEBHOOK_EVENTS } from '../domain/event-webhook.ts';
import type { EventDestinationAdmin } from '../services/event-destination-admin.ts';
import { errorBody } from './schemas.ts';

export const EVENT_SETTINGS = '/v3/user/webhooks/event/settings';
const tags = ['event webhook'];
const errors = { 400: errorBody, 401: errorBody, 404: errorBody } as const;

// The shape only; domain/event-webhook.ts words each problem (unknown event, refused address).
const fields = {
  url: { type: 'string', minLength: 1, maxLength: 4096, pattern: '^[Hh][Tt][Tt][Pp][Ss]?://', 'x-error': 'url must use http or https', description: 'Where batches are POSTed (JSON arrays).' },
  enabled: { type: 'boolean', description: 'Whether batches are sent (default true).' },
  events: { type: 'array', minItems: 1, maxItems: WEBHOOK_EVENTS.length, items: { type: 'string', maxLength: 40 }, description: `Events sent (default all): ${WEBHOOK_EVENTS.join(', ')}.` },
} as const;

const destination = {
  type: 'object', required: ['id', 'url', 'enabled', 'events', 'created_at', 'backlog'],
  properties: {
    id: { type: 'string' }, url: { type: 'string', description: 'A password in the URL is shown as ***.' }, enabled: { type: 'boolean' },
    events: { type: 'array', items: { type: 'string', enum: [...WEBHOOK_EVENTS] } }, created_at: { type: 'string' },
    backlog: { type: 'integer', description: 'Events waiting to be sent (retried or not yet sent).' },
  },
} as const;

const created = {
  ...destination,
  required: [...destination.required, 'signing_secret'],
  properties: { ...destination.properties, signing_secret: { type: 'string', description: 'Standard Webhooks secret (whsec_...) of this destination, shown in this answer only.' } },
} as const;

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } } } as const;
type IdParams = { Params: { id: string } };

export function registerEventSettingsRoutes(app: FastifyInstance, admin: EventDestinationAdmin): void {
  app.get(EVENT_SETTINGS, {
    schema: { tags, summary: 'List event-webhook destinations', response: { 200: { type: 'object', required: ['result'], properties: { result: { type: 'array', items: destination } } }, 401: errorBody } },
  }, async () => ({ result: await admin.list() }));

  app.post(EVENT_SETTINGS, {
    schema: {
      tags, summary: 'Create an event-webhook destination and its signing secret',
      body: { type: 'object', additionalProperties: false, required: ['url'], properties: fields },
      response: { 201: created, ...errors, 409: errorBody, 413: errorBody },
    },
  }, async (request, reply) => {
    const { destination: made, secret } = await admin.create(request.body);
    return reply.code(201).send({ ...made, signing_secret: secret });
  });

  app.get<IdParams>(`${EVENT_SETTINGS}/:id`, {
    schema: { tags, summary: 'Get an event-webhook destination', params: idParams, response: { 200: destination, ...errors } },
  }, async (request) => admin.get(request.params.id));

  app.patch<IdParams>(`${EVENT_SETTINGS}/:id`, {
    schema: {
      tags, summary: 'Change an event-webhook destination', params: idParams,
      body: { type: 'object', additionalProperties: false, properties: fields }, response: { 200: destination, ...errors, 413: errorBody },
    },
  }, async (request) => admin.update(request.params.id, request.body));

  app.delete<IdParams>(`${EVENT_SETTINGS}/:id`, {
    schema: { tags, summary: 'Delete an event-webhook destination (its unsent batches are dropped)', params: idParams, response: { 204: { type: 'null' }, ...errors } },
  }, async (request, reply) => {
    await admin.remove(request.params.id);
    return reply.code(204).send();
  });
}
