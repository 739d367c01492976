/** Retry policy and dead letters (docs/delivery.md), against a real receiver that fails on purpose. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptsKey } from '../src/store/attempts.ts';
import { getDeadLetter } from '../src/store/dead-letters.ts';
import { readRouteStats } from '../src/store/route-stats.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver } from './helpers/receiver.ts';
import { sendMail } from './helpers/smtp.ts';

let redis: TestRedis;
let mx: TestMxhook;
const receivers: Receiver[] = [];

beforeAll(async () => {
  redis = await startTestRedis();
  mx = await startTestMxhook(redis.socketPath, ['--request-timeout', '1s']);
});
afterAll(async () => {
  await mx?.close();
  await Promise.all(receivers.map((r) => r.close()));
  await redis?.cleanup();
});

async function routeTo(hostname: string, responder: Parameters<typeof startReceiver>[0], extra: Record<string, unknown> = {}) {
  const receiver = await startReceiver(responder);
  receivers.push(receiver);
  await mx.addRoute(hostname, receiver.url, extra);
  return receiver;
}

async function send(to: string, subject: string): Promise<string> {
  const info = await sendMail(mx.smtpPort!, { from: 'a@sender.test', to, subject, text: 'body' });
  return /queued as ([0-9a-z]+)/.exec(info.response)![1];
}

/** The delivery is finished (job gone, raw message released) once both keys are gone. */
const settled = (id: string) => expect.poll(async () => mx.redis.exists(mx.keys.messageRaw(id), `${mx.keys.prefix}:deliveries:${id}.1`), { timeout: 15_000 }).toBe(0);

describe('retries', () => {
  it('500 then 200: retried once, exactly one success, same delivery id, attempt numbers 1 and 2', async () => {
    const app = await routeTo('flaky.example.com', (_post, i) => ({ status: i === 0 ? 500 : 200 }));
    const id = await send('in@flaky.example.com', 'flaky');
    const posts = await app.waitFor(2);
    await settled(id);
    expect(app.posts).toHaveLength(2);
    expect(posts.map((p) => p.headers['x-mxhook-attempt'])).toEqual(['1', '2']);
    expect(posts[0].headers['x-mxhook-delivery-id']).toBe(`${id}.1`);
    expect(posts[1].headers['x-mxhook-delivery-id']).toBe(`${id}.1`);
    expect(posts[1].fields.subject).toBe('flaky');
    expect(await getDeadLetter(mx.redis, mx.keys, `${id}.1`)).toBeUndefined();
    // No longer counted as retrying, and its attempt history went with the delivery.
    expect(await readRouteStats(mx.redis, mx.keys, 'flaky.example.com')).toMatchObject({ received: 1, delivered: 1, retrying: 0 });
    expect(await mx.redis.exists(attemptsKey(mx.keys, `${id}.1`), `${mx.keys.prefix}:delivery:${id}.1:retrying`)).toBe(0);
  });

  it('retries 408, 429 and 503, then delivers', async () => {
    const codes = [408, 429, 503, 204];
    const app = await routeTo('busy.example.com', (_post, i) => ({ status: codes[i] }));
    const id = await send('in@busy.example.com', 'busy');
    await app.waitFor(4);
    await settled(id);
    expect(app.posts).toHaveLength(4);
  });

  it('honours Retry-After (seconds) when it asks for more than the schedule', async () => {
    const app = await routeTo('later.example.com', (_post, i) => (i === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
    const id = await send('in@later.example.com', 'later');
    const posts = await app.waitFor(2);
    await settled(id);
    expect(app.posts).toHaveLength(2);
    // The schedule alone would retry after 50-100 ms; Retry-After asked for 1 s.
    expect(posts[1].receivedAt - posts[0].receivedAt).toBeGreaterThanOrEqual(900);
  });

  it('a timed-out POST is retried', async () => {
    let calls = 0;
    const app = await routeTo('slow.example.com', async () => {
      if (calls++ === 0) await new Promise((resolve) => setTimeout(resolve, 2500));
      return { status: 200 };
    });
    const id = await send('in@slow.example.com', 'slow');
    await app.waitFor(2);
    await settled(id);
    expect(calls).toBe(2);
  });
});

describe('dead letters', () => {
  it('400 is not retried: the delivery is dead-lettered with its reason, attempts and raw message', async () => {
    const app = await routeTo('strict.example.com', () => ({ status: 400, body: 'unknown mailbox' }));
    const id = await send('in@strict.example.com', 'rejected');
    await app.waitFor(1);
    await settled(id);
    expect(app.posts).toHaveLength(1);
    const dead = await getDeadLetter(mx.redis, mx.keys, `${id}.1`);
    expect(dead).toMatchObject({ deliveryId: `${id}.1`, messageId: id, hostname: 'strict.example.com', mailFrom: 'a@sender.test', recipients: ['in@strict.example.com'] });
    expect(dead!.reason).toMatch(/^HTTP 400; response excerpt: "unknown mailbox/);
    expect(dead!.attempts).toEqual([expect.objectContaining({ attempt: 1, outcome: 'permanent', status: 400 })]);
    const kept = await mx.redis.getBuffer(mx.keys.deadLetterRaw(`${id}.1`));
    expect(kept!.toString()).toContain('Subject: rejected');
    expect(await mx.redis.ttl(mx.keys.deadLetterRaw(`${id}.1`))).toBeGreaterThan(6 * 86_400);
  });

  it('a redirect is not followed and is dead-lettered', async () => {
    const app = await routeTo('moved.example.com', () => ({ status: 301, headers: { location: 'http://127.0.0.1:1/elsewhere' } }));
    const id = await send('in@moved.example.com', 'moved');
    await app.waitFor(1);
    await settled(id);
    expect((await getDeadLetter(mx.redis, mx.keys, `${id}.1`))!.reason).toMatch(/^HTTP 301/);
  });

  it('an app that stays down is retried until the route max age, then dead-lettered (nothing dropped)', async () => {
    // Port 1 on loopback: connection refused every time.
    await mx.addRoute('down.example.com', 'http://127.0.0.1:1/hook', { retry_policy: { fast_interval: '100ms', max_age: '1s' } });
    const id = await send('in@down.example.com', 'down');
    await settled(id);
    const dead = await getDeadLetter(mx.redis, mx.keys, `${id}.1`);
    expect(dead!.reason).toMatch(/^gave up after \d+ attempts: /);
    expect(dead!.attempts[0].reason).toMatch(/ECONNREFUSED/);
    expect(dead!.attempts.length).toBeGreaterThanOrEqual(3);
    expect(dead!.attempts.every((a) => a.outcome === 'retry')).toBe(true);
  });
});
