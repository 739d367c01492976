/**
 * The SendGrid-compatible settings API: authentication, CRUD, mail flow and stats through the real
 * HTTP server (its listener wiring); error answers through Fastify's inject() on the same data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { startTestMxhook, TEST_API_KEY, type TestMxhook } from './helpers/mxhook.ts';
import { sendMail } from './helpers/smtp.ts';
import { buildTestApiApp, type TestApiApp } from './helpers/api-app.ts';

let redis: TestRedis;
let mx: TestMxhook;
let base: string;
let injected: TestApiApp;

beforeAll(async () => {
  redis = await startTestRedis();
  mx = await startTestMxhook(redis.socketPath, [], ['api', 'smtp']);
  base = `http://127.0.0.1:${mx.apiPort}`;
  injected = await buildTestApiApp(redis.socketPath, TEST_API_KEY, mx.keys.prefix);
});
afterAll(async () => {
  await injected?.close();
  await mx?.close();
  await redis?.cleanup();
});

async function api(method: string, path: string, body?: unknown, options: { key?: string | null; raw?: string } = {}) {
  const key = options.key === undefined ? TEST_API_KEY : options.key;
  const res = await fetch(base + path, {
    method,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined || options.raw ? { 'content-type': 'application/json' } : {}) },
    body: options.raw ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** The same request through inject(): no socket, same app, same Redis data. */
async function inject(method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT', path: string, body?: unknown, options: { raw?: string } = {}) {
  const res = await injected.app.inject({
    method, url: path,
    headers: { authorization: `Bearer ${TEST_API_KEY}`, ...(body !== undefined || options.raw ? { 'content-type': 'application/json' } : {}) },
    ...(options.raw !== undefined ? { payload: options.raw } : body !== undefined ? { payload: JSON.stringify(body) } : {}),
  });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined };
}

const SETTINGS = '/v3/user/webhooks/parse/settings';

describe('authentication', () => {
  it('refuses requests without the API key or with a wrong one (401, SendGrid error shape)', async () => {
    for (const key of [null, 'wrong-key']) {
      const res = await api('GET', SETTINGS, undefined, { key });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ errors: [{ field: null, message: expect.stringMatching(/authorization required/) }] });
    }
  });

  it('serves /healthz without a key', async () => {
    expect(await api('GET', '/healthz', undefined, { key: null })).toEqual({ status: 200, body: { status: 'ok' } });
  });
});

