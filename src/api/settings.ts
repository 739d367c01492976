/** SendGrid's parse settings API, and mxhook's signing secrets and per-route stats, over the route service. */
import type { FastifyInstance } from 'fastify';
import type { RouteAdmin } from '../services/route-admin.ts';
import {
  createdSetting, createSettingBody, errorBody, hostnameParams, newSecret, parseSetting, patchSettingBody, routeStats, secretInfo, secretParams,
} from './schemas.ts';

const SETTINGS = '/v3/user/webhooks/parse/settings';
const tags = ['settings'];
const errors = { 400: errorBody, 401: errorBody, 404: errorBody } as const;

type HostnameParams = { Params: { hostname: string } };

export function registerSettingsRoutes(app: FastifyInstance, routes: RouteAdmin): void {
  app.get(SETTINGS, {
    schema: { tags, summary: 'List parse settings', response: { 200: { type: 'object', required: ['result'], properties: { result: { type: 'array', items: parseSetting } } }, 401: errorBody } },
  }, async () => ({ result: await routes.list() }));

  app.post(SETTINGS, {
    schema: { tags, summary: 'Create a parse setting and its first signing secret', body: createSettingBody, response: { 201: createdSetting, ...errors, 409: errorBody, 413: errorBody } },
  }, async (request, reply) => {
    const { setting, secret } = await routes.create(request.body);
    return reply.code(201).send({ ...setting, signing_secret: secret.secret, signing_secret_id: secret.id });
  });

  app.get<HostnameParams>(`${SETTINGS}/:hostname`, {
    schema: { tags, summary: 'Get a parse setting', params: hostnameParams, response: { 200: parseSetting, ...errors } },
  }, async (request) => routes.get(request.params.hostname));

  app.patch<HostnameParams>(`${SETTINGS}/:hostname`, {
    schema: { tags, summary: 'Change a parse setting (not its hostname)', params: hostnameParams, body: patchSettingBody, response: { 200: parseSetting, ...errors, 413: errorBody } },
  }, async (request) => routes.update(request.params.hostname, request.body));

  app.delete<HostnameParams>(`${SETTINGS}/:hostname`, {
    schema: { tags, summary: 'Delete a parse setting and its secrets', params: hostnameParams, response: { 204: { type: 'null' }, ...errors } },
  }, async (request, reply) => {
    await routes.remove(request.params.hostname);
    return reply.code(204).send();
  });

  app.get<HostnameParams>(`${SETTINGS}/:hostname/secrets`, {
    schema: { tags: ['secrets'], summary: 'List a route\'s signing secrets (ids and dates only)', params: hostnameParams,
      response: { 200: { type: 'object', required: ['result'], properties: { result: { type: 'array', items: secretInfo } } }, ...errors } },
  }, async (request) => ({ result: await routes.listSecrets(request.params.hostname) }));

  app.post<HostnameParams>(`${SETTINGS}/:hostname/secrets`, {
    schema: { tags: ['secrets'], summary: 'Add a signing secret (its value is shown once)', params: hostnameParams, response: { 201: newSecret, ...errors } },
  }, async (request, reply) => reply.code(201).send(await routes.addSecret(request.params.hostname)));

  app.delete<{ Params: { hostname: string; id: string } }>(`${SETTINGS}/:hostname/secrets/:id`, {
    schema: { tags: ['secrets'], summary: 'Delete a signing secret', params: secretParams, response: { 204: { type: 'null' }, ...errors } },
  }, async (request, reply) => {
    await routes.removeSecret(request.params.hostname, request.params.id);
    return reply.code(204).send();
  });

  app.get<HostnameParams>(`${SETTINGS}/:hostname/stats`, {
    schema: { tags: ['stats'], summary: 'Received, delivered, retrying and dead counts of a route', params: hostnameParams, response: { 200: routeStats, ...errors } },
  }, async (request) => routes.stats(request.params.hostname));
}
