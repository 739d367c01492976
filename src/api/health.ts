/** GET /healthz: the answer a load balancer or orchestrator acts on; one function to extend. */
import type { Redis } from 'ioredis';

export interface Health {
  /** 200 while the process can serve, 503 when it cannot. */
  readonly httpStatus: 200 | 503;
  readonly body: { readonly status: string };
}

export async function checkHealth(redis: Redis): Promise<Health> {
  const redisOk = await redis.ping().then(() => true, () => false);
  return redisOk ? { httpStatus: 200, body: { status: 'ok' } } : { httpStatus: 503, body: { status: 'redis unavailable' } };
}
