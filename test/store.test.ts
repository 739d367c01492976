/** Store functions against a real redis-server: reading raw messages back, the route counters. */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeySpace } from '../src/store/keys.ts';
import { execOrThrow, loadMessage, loadRawInPieces, releaseDelivery } from '../src/store/messages.ts';
import { endedCount, markRetrying, readRouteStats } from '../src/store/route-stats.ts';
import { createRedis } from '../src/store/redis.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';

let server: TestRedis;
let redis: Redis;
const keys = createKeySpace(`t${randomBytes(4).toString('hex')}`);

beforeAll(async () => {
  server = await startTestRedis();
  redis = createRedis(server.socketPath, 'patient', 'test-store', true);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.cleanup();
});

async function store(id: string, raw: Buffer): Promise<void> {
  await redis.set(keys.messageRaw(id), raw);
  await redis.hset(keys.messageMeta(id), { meta: JSON.stringify({ size: raw.length }) });
}

describe('loading a stored message', () => {
  it('reads a large message whole in several pieces, after the head already read', async () => {
    const raw = randomBytes(9 * 1024 * 1024 + 123);
    await store('big', raw);
    const head = await loadMessage(redis, keys, 'big', 256 * 1024);
    expect(head!.raw.length).toBe(256 * 1024);
    const whole = await loadRawInPieces(redis, keys, 'big', raw.length, head!.raw);
    expect(whole!.equals(raw)).toBe(true);
  });

  it('answers undefined, not a short or padded buffer, when the stored message is not the expected size', async () => {
    const raw = randomBytes(5 * 1024 * 1024);
    await store('short', raw);
    const head = raw.subarray(0, 1024);
    expect(await loadRawInPieces(redis, keys, 'short', raw.length + 10, head)).toBeUndefined();
    expect(await loadRawInPieces(redis, keys, 'short', raw.length - 10, head)).toBeUndefined();
    expect(await loadRawInPieces(redis, keys, 'gone', raw.length, head)).toBeUndefined();
  });

  it('answers undefined for a message that is not stored', async () => {
    expect(await loadMessage(redis, keys, 'missing', 1024)).toBeUndefined();
  });
});

describe('the retrying gauge', () => {
  const run = async (step: (multi: ReturnType<Redis['multi']>) => void) => {
    const multi = redis.multi();
    step(multi);
    await execOrThrow(multi);
  };

  it('counts a delivery once however often it is marked; its release takes it out once', async () => {
    await redis.sadd(keys.messagePending('g'), 'g.1', 'g.2');
    await run((m) => markRetrying(m, keys, 'gauge.example', 'g.1'));
    await run((m) => markRetrying(m, keys, 'gauge.example', 'g.1'));
    await run((m) => markRetrying(m, keys, 'gauge.example', 'g.2'));
    expect((await readRouteStats(redis, keys, 'gauge.example')).retrying).toBe(2);
    const ended = endedCount(keys, 'gauge.example', 'g.1', 'delivered');
    expect(await releaseDelivery(redis, keys, 'g', 'g.1', [], undefined, ended)).toBe('released');
    expect(await releaseDelivery(redis, keys, 'g', 'g.1', [], undefined, ended)).toBe('already-finished');
    expect(await readRouteStats(redis, keys, 'gauge.example')).toMatchObject({ retrying: 1, delivered: 1 });
  });

  it('is not lowered by a delivery that never waited for a retry', async () => {
    await redis.sadd(keys.messagePending('n'), 'n.1');
    await releaseDelivery(redis, keys, 'n', 'n.1', [], undefined, endedCount(keys, 'other.example', 'n.1', 'delivered'));
    expect(await redis.hget(`${keys.prefix}:route-stats:other.example`, 'retrying')).toBeNull();
  });
});
