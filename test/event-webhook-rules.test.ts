/**
 * The event webhook with address rules, end to end: a message fanned out by rules gets one
 * `received` per delivery, each with that delivery's id and recipients, each before its `delivered`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestMxhook, TEST_API_KEY, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type ReceivedPost } from './helpers/receiver.ts';
import { sendMail } from './helpers/smtp.ts';
import { redisPerFile } from './helpers/suite.ts';

const suite = redisPerFile();
let mx: TestMxhook;

interface Event { event: string; delivery_id: string | null; hostname: string | null; envelope?: { to: string[] }; [k: string]: unknown }

const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`http://127.0.0.1:${mx.apiPort}/v3/user/webhooks${path}`, {
    method, headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: res.status === 204 ? undefined : await res.json() };
};
const eventsOf = (posts: readonly ReceivedPost[]): Event[] => posts.flatMap((p) => p.json as Event[]);

beforeAll(async () => {
  mx = await startTestMxhook(suite.redis.socketPath);
});
afterAll(async () => {
  await mx?.close();
});

describe('event webhook and address rules', () => {
  it('one received per rule delivery, with its own delivery id and recipients, before its delivered', async () => {
    const app = suite.later(await startReceiver());
    const support = suite.later(await startReceiver());
    expect((await api('POST', '/parse/settings', {
      hostname: 'rules.example', url: app.url, address_rules: [{ match: 'support', url: support.url }, { match: 'reply+*', url: support.url }],
    })).status).toBe(201);
    const dest = suite.later(await startReceiver());
    expect((await api('POST', '/event/settings', { url: dest.url, enabled: true, events: ['received', 'delivered'] })).status).toBe(201);
    await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: ['support@rules.example', 'reply+t9@rules.example', 'bob@rules.example'], subject: 'fan out', text: 'x' });
    await expect.poll(() => eventsOf(dest.posts).filter((e) => e.event === 'delivered').length, { timeout: 20_000 }).toBe(3);
    const events = eventsOf(dest.posts);
    const received = events.filter((e) => e.event === 'received');
    expect(received.map((e) => [e.delivery_id!.replace(/^.*\./, ''), e.envelope!.to]).sort()).toEqual([
      ['1', ['support@rules.example']], ['2', ['reply+t9@rules.example']], ['3', ['bob@rules.example']],
    ]);
    expect(received.find((e) => e.mailbox_hash === 't9')).toBeDefined();
    for (const r of received) {
      const delivered = events.findIndex((e) => e.event === 'delivered' && e.delivery_id === r.delivery_id);
      expect(delivered).toBeGreaterThan(events.indexOf(r));
    }
  });
});
