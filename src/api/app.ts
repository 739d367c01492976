/**
 * The HTTP API as a Fastify app: SendGrid's parse settings, signing secrets, dead letters, stats,
 * /signed, /healthz, /metrics and /openapi.json (made by @fastify/swagger from the schemas that
 * validate the requests). Built here, listened on by app/roles/api.ts; tests use inject().
 */
import fastifyCookie from '@fastify/cookie';
import fastifySwagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Redis } from '../store/redis-client.ts';
import type { Logger } from 'pino';
import { MxhookError } from '../domain/errors.ts';
import type { AcceptMessage } from '../domain/message.ts';
import type { DeadLetterAdmin } from '../services/dead-letter-admin.ts';
import type { RouteAdmin } from '../services/route-admin.ts';
import type { SigningSecrets } from '../routes/signing-secrets.ts';
import type { SessionPolicy } from '../store/console-sessions.ts';
import type { KeySpace } from '../store/keys.ts';
import { singleShardDirectory, type ShardDirectory } from '../store/shards.ts';
import type { RedisMemoryState } from '../store/redis-memory.ts';
import { isAuthorized } from './api-key.ts';
import { checkConsoleSession, registerConsoleRoutes } from './console.ts';
import { registerDeadLetterRoutes } from './dead-letters.ts';
import { registerEventSettingsRoutes } from './event-settings.ts';
import type { EventDestinationAdmin } from '../services/event-destination-admin.ts';
import { registerAttachmentRoutes, type ExtractAttachment } from './attachments.ts';
import { messagesApi, type MessagesApiOptions } from './messages.ts';
import { registerOverviewRoute } from './overview.ts';
import type { QueueCounts } from '../services/overview.ts';
import { registerInspectRoutes } from './inspect.ts';
import { createErrorHandler, loggedPath, sendMxhookError } from './errors.ts';
import { checkHealth, type Health } from './health.ts';
import { acceptJsonBodies } from './json-body.ts';
import { errorBody, health } from './schemas.ts';
import { registerSettingsRoutes } from './settings.ts';
import { registerStatsRoutes } from './stats.ts';
import { createValidatorCompiler } from './validators.ts';

export interface ApiDependencies {
  readonly redis: Redis;
  /** The shared key space (store/shards.ts). */
  readonly keys: KeySpace;
  /** The shards mail is spread over; default: `keys` alone. */
  readonly shards?: ShardDirectory;
  /** Routes and their secrets (services/route-admin.ts), the same service the CLI uses. */
  readonly routes: RouteAdmin;
  /** Dead letters (services/dead-letter-admin.ts), the same service the CLI uses. */
  readonly deadLetters: DeadLetterAdmin;
  /** The server's ECDSA public key, base64 DER (SendGrid's format). */
  readonly ecdsaPublicKey: () => Promise<string>;
  /** sha256 of the API key (see resolveApiKey). */
  readonly apiKeyHash: Buffer;
  readonly logger: Logger;
  /** Prometheus text of this process (app/metrics.ts), served without the key at /metrics. */
  readonly metrics?: () => Promise<{ contentType: string; body: string }>;
  /** What /healthz answers; default: Redis answers PING, and the memory watch if given (api/health.ts). */
  readonly health?: () => Promise<Health>;
  /** The Redis memory watch (store/redis-memory.ts): /healthz says degraded while it is high. */
  readonly redisMemory?: () => RedisMemoryState;
  /** Signing secrets, for the built-in inspector's signature check. */
  readonly secrets: SigningSecrets;
  /** The message log API (api/messages.ts), with the accept that redeliveries go through; absent: not served. */
  readonly messages?: {
    readonly accept: AcceptMessage;
    readonly preview?: MessagesApiOptions['preview'];
    /** Sends a sample message to the hostname through the SMTP listener; resolves with its message id. */
    readonly testMail?: (hostname: string) => Promise<string>;
    /** Queue depth by state, for GET .../overview (the overview is served with the message log). */
    readonly queueCounts?: QueueCounts;
  };
  /** Event-webhook destinations (services/event-destination-admin.ts); absent: not served. */
  readonly eventDestinations?: EventDestinationAdmin;
  /** Attachment download links of JSON POSTs (api/attachments.ts); absent: not served. */
  readonly extractAttachment?: ExtractAttachment;
  /** Attachment downloads served at once by this process (default 4); past it 503 with Retry-After. */
  readonly attachmentDownloads?: number;
  /** The web console at /ui (api/console.ts); absent: not served, and no session is accepted. */
  readonly console?: { readonly sessions: SessionPolicy; readonly assetsDir: string; readonly secureCookie: boolean };
}

/** JSON request bodies larger than this are refused with 413. */
export const MAX_BODY_BYTES = 64 * 1024;
export const API_BASE = '/v3/user/webhooks/parse';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without the API key (health, metrics, the OpenAPI document). */
    readonly public?: boolean;
  }
}

