/**
 * Kept raw messages give way to mail: while Redis uses more than the raw-retention share of its
 * maxmemory, the oldest kept copies are deleted, a batch at a time, re-reading memory between
 * batches, until usage is below that share. Returns stop().
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { KeySpace } from '../store/keys.ts';
import { evictKeptRaw } from '../store/message-log-retention.ts';
import { usesShareOfMax, type RedisMemoryWatch } from '../store/redis-memory.ts';

const BATCH = 200;
/** Batches per tick at most, so one tick cannot hold Redis busy for long. */
const BATCHES_PER_TICK = 25;

export function startKeptRawEviction(
  redis: Redis, keys: KeySpace, options: { memory: RedisMemoryWatch; fraction: number; intervalMs?: number; logger: Logger },
): () => void {
  let running = false;
  const tick = async () => {
    let state = options.memory.state();
    let messages = 0;
    let bytes = 0;
    for (let i = 0; i < BATCHES_PER_TICK && usesShareOfMax(state, options.fraction); i++) {
      const cut = await evictKeptRaw(redis, keys, BATCH);
      messages += cut.messages;
      bytes += cut.bytes;
      if (cut.messages < BATCH) break;
      state = await options.memory.check();
    }
    if (messages) options.logger.info({ event: 'kept_raw_evicted', messages, bytes, usedBytes: state.usedBytes, maxBytes: state.maxBytes });
  };
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    tick().catch((err: unknown) => options.logger.warn({ event: 'kept_raw_eviction_failed', err: String(err) })).finally(() => (running = false));
  }, options.intervalMs ?? 1_000);
  timer.unref();
  return () => clearInterval(timer);
}
