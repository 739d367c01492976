/**
 * HTTP side of the built-in inspector (routes/inspector.ts), under `/inspect/{token}`:
 * `POST` (no key: mxhook's own workers call it, as they would an app) keeps one POST;
 * `GET` (API key) lists the kept ones as JSON. The token is unguessable and made by
 * `mxhook routes add HOST --inspect`; an unknown one is a 404.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import { INSPECT_PATH_PREFIX, isInspectorToken } from '../domain/inspection.ts';
import { MxhookError } from '../domain/errors.ts';
import { createInspector } from '../routes/inspector.ts';
import type { SigningSecrets } from '../routes/signing-secrets.ts';
import type { KeySpace } from '../store/keys.ts';
import { isAuthorized } from './api-key.ts';
import { sendJson } from './http.ts';

/** Largest POST the inspector reads (bigger: 413, and the delivery is dead-lettered as any 4xx). */
export const INSPECT_MAX_BODY = 10 * 1024 * 1024;

export interface InspectDependencies {
  readonly redis: Redis;
  readonly keys: KeySpace;
  readonly secrets: SigningSecrets;
  readonly apiKeyHash: Buffer;
}

/** True when the path is the inspector's (then the request is answered here). */
export function isInspectPath(pathname: string): boolean {
  return pathname.startsWith(INSPECT_PATH_PREFIX);
}

export async function handleInspect(deps: InspectDependencies, req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
  const token = pathname.slice(INSPECT_PATH_PREFIX.length);
  const inspector = createInspector(deps.redis, deps.keys, deps.secrets);
  const method = req.method ?? 'GET';
  if (method !== 'POST' && method !== 'GET') throw new MxhookError('METHOD_NOT_ALLOWED');
  if (method === 'GET' && !isAuthorized(req.headers.authorization, deps.apiKeyHash)) throw new MxhookError('UNAUTHORIZED');
  const hostname = isInspectorToken(token) ? await inspector.hostnameOf(token) : undefined;
  if (!hostname) throw new MxhookError('NOT_FOUND', { message: 'no inspector with this token' });
  if (method === 'GET') return sendJson(res, 200, { result: await inspector.list(token) });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > INSPECT_MAX_BODY) {
      res.setHeader('connection', 'close');
      throw new MxhookError('BODY_TOO_LARGE', { message: `the inspector keeps POSTs up to ${INSPECT_MAX_BODY} bytes` });
    }
    chunks.push(chunk);
  }
  try {
    const post = await inspector.record(token, hostname, req.headers, Buffer.concat(chunks));
    sendJson(res, 200, { kept: true, fields: post.fields.length, files: post.files.length });
  } catch (err) {
    if (err instanceof TypeError) throw new MxhookError('BAD_FORM', { message: `request body is not multipart/form-data: ${err.message}` });
    throw err;
  }
}
