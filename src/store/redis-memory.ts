/**
 * How full Redis is: `INFO memory` read on a timer (started by the caller, never at import).
 * Above the watermark (a share of maxmemory) the state is `high`: the SMTP intake then answers new
 * mail 451 4.3.0 and /healthz says degraded, until usage falls below it again. A Redis without
 * maxmemory is never high. A failed read keeps the last state (an unreachable Redis is reported
 * by the failing commands themselves).
 */
import { Cluster } from 'ioredis';
import type { Redis } from './redis-client.ts';

export type MemoryLevel = 'ok' | 'high';

export interface RedisMemoryState {
  readonly level: MemoryLevel;
  readonly usedBytes: number;
  /** 0: no maxmemory set. */
  readonly maxBytes: number;
  /** The watermark, a share of maxBytes. */
  readonly highFraction: number;
}

export interface RedisMemoryWatch {
  state(): RedisMemoryState;
  isHigh(): boolean;
  /** Reads INFO memory once and updates the state (the timer calls this). */
  check(): Promise<RedisMemoryState>;
  /** Checks every `intervalMs` until stop(). */
  start(intervalMs: number): void;
  stop(): void;
}

/** `used_memory` and `maxmemory` out of an INFO memory reply. */
export function parseMemoryInfo(info: string): { usedBytes: number; maxBytes: number } {
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { usedBytes: field('used_memory'), maxBytes: field('maxmemory') };
}

/**
 * used_memory and maxmemory of Redis; on a cluster, of its fullest primary (by share of its
 * maxmemory): any shard may live there, so new mail is refused once one node is high.
 */
async function readMemory(redis: Redis): Promise<{ usedBytes: number; maxBytes: number }> {
  if (!(redis instanceof Cluster)) return parseMemoryInfo(await redis.info('memory'));
  const nodes = await Promise.all(redis.nodes('master').map(async (node) => parseMemoryInfo(await node.info('memory'))));
  const share = (n: { usedBytes: number; maxBytes: number }) => (n.maxBytes > 0 ? n.usedBytes / n.maxBytes : 0);
  return nodes.reduce((fullest, n) => (share(n) > share(fullest) ? n : fullest), nodes[0] ?? { usedBytes: 0, maxBytes: 0 });
}

export function memoryLevel(usedBytes: number, maxBytes: number, highFraction: number): MemoryLevel {
  return maxBytes > 0 && usedBytes >= maxBytes * highFraction ? 'high' : 'ok';
}

/** Whether Redis uses at least `fraction` of its maxmemory (never, without maxmemory). */
export function usesShareOfMax(state: Pick<RedisMemoryState, 'usedBytes' | 'maxBytes'>, fraction: number): boolean {
  return memoryLevel(state.usedBytes, state.maxBytes, fraction) === 'high';
}

export function createRedisMemoryWatch(options: {
  readonly redis: Redis;
  /** MXHOOK_REDIS_MEMORY_HIGH. */
  readonly highFraction: number;
  /** Told once per change of level (not per check). */
  readonly onChange?: (state: RedisMemoryState) => void;
}): RedisMemoryWatch {
  const { redis, highFraction } = options;
  let current: RedisMemoryState = { level: 'ok', usedBytes: 0, maxBytes: 0, highFraction };
  let timer: NodeJS.Timeout | undefined;
  let checking: Promise<RedisMemoryState> | undefined;
  const check = async (): Promise<RedisMemoryState> => {
    const { usedBytes, maxBytes } = await readMemory(redis);
    const next: RedisMemoryState = { level: memoryLevel(usedBytes, maxBytes, highFraction), usedBytes, maxBytes, highFraction };
    const changed = next.level !== current.level;
    current = next;
    if (changed) options.onChange?.(next);
    return next;
  };
  return {
    state: () => current,
    isHigh: () => current.level === 'high',
    check,
    start(intervalMs) {
      if (timer) return;
      const tick = () => {
        // One read at a time: a slow Redis does not pile them up.
        checking ??= check().catch(() => current).finally(() => (checking = undefined));
      };
      tick();
      timer = setInterval(tick, intervalMs);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
