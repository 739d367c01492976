/** The HTTP API as a request handler (tests drive it through a real server on port 0). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { MxhookError } from '../domain/errors.ts';
import { healthReport } from '../domain/health.ts';
import type { AcceptMessage } from '../domain/message.ts';
import type { RouteRegistry } from '../routes/registry.ts';
import type { SigningSecrets } from '../routes/signing-secrets.ts';
import type { KeySpace } from '../store/keys.ts';
import type { RedisMemoryState } from '../store/redis-memory.ts';
import { readRouteStats } from '../store/route-stats.ts';
import { isAuthorized } from './api-key.ts';
import { listDead, purgeOne, purgeRoute, replayOne, replayRoute, showDead } from './dead-letters.ts';
import { sendError, sendJson } from './http.ts';
import { handleInspect, isInspectPath } from './inspect.ts';
import { requireRoute } from './require-route.ts';
import { addSecret, listSecrets, removeSecret } from './secrets.ts';
import { createSetting, deleteSetting, getSetting, listSettings, patchSetting } from './settings.ts';
import { getReceivedStats } from './stats.ts';

export interface ApiDependencies {
  readonly redis: Redis;
  readonly keys: KeySpace;
  readonly routes: RouteRegistry;
  readonly secrets: SigningSecrets;
  /** Stores a replayed message and its delivery (the SMTP intake's atomic step). */
  readonly accept: AcceptMessage;
  /** The server's ECDSA public key, base64 DER (SendGrid's format). */
  readonly ecdsaPublicKey: () => Promise<string>;
  /** sha256 of the API key (see resolveApiKey). */
  readonly apiKeyHash: Buffer;
  readonly logger: Logger;
  /** Prometheus text of this process (app/metrics.ts), served without the key at /metrics. */
  readonly metrics?: () => Promise<{ contentType: string; body: string }>;
  /** Redis memory use (store/redis-memory.ts), for /healthz's degraded state. */
  readonly redisMemory?: () => RedisMemoryState;
}

type Handler = (ctx: { deps: ApiDependencies; req: IncomingMessage; res: ServerResponse; params: string[]; query: URLSearchParams }) => Promise<void>;

const BASE = '/v3/user/webhooks/parse';
const H = '([^/]+)';

/** [method, path pattern, handler]; the first match wins. */
const ROUTES: [string, RegExp, Handler][] = [
  ['GET', new RegExp(`^${BASE}/settings/?$`), ({ deps, res }) => listSettings(deps.routes, res)],
  ['POST', new RegExp(`^${BASE}/settings/?$`), ({ deps, req, res }) => createSetting(deps.routes, deps.secrets, req, res)],
  ['GET', new RegExp(`^${BASE}/settings/${H}$`), ({ deps, res, params }) => getSetting(deps.routes, params[0], res)],
  ['PATCH', new RegExp(`^${BASE}/settings/${H}$`), ({ deps, req, res, params }) => patchSetting(deps.routes, params[0], req, res)],
  ['DELETE', new RegExp(`^${BASE}/settings/${H}$`), ({ deps, res, params }) => deleteSetting(deps.routes, deps.secrets, params[0], res)],
  ['GET', new RegExp(`^${BASE}/settings/${H}/secrets$`), ({ deps, res, params }) => listSecrets(deps.routes, deps.secrets, params[0], res)],
  ['POST', new RegExp(`^${BASE}/settings/${H}/secrets$`), ({ deps, res, params }) => addSecret(deps.routes, deps.secrets, params[0], res)],
  ['DELETE', new RegExp(`^${BASE}/settings/${H}/secrets/${H}$`), ({ deps, res, params }) => removeSecret(deps.routes, deps.secrets, params[0], params[1], res)],
  ['GET', new RegExp(`^${BASE}/settings/${H}/stats$`), async ({ deps, res, params }) => {
    const { hostname } = await requireRoute(deps.routes, params[0]);
    sendJson(res, 200, await readRouteStats(deps.redis, deps.keys, hostname));
  }],
  ['GET', new RegExp(`^${BASE}/stats$`), ({ deps, res, query }) => getReceivedStats(deps.redis, deps.keys, query, res)],
  ['GET', new RegExp(`^${BASE}/signed$`), async ({ deps, res }) => sendJson(res, 200, { public_key: await deps.ecdsaPublicKey() })],
  ['GET', new RegExp(`^${BASE}/dead-letters/?$`), ({ deps, res, query }) => listDead(deps, query, res)],
  ['DELETE', new RegExp(`^${BASE}/dead-letters/?$`), ({ deps, res, query }) => purgeRoute(deps, query, res)],
  ['POST', new RegExp(`^${BASE}/dead-letters/replay$`), ({ deps, res, query }) => replayRoute(deps, query, res)],
  ['GET', new RegExp(`^${BASE}/dead-letters/${H}$`), ({ deps, res, params }) => showDead(deps, params[0], res)],
  ['DELETE', new RegExp(`^${BASE}/dead-letters/${H}$`), ({ deps, res, params }) => purgeOne(deps, params[0], res)],
  ['POST', new RegExp(`^${BASE}/dead-letters/${H}/replay$`), ({ deps, res, params }) => replayOne(deps, params[0], res)],
];

export function createApiHandler(deps: ApiDependencies): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const started = Date.now();
    handle(deps, req, res)
      .catch((err: unknown) => {
        if (err instanceof MxhookError) return sendError(res, err);
        deps.logger.error({ event: 'api_error', method: req.method, path: req.url?.split('?')[0], err: String(err) });
        if (!res.headersSent) sendJson(res, 500, { errors: [{ field: null, message: 'internal error' }] });
        else res.destroy();
      })
      .finally(() => {
        deps.logger.debug({ event: 'api_request', method: req.method, path: req.url?.split('?')[0], status: res.statusCode, ms: Date.now() - started });
      });
  };
}

async function handle(deps: ApiDependencies, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const method = req.method ?? 'GET';
  if (url.pathname === '/healthz') {
    const redisReachable = await deps.redis.ping().then(() => true, () => false);
    const report = healthReport({ redisReachable, ...(deps.redisMemory ? { redisMemory: deps.redisMemory() } : {}) });
    return sendJson(res, report.httpStatus, report.body);
  }
  // Unauthenticated like /healthz, so Prometheus needs no secret: it carries counts, never mail,
  // hostnames or addresses. Keep the API port off the internet (README, "Metrics").
  if (url.pathname === '/metrics' && deps.metrics && method === 'GET') {
    const { contentType, body } = await deps.metrics();
    res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  if (isInspectPath(url.pathname)) return handleInspect(deps, req, res, url.pathname);
  if (!isAuthorized(req.headers.authorization, deps.apiKeyHash)) throw new MxhookError('UNAUTHORIZED');
  let pathMatched = false;
  for (const [verb, pattern, handler] of ROUTES) {
    const match = pattern.exec(url.pathname);
    if (!match) continue;
    pathMatched = true;
    if (verb !== method) continue;
    return handler({ deps, req, res, params: match.slice(1).map(decodeURIComponent), query: url.searchParams });
  }
  throw new MxhookError(pathMatched ? 'METHOD_NOT_ALLOWED' : 'NOT_FOUND');
}
