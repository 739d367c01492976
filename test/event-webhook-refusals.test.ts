/**
 * SMTP refusals as `refused` events (docs/events.md) on a real Redis and the real pipeline: the
 * minutes counted while no dispatcher ran are published once one runs again, each once; a publish
 * Redis refused is not marked done, so its minute goes out on the next try; a minute's counts live
 * as long as the overview's other minute figures.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createKeySpace } from '../src/store/keys.ts';
import { logKeys, MINUTE_FIGURES_TTL_S } from '../src/store/message-log.ts';
import { logRefusal, publishRefusalMinute } from '../src/store/message-log-retention.ts';
import { createRedis } from '../src/store/redis.ts';
import { startTestMxhook, TEST_API_KEY } from './helpers/mxhook.ts';
import { startReceiver, type ReceivedPost } from './helpers/receiver.ts';
import { redisPerFile } from './helpers/suite.ts';

const suite = redisPerFile();

/** A connection of the test's own, closed after the file. */
function connection(): Redis {
  const redis = createRedis(suite.redis.socketPath, 'patient', 'test-refusals');
  suite.afterwards(async () => redis.disconnect());
  return redis;
}

const refusedOf = (posts: readonly ReceivedPost[]) => posts.flatMap((p) => p.json as Record<string, unknown>[]).filter((e) => e.event === 'refused');

describe('refused events', () => {
  it('counted while no dispatcher ran: each minute is published once a dispatcher runs again', async () => {
    const first = await startTestMxhook(suite.redis.socketPath);
    const receiver = suite.later(await startReceiver());
    const made = await fetch(`http://127.0.0.1:${first.apiPort}/v3/user/webhooks/event/settings`, {
      method: 'POST', headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: receiver.url, events: ['refused'] }),
    });
    expect(made.status).toBe(201);
    const { keys } = first;
    await first.close();

    // Counted (by an SMTP process elsewhere) in two minutes of the down time, well before the last finished one.
    const slot = Math.floor(Date.now() / 60_000) - 4;
    const redis = connection();
    const pipe = redis.pipeline();
    logRefusal(pipe, keys, 'RELAY_DENIED', 'missed.example', slot * 60_000 + 1000, 4);
    logRefusal(pipe, keys, 'RECIPIENT_DROPPED', 'missed.example', (slot + 1) * 60_000 + 1000, 2);
    await pipe.exec();

    suite.later(await startTestMxhook(suite.redis.socketPath, ['--redis-prefix', keys.prefix]));
    await expect.poll(() => refusedOf(receiver.posts).filter((e) => e.hostname === 'missed.example').length, { timeout: 15_000, interval: 100 }).toBe(2);
    expect(refusedOf(receiver.posts).filter((e) => e.hostname === 'missed.example').sort((a, b) => Number(a.minute) - Number(b.minute))).toEqual([
      expect.objectContaining({ reason: 'RELAY_DENIED', count: 4, minute: slot * 60 }),
      expect.objectContaining({ reason: 'RECIPIENT_DROPPED', count: 2, minute: (slot + 1) * 60 }),
    ]);
    // Marked done with the publish: asking again publishes nothing.
    expect(await publishRefusalMinute(redis, keys, slot)).toBe(0);
    expect(await publishRefusalMinute(redis, keys, slot + 1)).toBe(0);
  });

  it('a publish Redis refused is not marked done: the minute is published on the next try', async () => {
    const redis = connection();
    const keys = createKeySpace(`t${randomBytes(4).toString('hex')}`);
    const slot = Math.floor(Date.now() / 60_000) - 2;
    const pipe = redis.pipeline();
    logRefusal(pipe, keys, 'RELAY_DENIED', 'spam.example', slot * 60_000, 3);
    await pipe.exec();
    // The stream is not a stream: every XADD fails.
    await redis.set(logKeys(keys).events, 'not a stream');
    await expect(publishRefusalMinute(redis, keys, slot)).rejects.toThrow(/WRONGTYPE/);
    await redis.del(logKeys(keys).events);
    expect(await publishRefusalMinute(redis, keys, slot)).toBe(1);
    expect(await publishRefusalMinute(redis, keys, slot)).toBe(0);
    const entries = await redis.xrange(logKeys(keys).events, '-', '+');
    expect(entries.map(([, fields]) => JSON.parse(fields[1]!))).toEqual([
      expect.objectContaining({ event: 'smtp.refused', reason: 'RELAY_DENIED', hostname: 'spam.example', count: 3, minute: slot * 60 }),
    ]);
  });

  it('a minute\'s counts live as long as the overview\'s other minute figures (its 120-minute window sees them all)', async () => {
    const redis = connection();
    const keys = createKeySpace(`t${randomBytes(4).toString('hex')}`);
    const now = Date.now();
    const pipe = redis.pipeline();
    logRefusal(pipe, keys, 'RELAY_DENIED', 'spam.example', now);
    await pipe.exec();
    const ttl = await redis.ttl(logKeys(keys).refusals('m', Math.floor(now / 60_000)));
    expect(ttl).toBeGreaterThan(MINUTE_FIGURES_TTL_S - 5);
    expect(ttl).toBeLessThanOrEqual(MINUTE_FIGURES_TTL_S);
  });
});