/** A ready Fastify app (not listening): `app.server` for a listener, `app.inject()` for tests. */
export async function buildApiApp(deps: ApiDependencies): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    exposeHeadRoutes: false,
    routerOptions: { ignoreTrailingSlash: true },
    // A malformed % escape in the path: 400 in our shape, not Fastify's.
    frameworkErrors: (error, _request, reply) => {
      void sendMxhookError(reply, new MxhookError(error.code === 'FST_ERR_BAD_URL' ? 'BAD_REQUEST_PATH' : 'NOT_FOUND'));
    },
  });
  app.setValidatorCompiler(createValidatorCompiler());
  app.setErrorHandler(createErrorHandler(deps.logger));
  acceptJsonBodies(app);

  // Which paths exist (for 405 on a known path with another verb).
  const paths: RegExp[] = [];
  app.addHook('onRoute', (route) => {
    const pattern = route.url.split('/').map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/');
    paths.push(new RegExp(`^${pattern}/?$`));
  });
  app.setNotFoundHandler(async (request) => {
    const path = request.url.split('?')[0];
    throw new MxhookError(paths.some((p) => p.test(path)) ? 'METHOD_NOT_ALLOWED' : 'NOT_FOUND');
  });

  // Parses cookies (the console's session) before the auth hook below reads them.
  await app.register(fastifyCookie);
  const shards = deps.shards ?? singleShardDirectory(deps.keys);
  const consoleOptions = deps.console && { redis: deps.redis, keys: deps.keys, apiKeyHash: deps.apiKeyHash, ...deps.console };
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config.public) return;
    // The API key when one is sent; otherwise a console session (with its CSRF token on changes).
    if (request.headers.authorization !== undefined || !consoleOptions) {
      if (!isAuthorized(request.headers.authorization, deps.apiKeyHash)) throw new MxhookError('UNAUTHORIZED');
      return;
    }
    const check = await checkConsoleSession(request, consoleOptions);
    if (check.kind === 'csrf-failed') throw new MxhookError('CSRF_FAILED');
    if (check.kind !== 'session') throw new MxhookError('UNAUTHORIZED');
  });
  app.addHook('onResponse', async (request, reply) => {
    deps.logger.debug({ event: 'api_request', method: request.method, path: loggedPath(request), status: reply.statusCode, ms: Math.round(reply.elapsedTime) });
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'mxhook API', version: '0.1.0', description: 'SendGrid-compatible Inbound Parse settings, signing secrets, dead letters and stats.' },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'The API key (MXHOOK_API_KEY, or the one printed at first start).' } } },
      security: [{ apiKey: [] }],
    },
  });

  const readHealth = deps.health ?? (() => checkHealth(deps.redis, deps.redisMemory));
  app.get('/healthz', { config: { public: true }, schema: { summary: 'Liveness and readiness', security: [], response: { 200: health, 503: health } } }, async (_request, reply) => {
    const { httpStatus, body } = await readHealth();
    return reply.code(httpStatus).send(body);
  });
  if (deps.metrics) {
    const metrics = deps.metrics;
    // Unauthenticated like /healthz, so Prometheus needs no secret: it carries counts, never mail,
    // hostnames or addresses. Keep the API port off the internet (docs/operations.md, "Metrics").
    app.get('/metrics', { config: { public: true }, schema: { summary: 'Prometheus metrics of this process', description: 'Prometheus text format (no API key).', security: [] } }, async (_request, reply) => {
      const { contentType, body } = await metrics();
      return reply.type(contentType).send(body);
    });
  }
  app.get('/openapi.json', { config: { public: true }, schema: { summary: 'This document (OpenAPI 3.1)', security: [] } }, async () => app.swagger());

  registerSettingsRoutes(app, deps.routes);
  registerDeadLetterRoutes(app, deps.deadLetters);
  if (deps.eventDestinations) registerEventSettingsRoutes(app, deps.eventDestinations);
  registerStatsRoutes(app, { redis: deps.redis, shards });
  await registerInspectRoutes(app, deps);
  if (deps.extractAttachment) registerAttachmentRoutes(app, {
    redis: deps.redis, keys: deps.keys, shards, extract: deps.extractAttachment, ...(deps.attachmentDownloads ? { maxConcurrent: deps.attachmentDownloads } : {}),
  });
  if (deps.messages?.testMail) {
    const testMail = deps.messages.testMail;
    app.post<{ Params: { hostname: string } }>(`${API_BASE}/settings/:hostname/test`, {
      schema: {
        summary: 'Send a sample message through the SMTP listener to this route; follow it with GET .../messages/{message_id}',
        params: { type: 'object', required: ['hostname'], properties: { hostname: { type: 'string', minLength: 1, maxLength: 253 } } },
        response: { 202: { type: 'object', required: ['message_id'], properties: { message_id: { type: 'string' } } }, 401: errorBody, 404: errorBody, 503: errorBody },
      },
    }, async (request, reply) => {
      const { hostname } = await deps.routes.get(request.params.hostname);
      try {
        return reply.code(202).send({ message_id: await testMail(hostname) });
      } catch (err) {
        throw new MxhookError('TEST_MAIL_FAILED', { message: `the test mail was not accepted: ${(err as Error).message}` });
      }
    });
  }
  if (deps.messages) registerOverviewRoute(app, { redis: deps.redis, keys: deps.keys, queueCounts: deps.messages.queueCounts });
  if (deps.messages) await app.register(messagesApi, { prefix: API_BASE, redis: deps.redis, shards, accept: deps.messages.accept, ...(deps.messages.preview ? { preview: deps.messages.preview } : {}) });
  if (consoleOptions) await registerConsoleRoutes(app, consoleOptions);
  app.get(`${API_BASE}/signed`, {
    schema: { summary: 'The ECDSA public key of SendGrid-style signatures', response: { 200: { type: 'object', required: ['public_key'], properties: { public_key: { type: 'string' } } }, 401: errorBody } },
  }, async () => ({ public_key: await deps.ecdsaPublicKey() }));

  await app.ready();
  return app;
}
