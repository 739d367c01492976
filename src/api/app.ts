/** The HTTP API as a request handler (tests drive it through a real server on port 0). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { MxhookError } from '../domain/errors.ts';
import type { RouteRegistry } from '../routes/registry.ts';
import type { KeySpace } from '../store/keys.ts';
import { isAuthorized } from './api-key.ts';
import { sendError, sendJson } from './http.ts';
import { createSetting, deleteSetting, getSetting, listSettings, patchSetting } from './settings.ts';
import { getReceivedStats } from './stats.ts';

export interface ApiDependencies {
  readonly redis: Redis;
  readonly keys: KeySpace;
  readonly routes: RouteRegistry;
  /** sha256 of the API key (see resolveApiKey). */
  readonly apiKeyHash: Buffer;
  readonly logger: Logger;
}

const SETTINGS = '/v3/user/webhooks/parse/settings';

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
    const redisOk = await deps.redis.ping().then(() => true, () => false);
    return sendJson(res, redisOk ? 200 : 503, { status: redisOk ? 'ok' : 'redis unavailable' });
  }
  if (!isAuthorized(req.headers.authorization, deps.apiKeyHash)) throw new MxhookError('UNAUTHORIZED');

  if (url.pathname === SETTINGS || url.pathname === `${SETTINGS}/`) {
    if (method === 'GET') return listSettings(deps.routes, res);
    if (method === 'POST') return createSetting(deps.routes, req, res);
    throw new MxhookError('METHOD_NOT_ALLOWED');
  }
  if (url.pathname.startsWith(`${SETTINGS}/`)) {
    const hostname = decodeURIComponent(url.pathname.slice(SETTINGS.length + 1));
    if (method === 'GET') return getSetting(deps.routes, hostname, res);
    if (method === 'PATCH') return patchSetting(deps.routes, hostname, req, res);
    if (method === 'DELETE') return deleteSetting(deps.routes, hostname, res);
    throw new MxhookError('METHOD_NOT_ALLOWED');
  }
  if (url.pathname === '/v3/user/webhooks/parse/stats') {
    if (method !== 'GET') throw new MxhookError('METHOD_NOT_ALLOWED');
    return getReceivedStats(deps.redis, deps.keys, url.searchParams, res);
  }
  throw new MxhookError('NOT_FOUND');
}
