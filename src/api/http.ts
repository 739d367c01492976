/** Small HTTP helpers for the API: JSON bodies in and out, errors from the catalogue. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorCatalogue, MxhookError, type ErrorCode } from '../domain/errors.ts';

const MAX_BODY_BYTES = 64 * 1024;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** SendGrid's error shape: `{"errors":[{"field":..,"message":..}]}`. */
export function sendError(res: ServerResponse, error: MxhookError): void {
  const status = (errorCatalogue[error.code] as { http?: number }).http ?? 500;
  const errors = error.fieldErrors.length ? error.fieldErrors : [{ field: null, message: error.message }];
  sendJson(res, status, { errors });
}

export function fail(code: ErrorCode, message?: string): never {
  throw new MxhookError(code, message ? { message } : {});
}

export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) fail('BODY_TOO_LARGE');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) fail('BAD_JSON', 'request body is empty; send a JSON object');
  try {
    return JSON.parse(text);
  } catch (err) {
    fail('BAD_JSON', `request body is not valid JSON: ${(err as Error).message}`);
  }
}
