/** GET /healthz: the answer a load balancer or orchestrator acts on (decided in domain/health.ts). */
import type { Redis } from '../store/redis-client.ts';
import { healthReport, type HealthReport } from '../domain/health.ts';
import type { RedisMemoryState } from '../store/redis-memory.ts';

export type Health = HealthReport;

export async function checkHealth(redis: Redis, redisMemory?: () => RedisMemoryState): Promise<Health> {
  const redisReachable = await redis.ping().then(() => true, () => false);
  return healthReport({ redisReachable, ...(redisMemory ? { redisMemory: redisMemory() } : {}) });
}
