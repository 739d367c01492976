/**
 * Two ajv instances, as Fastify's docs suggest for different HTTP parts: JSON bodies are checked
 * as sent (no coercion: "true" is not a boolean), query strings and path parameters are text and
 * are coerced ("50" -> 50). Both report every problem at once, with the failing schema (for x-error).
 */
import { Ajv, type Options } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';

function makeAjv(options: Options): Ajv {
  const ajv = new Ajv({ allErrors: true, verbose: true, removeAdditional: false, useDefaults: true, strict: true, allowUnionTypes: true, ...options });
  ajv.addKeyword({ keyword: 'x-error', schemaType: 'string' });
  return ajv;
}

export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const bodies = makeAjv({ coerceTypes: false });
  const text = makeAjv({ coerceTypes: true });
  return ({ schema, httpPart }) => (httpPart === 'body' ? bodies : text).compile(schema as object);
}
