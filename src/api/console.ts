/**
 * The web console over HTTP: its page and assets (built into dist/console by `npm run build`),
 * log in with the API key, log out, and the session check the API's auth hook asks. Every console
 * response carries a strict Content-Security-Policy: scripts and styles only from mxhook itself.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type {} from '@fastify/cookie';
import type {} from '@fastify/swagger';
import type { Redis } from '../store/redis-client.ts';
import { MxhookError } from '../domain/errors.ts';
import { createSession, csrfMatches, deleteSession, readSession, type ConsoleSession, type SessionPolicy } from '../store/console-sessions.ts';
import type { KeySpace } from '../store/keys.ts';
import { isAuthorized } from './api-key.ts';

export const SESSION_COOKIE = 'mxhook_session';

export const CONSOLE_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "frame-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
].join('; ');

export interface ConsoleOptions {
  readonly redis: Redis;
  readonly keys: KeySpace;
  readonly apiKeyHash: Buffer;
  readonly sessions: SessionPolicy;
  /** dist/console: index.html and assets/. */
  readonly assetsDir: string;
  /** Mark the cookie Secure (the console is reached over HTTPS, e.g. behind a TLS proxy). */
  readonly secureCookie: boolean;
}

const ASSETS: Record<string, string> = {
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

/** Failed logins per client address: at most this many per window, then 429 until it passes. */
const LOGIN_FAILURES_ALLOWED = 10;
const LOGIN_WINDOW_MS = 5 * 60_000;

export type SessionCheck =
  | { readonly kind: 'none' }
  | { readonly kind: 'session'; readonly session: ConsoleSession }
  | { readonly kind: 'csrf-failed' };

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * For the API's auth hook: a request without an API key may carry a console session; one that
 * changes something must also carry the session's CSRF token and, when the browser says where it
 * comes from, come from this origin.
 */
export async function checkConsoleSession(request: FastifyRequest, options: Pick<ConsoleOptions, 'redis' | 'keys' | 'sessions'>): Promise<SessionCheck> {
  const id = request.cookies?.[SESSION_COOKIE];
  if (!id) return { kind: 'none' };
  const session = await readSession(options.redis, options.keys, id, options.sessions);
  if (!session) return { kind: 'none' };
  if (SAFE_METHODS.has(request.method)) return { kind: 'session', session };
  if (!csrfMatches(session, request.headers['x-csrf-token']) || !sameOrigin(request)) return { kind: 'csrf-failed' };
  return { kind: 'session', session };
}

function sameOrigin(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  if (!origin) return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cache-control', 'no-store');
}

async function asset(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch {
    throw new MxhookError('CONSOLE_NOT_BUILT');
  }
}

/** The console's own routes; they check sessions themselves (`public` for the API key hook). */
export async function registerConsoleRoutes(app: FastifyInstance, options: ConsoleOptions): Promise<void> {
  const failures = new Map<string, { count: number; since: number }>();
  const route = { config: { public: true }, schema: { hide: true } } as const;

  app.get('/ui/', route, async (_request, reply) => {
    const page = await asset(path.join(options.assetsDir, 'index.html'));
    return securityHeaders(reply).type('text/html; charset=utf-8').send(page);
  });
  app.get<{ Params: { file: string } }>('/ui/assets/:file', route, async (request, reply) => {
    const type = ASSETS[request.params.file];
    if (!type) throw new MxhookError('NOT_FOUND');
    const bytes = await asset(path.join(options.assetsDir, 'assets', request.params.file));
    return securityHeaders(reply).header('cache-control', 'no-cache').type(type).send(bytes);
  });

  app.get('/ui/session', route, async (request, reply) => {
    securityHeaders(reply);
    const session = await readSession(options.redis, options.keys, request.cookies?.[SESSION_COOKIE], options.sessions);
    if (!session) throw new MxhookError('UNAUTHORIZED', { message: 'not logged in' });
    return { csrf_token: session.csrfToken };
  });

  app.post<{ Body: { api_key: string } }>('/ui/session', {
    config: { public: true },
    schema: {
      hide: true,
      body: { type: 'object', required: ['api_key'], additionalProperties: false, properties: { api_key: { type: 'string', minLength: 1, maxLength: 512 } } },
    },
  }, async (request, reply) => {
    securityHeaders(reply);
    const now = Date.now();
    const seen = failures.get(request.ip);
    if (seen && now - seen.since > LOGIN_WINDOW_MS) failures.delete(request.ip);
    const current = failures.get(request.ip);
    if (current && current.count >= LOGIN_FAILURES_ALLOWED) {
      reply.header('retry-after', String(Math.ceil((current.since + LOGIN_WINDOW_MS - now) / 1000)));
      throw new MxhookError('LOGIN_THROTTLED');
    }
    if (!isAuthorized(`Bearer ${request.body.api_key}`, options.apiKeyHash)) {
      failures.set(request.ip, { count: (current?.count ?? 0) + 1, since: current?.since ?? now });
      throw new MxhookError('UNAUTHORIZED', { fieldErrors: [{ field: 'api_key', message: 'that API key is not valid' }] });
    }
    failures.delete(request.ip);
    const { id, session } = await createSession(options.redis, options.keys, options.sessions);
    return reply.code(201).setCookie(SESSION_COOKIE, id, {
      path: '/', httpOnly: true, sameSite: 'strict', secure: options.secureCookie, maxAge: Math.floor(options.sessions.maxAgeMs / 1000),
    }).send({ csrf_token: session.csrfToken });
  });

  app.delete('/ui/session', route, async (request, reply) => {
    securityHeaders(reply);
    const check = await checkConsoleSession(request, options);
    if (check.kind === 'csrf-failed') throw new MxhookError('CSRF_FAILED');
    await deleteSession(options.redis, options.keys, request.cookies?.[SESSION_COOKIE]);
    return reply.code(204).clearCookie(SESSION_COOKIE, { path: '/' }).send();
  });
}
