/**
 * Every API failure in SendGrid's shape `{"errors":[{"field":..,"message":..}]}`, with the status
 * of its catalogue code: our MxhookErrors, schema validation (the field named), Fastify's own body
 * and URL errors, and anything unexpected (500, logged, no detail to the client).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { errorCatalogue, MxhookError, type ErrorCode, type FieldError } from '../domain/errors.ts';

export function statusOf(code: ErrorCode): number {
  return (errorCatalogue[code] as { http?: number }).http ?? 500;
}

export function sendMxhookError(reply: FastifyReply, error: MxhookError): FastifyReply {
  const errors = error.fieldErrors.length ? error.fieldErrors : [{ field: null, message: error.message }];
  return reply.code(statusOf(error.code)).type('application/json').send({ errors });
}

/** What ajv reports (verbose: the failing schema comes with it). */
interface SchemaProblem {
  readonly keyword: string;
  readonly instancePath: string;
  readonly params: Record<string, unknown>;
  readonly message?: string;
  readonly parentSchema?: Record<string, unknown>;
}

/** One error per field, worded for people: `url is required`, `spam_check must be true or false`. */
export function fieldErrorsOf(problems: readonly SchemaProblem[], context: string | undefined): FieldError[] {
  const byField = new Map<string | null, string>();
  for (const problem of problems) {
    const path = problem.instancePath.replace(/^\//, '').replace(/\//g, '.');
    let field: string | null = path || null;
    let message: string;
    if (problem.keyword === 'required') {
      field = [path, String(problem.params.missingProperty)].filter(Boolean).join('.');
      message = `${field} is required`;
    } else if (problem.keyword === 'additionalProperties') {
      field = [path, String(problem.params.additionalProperty)].filter(Boolean).join('.');
      message = `unknown field ${field}`;
    } else if (!field && problem.keyword === 'type') {
      message = context === 'body' ? 'body must be a JSON object' : `${context ?? 'request'} is not valid`;
    } else if (typeof problem.parentSchema?.['x-error'] === 'string') {
      message = problem.parentSchema['x-error'];
    } else if (problem.keyword === 'type' && problem.params.type === 'boolean') {
      message = `${field} must be true or false`;
    } else {
      message = `${field ?? context ?? 'request'} ${problem.message ?? 'is not valid'}`;
    }
    if (!byField.has(field)) byField.set(field, message);
  }
  return [...byField].map(([field, message]) => ({ field, message }));
}

/** Fastify's codes for a body it could not take, mapped to ours. */
const FRAMEWORK_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_JSON',
  FST_ERR_BAD_URL: 'BAD_REQUEST_PATH',
};

/**
 * The path a log line names: the matched route's pattern (`/attachments/:token`, never the token
 * itself, which is a credential), or the path without its query when no route matched.
 */
export function loggedPath(request: FastifyRequest): string {
  return request.routeOptions.url ?? request.url.split('?')[0]!.replace(/(\/attachments\/)[^/]+/, '$1:token');
}

export function createErrorHandler(logger: Logger) {
  return (error: FastifyError | MxhookError, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    if (error instanceof MxhookError) return sendMxhookError(reply, error);
    if (error.validation) {
      if (error.validationContext === 'body' && request.body === undefined) {
        return sendMxhookError(reply, new MxhookError('BAD_JSON', { message: 'request body is empty; send a JSON object' }));
      }
      return sendMxhookError(reply, new MxhookError('VALIDATION_FAILED', { fieldErrors: fieldErrorsOf(error.validation as SchemaProblem[], error.validationContext) }));
    }
    const mapped = FRAMEWORK_CODES[error.code];
    if (mapped) return sendMxhookError(reply, new MxhookError(mapped));
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ errors: [{ field: null, message: error.message }] });
    }
    logger.error({ event: 'api_error', method: request.method, path: loggedPath(request), err: String(error) });
    return reply.code(500).send({ errors: [{ field: null, message: 'internal error' }] });
  };
}
