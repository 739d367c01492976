import { describe, expect, it } from 'vitest';
import { classifyAttempt, parseRetryAfter } from './outcome.ts';

const NOW = Date.parse('2026-03-10T12:00:00Z');
const response = (status: number, retryAfter?: string) => ({ kind: 'response' as const, status, retryAfter });
const failure = (code: string | undefined, message = 'failed') => ({ kind: 'error' as const, code, message });

describe('classifyAttempt: HTTP responses', () => {
  it.each([200, 201, 202, 204, 299])('%d is delivered', (status) => {
    expect(classifyAttempt(response(status), NOW)).toEqual({ kind: 'delivered', status });
  });

  it.each([500, 502, 503, 504, 599])('%d is retried', (status) => {
    expect(classifyAttempt(response(status), NOW)).toEqual({ kind: 'retry', reason: `HTTP ${status}` });
  });

  it.each([408, 429])('%d is retried', (status) => {
    expect(classifyAttempt(response(status), NOW)).toEqual({ kind: 'retry', reason: `HTTP ${status}` });
  });

  it.each([301, 302, 303, 307, 308])('%d is permanent: redirects are not followed', (status) => {
    const outcome = classifyAttempt(response(status), NOW);
    expect(outcome.kind).toBe('permanent');
    expect(outcome).toMatchObject({ reason: expect.stringMatching(new RegExp(`^HTTP ${status}.*redirect`)) });
  });

  it.each([400, 401, 403, 404, 405, 410, 413, 415, 422])('%d is permanent', (status) => {
    expect(classifyAttempt(response(status), NOW)).toEqual({ kind: 'permanent', reason: `HTTP ${status}` });
  });
});

describe('classifyAttempt: Retry-After', () => {
  it('honours delta-seconds on 503 and 429', () => {
    expect(classifyAttempt(response(503, '120'), NOW)).toEqual({ kind: 'retry', reason: 'HTTP 503', retryAfterMs: 120_000 });
    expect(classifyAttempt(response(429, ' 30 '), NOW)).toMatchObject({ kind: 'retry', retryAfterMs: 30_000 });
  });

  it('honours an HTTP date, measured from now', () => {
    const outcome = classifyAttempt(response(503, 'Tue, 10 Mar 2026 12:15:00 GMT'), NOW);
    expect(outcome).toEqual({ kind: 'retry', reason: 'HTTP 503', retryAfterMs: 15 * 60_000 });
  });

  it('ignores an unreadable value', () => {
    const outcome = classifyAttempt(response(503, 'whenever'), NOW);
    expect(outcome).toEqual({ kind: 'retry', reason: 'HTTP 503' });
    expect('retryAfterMs' in outcome).toBe(false);
  });

  it('is not looked at for a success or a permanent failure', () => {
    expect(classifyAttempt(response(200, '60'), NOW)).toEqual({ kind: 'delivered', status: 200 });
    expect(classifyAttempt(response(404, '60'), NOW)).toEqual({ kind: 'permanent', reason: 'HTTP 404' });
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds', () => {
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter('1', NOW)).toBe(1000);
    expect(parseRetryAfter('3600', NOW)).toBe(3_600_000);
  });

  it('reads an IMF-fixdate relative to now', () => {
    expect(parseRetryAfter('Tue, 10 Mar 2026 13:00:00 GMT', NOW)).toBe(3_600_000);
  });

  it('gives 0 for a date in the past', () => {
    expect(parseRetryAfter('Tue, 10 Mar 2026 11:00:00 GMT', NOW)).toBe(0);
  });

  it('gives undefined for nothing or garbage', () => {
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
    expect(parseRetryAfter('', NOW)).toBeUndefined();
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
  });
});

describe('classifyAttempt: connection errors', () => {
  it.each(['ECONNREFUSED', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT'])(
    '%s is retried',
    (code) => {
      expect(classifyAttempt(failure(code, 'socket trouble'), NOW)).toEqual({ kind: 'retry', reason: `${code}: socket trouble` });
    },
  );

  it('retries an error with no code, using its message as the reason', () => {
    expect(classifyAttempt(failure(undefined, 'aborted'), NOW)).toEqual({ kind: 'retry', reason: 'aborted' });
  });

  it.each(['ENOTFOUND', 'ERR_INVALID_URL', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT'])('%s is permanent', (code) => {
    expect(classifyAttempt(failure(code, 'nope'), NOW)).toEqual({ kind: 'permanent', reason: `${code}: nope` });
  });
});
