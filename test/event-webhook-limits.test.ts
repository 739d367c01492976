/**
 * The event webhook's bounds (docs/events.md): a destination that stays down (a black hole that
 * accepts connections and never answers) changes neither SMTP answer times nor the delivery rate
 * of a few hundred messages; the backlog is capped (oldest dropped, counted); a batch not accepted
 * within the max age is dropped (counted).
 */
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { addToBacklog, backlogSize, isInBacklog, readEventCounts } from '../src/store/event-destinations.ts';
import { createKeySpace } from '../src/store/keys.ts';
import { createRedis } from '../src/store/redis.ts';
import { startTestMxhook, TEST_API_KEY, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver } from './helpers/receiver.ts';
import { sendMail } from './helpers/smtp.ts';
import { redisPerFile } from './helpers/suite.ts';

const suite = redisPerFile();

const apiOf = (mx: TestMxhook) => async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`http://127.0.0.1:${mx.apiPort}/v3/user/webhooks${path}`, {
    method, headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: res.status === 204 ? undefined : await res.json() };
};

/** Accepts TCP connections and never answers: the most patient kind of down. */
async function blackHole() {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    connections: () => sockets.length,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Sends `count` messages over `parallel` connections; resolves with each SMTP answer time, ms. */
async function sendBurst(port: number, hostname: string, tag: string, count: number, parallel = 8): Promise<number[]> {
  const times: number[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < count) {
      const i = next++;
      const started = performance.now();
      await sendMail(port, { from: 'load@sender.test', to: `in@${hostname}`, subject: `${tag} ${i}`, text: 'load' });
      times.push(performance.now() - started);
    }
  }));
  return times;
}

const p95 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.95)];

describe('an event destination that stays down', () => {
  it('changes neither SMTP answer times nor the delivery rate of a few hundred messages', async () => {
    const mx = suite.later(await startTestMxhook(suite.redis.socketPath, ['--worker-concurrency', '16']));
    const api = apiOf(mx);
    const app = suite.later(await startReceiver());
    expect((await api('POST', '/parse/settings', { hostname: 'load.example', url: app.url })).status).toBe(201);
    const COUNT = 200;

    // Without a destination.
    let started = performance.now();
    const before = await sendBurst(mx.smtpPort!, 'load.example', 'before', COUNT);
    await app.waitFor(COUNT, 120_000);
    const baselineMs = performance.now() - started;

    // With one that accepts connections and never answers.
    const hole = suite.later(await blackHole());
    const dest = await api('POST', '/event/settings', { url: hole.url });
    expect(dest.status).toBe(201);
    started = performance.now();
    const during = await sendBurst(mx.smtpPort!, 'load.example', 'during', COUNT);
    // Generous bounds (a loaded 2-core machine): the same order of time, not a stall behind the destination.
    await app.waitFor(2 * COUNT, Math.max(3 * baselineMs, baselineMs + 20_000));
    const withDownMs = performance.now() - started;
    expect(withDownMs).toBeLessThan(Math.max(3 * baselineMs, baselineMs + 20_000));
    expect(p95(during)).toBeLessThan(Math.max(3 * p95(before), 2000));
    expect(Math.max(...during)).toBeLessThan(10_000);
    // It was really tried, and what it has not taken waits in its backlog.
    await expect.poll(() => hole.connections(), { timeout: 10_000 }).toBeGreaterThan(0);
    await expect.poll(async () => (await api('GET', `/event/settings/${dest.body.id}`)).body.backlog, { timeout: 10_000 }).toBeGreaterThanOrEqual(2 * COUNT);
  }, 300_000);
});

describe('a destination that never accepts', () => {
  it('has its batches dropped after the max age, counted in /metrics', async () => {
    const mx = suite.later(await startTestMxhook(suite.redis.socketPath, ['--event-webhook-max-age', '1500ms', '--event-webhook-retry-max-interval', '200ms']));
    const api = apiOf(mx);
    const app = suite.later(await startReceiver());
    const refusing = suite.later(await startReceiver(() => ({ status: 500 })));
    expect((await api('POST', '/parse/settings', { hostname: 'aged.example', url: app.url })).status).toBe(201);
    const dest = await api('POST', '/event/settings', { url: refusing.url, events: ['delivered'] });
    for (let i = 0; i < 3; i++) await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'in@aged.example', subject: `aged ${i}`, text: 'x' });
    await app.waitFor(3);
    await expect.poll(async () => (await readEventCounts(mx.redis, mx.keys)).dropped, { timeout: 20_000 }).toBe(3);
    expect((await api('GET', `/event/settings/${dest.body.id}`)).body.backlog).toBe(0);
    // Tried more than once before it was given up on.
    expect(refusing.posts.length).toBeGreaterThan(1);
    const metrics = await (await fetch(`http://127.0.0.1:${mx.apiPort}/metrics`)).text();
    expect(metrics).toMatch(/^mxhook_event_webhook_events_dropped 3$/m);
    expect(metrics).toMatch(/^mxhook_event_webhook_events_sent 0$/m);
  });
});

describe('the backlog cap', () => {
  it('drops the oldest batches first past the cap, and counts their events', async () => {
    const redis = createRedis(suite.redis.socketPath, 'patient', 'backlog-test');
    suite.afterwards(async () => redis.disconnect());
    const keys = createKeySpace('tcap');
    expect(await addToBacklog(redis, keys, 'evd_a', 'b1', 4, 10)).toEqual([]);
    expect(await addToBacklog(redis, keys, 'evd_a', 'b2', 4, 10)).toEqual([]);
    expect(await addToBacklog(redis, keys, 'evd_a', 'b3', 4, 10)).toEqual(['b1']);
    expect(await backlogSize(redis, keys, 'evd_a')).toBe(8);
    expect(await isInBacklog(redis, keys, 'evd_a', 'b1', 4)).toBe(false);
    expect(await isInBacklog(redis, keys, 'evd_a', 'b3', 4)).toBe(true);
    // One batch bigger than the cap is kept (the newest is never dropped); the older ones go.
    expect(await addToBacklog(redis, keys, 'evd_a', 'b4', 20, 10)).toEqual(['b2', 'b3']);
    expect(await backlogSize(redis, keys, 'evd_a')).toBe(20);
    expect((await readEventCounts(redis, keys)).dropped).toBe(12);
    // Another destination's backlog is its own.
    expect(await addToBacklog(redis, keys, 'evd_b', 'c1', 1, 10)).toEqual([]);
    expect(await backlogSize(redis, keys, 'evd_b')).toBe(1);
  });
});
