/**
 * What one POST attempt came to, as a value: the worker acts on it, nothing else decides.
 * SendGrid: 2xx done; 5xx retried; 4xx, 3xx and DNS failures dropped. We also retry timeouts,
 * connection errors, 408 and 429, and dead-letter instead of dropping.
 */
import { DESTINATION_REFUSED } from './destination-policy.ts';

export type AttemptResult =
  | { readonly kind: 'response'; readonly status: number; readonly retryAfter?: string | undefined }
  | { readonly kind: 'error'; readonly code: string | undefined; readonly message: string };

export type DeliveryOutcome =
  | { readonly kind: 'delivered'; readonly status: number }
  | { readonly kind: 'retry'; readonly reason: string; readonly retryAfterMs?: number }
  | { readonly kind: 'permanent'; readonly reason: string };

/** Errors that mean "nobody answers at that name": SendGrid drops at once; we dead-letter. */
const PERMANENT_ERROR_CODES = new Set(['ENOTFOUND', DESTINATION_REFUSED, 'ERR_INVALID_URL', 'ERR_TLS_CERT_ALTNAME_INVALID', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN']);

export function classifyAttempt(result: AttemptResult, now: number = Date.now()): DeliveryOutcome {
  if (result.kind === 'error') {
    const label = result.code ? `${result.code}: ${result.message}` : result.message;
    if (result.code && PERMANENT_ERROR_CODES.has(result.code)) return { kind: 'permanent', reason: label };
    return { kind: 'retry', reason: label };
  }
  const { status } = result;
  if (status >= 200 && status < 300) return { kind: 'delivered', status };
  if (status >= 500 || status === 408 || status === 429) {
    const retryAfterMs = parseRetryAfter(result.retryAfter, now);
    return { kind: 'retry', reason: `HTTP ${status}`, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  }
  if (status >= 300 && status < 400) return { kind: 'permanent', reason: `HTTP ${status}: redirects are not followed` };
  return { kind: 'permanent', reason: `HTTP ${status}` };
}

/** Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
