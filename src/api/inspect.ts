/**
 * HTTP side of the built-in inspector (routes/inspector.ts), under `/inspect/{token}`:
 * `POST` (no key: mxhook's own workers call it, as they would an app) keeps one POST;
 * `GET` (API key) lists the kept ones as JSON. The token is unguessable and made by
 * `mxhook routes add HOST --inspect`; an unknown one is a 404.
 */
import type { FastifyInstance } from 'fastify';
import type { Redis } from '../store/redis-client.ts';
import { INSPECT_PATH_PREFIX, isInspectorToken } from '../domain/inspection.ts';
import { MxhookError } from '../domain/errors.ts';
import { createInspector } from '../routes/inspector.ts';
import type { SigningSecrets } from '../routes/signing-secrets.ts';
import type { KeySpace } from '../store/keys.ts';
import { isAuthorized } from './api-key.ts';

/** Largest POST the inspector reads (bigger: 413, and the delivery is dead-lettered as any 4xx). */
export const INSPECT_MAX_BODY = 10 * 1024 * 1024;

export interface InspectDependencies {
  readonly redis: Redis;
  readonly keys: KeySpace;
  readonly secrets: SigningSecrets;
  readonly apiKeyHash: Buffer;
}

/**
 * In its own scope: any content type is taken as bytes (up to INSPECT_MAX_BODY) for the inspector
 * to read as a form, while the rest of the API keeps its JSON-only parsers.
 */
export async function registerInspectRoutes(app: FastifyInstance, deps: InspectDependencies): Promise<void> {
  const inspector = createInspector(deps.redis, deps.keys, deps.secrets);
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: INSPECT_MAX_BODY }, (_request, body, done) => done(null, body));
    const params = { type: 'object', required: ['token'], properties: { token: { type: 'string', maxLength: 200 } } } as const;
    const hostnameOf = async (token: string) => {
      const hostname = isInspectorToken(token) ? await inspector.hostnameOf(token) : undefined;
      if (!hostname) throw new MxhookError('NOT_FOUND', { message: 'no inspector with this token' });
      return hostname;
    };
    scope.get<{ Params: { token: string } }>(`${INSPECT_PATH_PREFIX}:token`, {
      config: { public: true }, schema: { summary: 'The POSTs an inspector route kept (API key)', params },
    }, async (request) => {
      // Public for the POST's sake (the hook skips it), so the key is checked here.
      if (!isAuthorized(request.headers.authorization, deps.apiKeyHash)) throw new MxhookError('UNAUTHORIZED');
      await hostnameOf(request.params.token);
      return { result: await inspector.list(request.params.token) };
    });
    scope.post<{ Params: { token: string }; Body: Buffer | undefined }>(`${INSPECT_PATH_PREFIX}:token`, {
      config: { public: true }, schema: { summary: 'Keep one POST (what mxhook\'s workers send to an inspector route; no key)', security: [], params },
    }, async (request) => {
      const hostname = await hostnameOf(request.params.token);
      try {
        const post = await inspector.record(request.params.token, hostname, request.headers, request.body ?? Buffer.alloc(0));
        return { kept: true, fields: post.fields.length, files: post.files.length };
      } catch (err) {
        if (err instanceof TypeError) throw new MxhookError('BAD_FORM', { message: `request body is not multipart/form-data: ${err.message}` });
        throw err;
      }
    });
  });
}
