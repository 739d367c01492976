/**
 * Event-webhook destinations through the API (inject() on a real Redis): the SendGrid-shaped
 * settings endpoints, precise 400s for bad URLs, events and custom_args, masked passwords, a
 * destination's start by Redis's clock.
 */
import { describe, expect, it, vi } from 'vitest';
import { streamIdBefore } from '../src/deliver/event-dispatcher.ts';
import { logKeys } from '../src/store/message-log.ts';
import { apiAppPerFile } from './helpers/api-app.ts';

const E = '/v3/user/webhooks/event/settings';
const suite = apiAppPerFile('event-api-key');
const { call } = suite;

describe('event settings API', () => {
  it('creates (201 with an id and a secret shown once), lists, gets, patches and deletes', async () => {
    const made = await call('POST', E, { url: 'https://user:pw@events.example/hook', enabled: true, events: ['delivered', 'received'] });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ url: 'https://user:***@events.example/hook', enabled: true, events: ['received', 'delivered'], backlog: 0 });
    expect(made.body.id).toMatch(/^evd_[0-9a-f]{12}$/);
    expect(made.body.signing_secret).toMatch(/^whsec_/);
    const { id } = made.body;

    const list = await call('GET', E);
    expect(list.status).toBe(200);
    expect(list.body.result.map((d: { id: string }) => d.id)).toContain(id);
    expect(JSON.stringify(list.body)).not.toContain('whsec_');
    expect(JSON.stringify(list.body)).not.toContain('pw@');

    const one = await call('GET', `${E}/${id}`);
    expect(one.body).toEqual({ ...list.body.result.find((d: { id: string }) => d.id === id) });
    // Sending back the masked URL keeps the password.
    const patched = await call('PATCH', `${E}/${id}`, { url: one.body.url, enabled: false });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ enabled: false, url: 'https://user:***@events.example/hook' });
    const stored = JSON.parse((await suite.api().redis.hget(`${suite.api().keys.prefix}:events:dests`, id))!);
    expect(stored.url).toBe('https://user:pw@events.example/hook');

    expect((await call('DELETE', `${E}/${id}`)).status).toBe(204);
    expect((await call('GET', `${E}/${id}`)).status).toBe(404);
    expect((await call('DELETE', `${E}/${id}`)).status).toBe(404);
  });

  it('defaults to every event, enabled', async () => {
    const made = await call('POST', E, { url: 'http://hooks.example/all' });
    expect(made.status).toBe(201);
    expect(made.body.enabled).toBe(true);
    expect(made.body.events).toEqual(['received', 'delivered', 'deferred', 'dead_lettered', 'replayed', 'redelivered', 'refused', 'route_circuit_open', 'route_circuit_closed']);
  });

  it('refuses bad destination URLs and events with precise 400s', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{}, 'url', /url is required/],
      [{ url: 'ftp://x.example/' }, 'url', /http or https/],
      [{ url: 'http://169.254.169.254/latest' }, 'url', /link-local|metadata/],
      [{ url: 'http://[fe80::1]/x' }, 'url', /never allowed/],
      [{ url: 'https://' }, 'url', /http or https|absolute URL/],
      [{ url: 'https://a.example/', events: ['delivered', 'opened'] }, 'events', /unknown event "opened"/],
      [{ url: 'https://a.example/', events: [] }, 'events', /events/],
      [{ url: 'https://a.example/', enabled: 'yes' }, 'enabled', /true or false/],
      [{ url: 'https://a.example/', colour: 'red' }, 'colour', /unknown field colour/],
    ];
    for (const [body, field, message] of cases) {
      const res = await call('POST', E, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.errors[0].field, JSON.stringify(body)).toBe(field);
      expect(res.body.errors[0].message, JSON.stringify(body)).toMatch(message);
    }
    expect((await call('PATCH', `${E}/evd_000000000000`, { enabled: true })).status).toBe(404);
    expect((await call('GET', `${E}/nonsense`)).status).toBe(404);
  });

  it('receives what is logged after it was made by Redis\'s clock, which stream ids use (the API host\'s may be ahead)', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 3_600_000 });
    let made: Awaited<ReturnType<typeof call>>;
    try {
      made = await call('POST', E, { url: 'http://hooks.example/clock' });
    } finally {
      vi.useRealTimers();
    }
    expect(made.status).toBe(201);
    const logged = (await suite.api().redis.xadd(logKeys(suite.api().keys).events, '*', 'e', '{}'))!;
    const stored = JSON.parse((await suite.api().redis.hget(`${suite.api().keys.prefix}:events:dests`, made.body.id))!);
    expect(streamIdBefore(logged, stored.since)).toBe(false);
  });
});

describe('custom_args on a route', () => {
  it('is kept as a flat string map and removed with null', async () => {
    const made = await call('POST', '/v3/user/webhooks/parse/settings', { hostname: 'args.example', url: 'https://app.example/in', custom_args: { tenant: 't-42', plan: 'gold' } });
    expect(made.status).toBe(201);
    expect(made.body.custom_args).toEqual({ tenant: 't-42', plan: 'gold' });
    expect((await call('GET', '/v3/user/webhooks/parse/settings/args.example')).body.custom_args).toEqual({ tenant: 't-42', plan: 'gold' });
    const cleared = await call('PATCH', '/v3/user/webhooks/parse/settings/args.example', { custom_args: null });
    expect(cleared.status).toBe(200);
    expect(cleared.body.custom_args).toBeUndefined();
  });

  it('refuses a shape that is not a flat string map, or too large, with precise 400s', async () => {
    const cases: [unknown, RegExp][] = [
      [{ tenant: { id: 1 } }, /custom_args\.tenant must be a string .*flat map.*got object/],
      [{ n: 5 }, /custom_args\.n must be a string.*got number/],
      [{ list: ['a'] }, /custom_args\.list must be a string.*got an array/],
      [['a'], /custom_args must be an object/],
      ['tenant=1', /custom_args/],
      [{ 'bad key': 'x' }, /key "bad key" must be/],
      [{ big: 'x'.repeat(10_001) }, /at most 10000 are allowed/],
      [Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])), /51 keys; at most 50/],
    ];
    for (const [customArgs, message] of cases) {
      const res = await call('POST', '/v3/user/webhooks/parse/settings', { hostname: 'bad-args.example', url: 'https://app.example/in', custom_args: customArgs });
      expect(res.status, JSON.stringify(customArgs).slice(0, 80)).toBe(400);
      expect(res.body.errors[0].field).toBe('custom_args');
      expect(res.body.errors[0].message).toMatch(message);
    }
  });
});
