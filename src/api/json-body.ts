/**
 * Request bodies: JSON (secure-json-parse, as Fastify's default) under any content type, as the
 * hand-rolled API took them, so `curl -d` without a JSON content type keeps working. An empty body
 * parses to undefined: a route without a body schema (POST .../secrets) takes it, one with a
 * schema answers "request body is empty".
 */
import type { FastifyInstance } from 'fastify';
import { MxhookError } from '../domain/errors.ts';

export function acceptJsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (!text.trim()) return done(null, undefined);
    parseJson(request, text, (err, parsed) => {
      if (err) done(new MxhookError('BAD_JSON', { message: `request body is not valid JSON: ${err.message}` }), undefined);
      else done(null, parsed);
    });
  });
}
