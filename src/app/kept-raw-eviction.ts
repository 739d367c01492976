/**
 * Kept raw messages give way to mail: while Redis uses more than the raw-retention share of its
 * maxmemory, the oldest kept copies are deleted, a batch at a time, re-reading memory between
 * batches, until usage is below that share. The message log's kept raw messages go first, then
 * the copies kept for attachment download links (store/attachment-links.ts). Returns stop().
 */
import type { Redis } from '../store/redis-client.ts';
import type { Logger } from 'pino';
import { evictLinkCopies } from '../store/attachment-links.ts';
import type { KeySpace } from '../store/keys.ts';
import { evictKeptRaw } from '../store/message-log-retention.ts';
import { usesShareOfMax, type RedisMemoryWatch } from '../store/redis-memory.ts';

const BATCH = 200;
/** Batches per tick at most, so one tick cannot hold Redis busy for long. */
const BATCHES_PER_TICK = 25;

export function startKeptRawEviction(
  redis: Redis, keys: KeySpace, options: { memory: RedisMemoryWatch; fraction: number; keptRaw: boolean; intervalMs?: number; logger: Logger },
): () => void {
  let running = false;
  const tick = async () => {
    let state = options.memory.state();
    const cut = { messages: 0, bytes: 0, linkCopies: 0, linkBytes: 0 };
    let logDone = !options.keptRaw;
    for (let i = 0; i < BATCHES_PER_TICK && usesShareOfMax(state, options.fraction); i++) {
      if (!logDone) {
        const kept = await evictKeptRaw(redis, keys, BATCH);
        cut.messages += kept.messages;
        cut.bytes += kept.bytes;
        logDone = kept.messages < BATCH;
      } else {
        const copies = await evictLinkCopies(redis, keys, BATCH);
        cut.linkCopies += copies.messages;
        cut.linkBytes += copies.bytes;
        if (copies.messages < BATCH) break;
      }
      state = await options.memory.check();
    }
    if (cut.messages || cut.linkCopies) options.logger.info({ event: 'kept_raw_evicted', ...cut, usedBytes: state.usedBytes, maxBytes: state.maxBytes });
  };
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    tick().catch((err: unknown) => options.logger.warn({ event: 'kept_raw_eviction_failed', err: String(err) })).finally(() => (running = false));
  }, options.intervalMs ?? 1_000);
  timer.unref();
  return () => clearInterval(timer);
}