describe('parse settings CRUD', () => {
  it('creates, lists, gets, patches and deletes a setting', async () => {
    const answer = await api('POST', SETTINGS, { hostname: 'Parse.Crud.Example', url: 'https://app.example/hook', spam_check: false, send_raw: false });
    // The first signing secret comes with the creation answer, and only there.
    const { signing_secret, signing_secret_id, ...setting } = answer.body;
    expect(signing_secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(signing_secret_id).toMatch(/^sec_[0-9a-f]{12}$/);
    const created = { status: answer.status, body: setting };
    expect(created).toEqual({ status: 201, body: { hostname: 'parse.crud.example', url: 'https://app.example/hook', spam_check: false, send_raw: false } });
    expect(JSON.stringify((await api('GET', SETTINGS)).body)).not.toContain('whsec_');

    const list = await api('GET', SETTINGS);
    expect(list.status).toBe(200);
    expect(list.body.result).toContainEqual(created.body);

    expect(await api('GET', `${SETTINGS}/parse.crud.example`)).toEqual({ status: 200, body: created.body });
    expect((await api('GET', `${SETTINGS}/PARSE.crud.example`)).status).toBe(200);

    const patched = await api('PATCH', `${SETTINGS}/parse.crud.example`, { send_raw: true, url: 'https://app.example/raw' });
    expect(patched).toEqual({ status: 200, body: { hostname: 'parse.crud.example', url: 'https://app.example/raw', spam_check: false, send_raw: true } });
    expect((await api('GET', `${SETTINGS}/parse.crud.example`)).body.send_raw).toBe(true);

    expect(await api('DELETE', `${SETTINGS}/parse.crud.example`)).toEqual({ status: 204, body: undefined });
    expect((await api('GET', `${SETTINGS}/parse.crud.example`)).status).toBe(404);
  });

  it('a created route takes mail at once; a deleted one refuses it', async () => {
    await api('POST', SETTINGS, { hostname: 'live.example', url: 'http://127.0.0.1:1/hook' });
    await expect(sendMail(mx.smtpPort!, { from: 'a@s.test', to: 'x@live.example', subject: 's', text: 't' })).resolves.toBeTruthy();
    await api('DELETE', `${SETTINGS}/live.example`);
    await expect(sendMail(mx.smtpPort!, { from: 'a@s.test', to: 'x@live.example', subject: 's', text: 't' })).rejects.toMatchObject({ responseCode: 550 });
  });

  it('defaults spam_check and send_raw to false and accepts the retry_policy extension', async () => {
    const res = await api('POST', SETTINGS, { hostname: 'defaults.example', url: 'http://app.example/', retry_policy: { max_age: '24h' } });
    expect(res).toEqual({ status: 201, body: {
      hostname: 'defaults.example', url: 'http://app.example/', spam_check: false, send_raw: false, retry_policy: { max_age: '24h' },
      signing_secret: expect.any(String), signing_secret_id: expect.any(String),
    } });
  });
});

describe('errors', () => {
  it('duplicate hostname -> 409 with a hostname error', async () => {
    await inject('POST', SETTINGS, { hostname: 'dup.example', url: 'https://a.example/' });
    const res = await inject('POST', SETTINGS, { hostname: 'DUP.example', url: 'https://b.example/' });
    expect(res.status).toBe(409);
    expect(res.body.errors[0].field).toBe('hostname');
  });

  it('invalid fields -> 400 listing each problem', async () => {
    const res = await inject('POST', SETTINGS, { hostname: 'not a host', url: 'ftp://x.example/', spam_check: 'yes', colour: 'blue' });
    expect(res.status).toBe(400);
    const fields = res.body.errors.map((e: { field: string }) => e.field).sort();
    expect(fields).toEqual(['colour', 'hostname', 'spam_check', 'url']);
  });

  it('refuses cloud-metadata and link-local URLs at creation', async () => {
    for (const url of ['http://169.254.169.254/latest/meta-data', 'http://[fe80::1]/', 'http://[::ffff:169.254.169.254]/']) {
      const res = await inject('POST', SETTINGS, { hostname: 'ssrf.example', url });
      expect(res.status).toBe(400);
      expect(res.body.errors[0]).toMatchObject({ field: 'url', message: expect.stringMatching(/never allowed/) });
    }
  });

  it('missing url, bad JSON, empty body, non-object body -> 400', async () => {
    expect((await inject('POST', SETTINGS, { hostname: 'nourl.example' })).body.errors).toEqual([{ field: 'url', message: 'url is required' }]);
    const bad = await inject('POST', SETTINGS, undefined, { raw: '{"hostname": ' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].message).toMatch(/not valid JSON/);
    expect((await inject('POST', SETTINGS, undefined, { raw: ' ' })).status).toBe(400);
    expect((await inject('POST', SETTINGS, [1, 2])).status).toBe(400);
  });

  it('oversized body -> 413 (over the real socket)', async () => {
    const res = await api('POST', SETTINGS, { hostname: 'big.example', url: `https://a.example/${'x'.repeat(70_000)}` });
    expect(res.status).toBe(413);
  });

  it('patching a hostname, or an unknown one, is refused', async () => {
    await inject('POST', SETTINGS, { hostname: 'fixed.example', url: 'https://a.example/' });
    const res = await inject('PATCH', `${SETTINGS}/fixed.example`, { hostname: 'other.example' });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].field).toBe('hostname');
    expect((await inject('PATCH', `${SETTINGS}/missing.example`, { send_raw: true })).status).toBe(404);
    expect((await inject('DELETE', `${SETTINGS}/missing.example`)).status).toBe(404);
  });

  it('unknown paths -> 404, wrong verbs -> 405', async () => {
    expect((await inject('GET', '/v3/nothing')).status).toBe(404);
    expect((await inject('PUT', SETTINGS, {})).status).toBe(405);
  });
});

describe('stats', () => {
  it('counts received messages per day in SendGrid shape', async () => {
    await api('POST', SETTINGS, { hostname: 'stats.example', url: 'http://127.0.0.1:1/hook' });
    const today = new Date().toISOString().slice(0, 10);
    const before = await api('GET', `/v3/user/webhooks/parse/stats?start_date=${today}`);
    const count = before.body[0].stats[0].metrics.received;
    await sendMail(mx.smtpPort!, { from: 'a@s.test', to: 'x@stats.example', subject: 's', text: 't' });
    const after = await api('GET', `/v3/user/webhooks/parse/stats?start_date=${today}&end_date=${today}`);
    expect(after).toEqual({ status: 200, body: [{ date: today, stats: [{ metrics: { received: count + 1 } }] }] });
  });

  it('requires a valid start_date', async () => {
    expect((await inject('GET', '/v3/user/webhooks/parse/stats')).body.errors).toEqual([{ field: 'start_date', message: 'start_date is required' }]);
    expect((await inject('GET', '/v3/user/webhooks/parse/stats?start_date=yesterday')).status).toBe(400);
  });
});
