/**
 * What /healthz answers, decided from what the process knows (pure; the HTTP layer only sends it).
 * `degraded`: running, but new mail is refused for now (Redis near full): a 200, since restarting
 * the process would not help and the API still works; a reason names why.
 */

export interface HealthInput {
  readonly redisReachable: boolean;
  /** From store/redis-memory.ts; absent when not watched. */
  readonly redisMemory?: { readonly level: 'ok' | 'high'; readonly usedBytes: number; readonly maxBytes: number; readonly highFraction: number };
}

export interface HealthReport {
  readonly httpStatus: 200 | 503;
  readonly body: { readonly status: 'ok' | 'degraded' | 'redis unavailable'; readonly reasons?: readonly string[] };
}

export function healthReport(input: HealthInput): HealthReport {
  if (!input.redisReachable) return { httpStatus: 503, body: { status: 'redis unavailable' } };
  const memory = input.redisMemory;
  if (memory?.level === 'high') {
    const percent = (share: number) => `${Math.round(share * 100)}%`;
    return {
      httpStatus: 200,
      body: {
        status: 'degraded',
        reasons: [`redis memory at ${percent(memory.usedBytes / memory.maxBytes)} of maxmemory (watermark ${percent(memory.highFraction)}): new mail is answered 451 4.3.0`],
      },
    };
  }
  return { httpStatus: 200, body: { status: 'ok' } };
}
