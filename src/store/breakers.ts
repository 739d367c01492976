/** Circuit-breaker state per destination origin, shared by every worker through Redis. */
import type { Redis } from './redis-client.ts';
import { CLOSED, type BreakerState } from '../domain/circuit-breaker.ts';
import type { KeySpace } from './keys.ts';

const breakerKey = (keys: KeySpace, origin: string) => `${keys.prefix}:breaker:${origin}`;

export async function readBreaker(redis: Redis, keys: KeySpace, origin: string): Promise<BreakerState> {
  const json = await redis.get(breakerKey(keys, origin));
  return json ? (JSON.parse(json) as BreakerState) : CLOSED;
}

/** Last writer wins: two workers failing at once may count one failure less, which is harmless. */
export async function writeBreaker(redis: Redis, keys: KeySpace, origin: string, state: BreakerState): Promise<void> {
  if (state.failures === 0 && state.openUntil === 0) await redis.del(breakerKey(keys, origin));
  else await redis.set(breakerKey(keys, origin), JSON.stringify(state), 'EX', 86_400);
}
