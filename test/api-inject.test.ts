/**
 * The Fastify app through inject() against a real Redis: the OpenAPI 3.1 document, schema
 * validation, and the API edges (dead-letter ids, % escapes, masked passwords, atomic create).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import type { KeySpace } from '../src/store/keys.ts';
import { apiAppPerFile } from './helpers/api-app.ts';

const KEY = 'inject-test-key';
const BASE = '/v3/user/webhooks/parse';
const suite = apiAppPerFile(KEY);
const { call } = suite;
let redis: Redis;
let keys: KeySpace;
let app: FastifyInstance;

beforeAll(() => {
  ({ app, redis, keys } = suite.api());
});

describe('/openapi.json', () => {
  it('validates as OpenAPI 3.1 and lists every endpoint', async () => {
    const res = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    const operations = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)).sort();
    const S = `${BASE}/settings`;
    const D = `${BASE}/dead-letters`;
    const E = '/v3/user/webhooks/event/settings';
    expect(operations).toEqual([
      'GET /healthz', 'GET /metrics', 'GET /openapi.json', 'GET /inspect/{token}', 'POST /inspect/{token}',
      `GET ${S}`, `POST ${S}`, `GET ${S}/{hostname}`, `PATCH ${S}/{hostname}`, `DELETE ${S}/{hostname}`,
      `GET ${S}/{hostname}/secrets`, `POST ${S}/{hostname}/secrets`, `DELETE ${S}/{hostname}/secrets/{id}`, `GET ${S}/{hostname}/stats`, `POST ${S}/{hostname}/test`,
      `GET ${BASE}/stats`, `GET ${BASE}/signed`,
      `GET ${D}`, `DELETE ${D}`, `POST ${D}/replay`, `GET ${D}/{id}`, `DELETE ${D}/{id}`, `POST ${D}/{id}/replay`,
      `GET ${BASE}/messages`, `GET ${BASE}/messages/{id}`, `GET ${BASE}/messages/{id}/raw`, `GET ${BASE}/messages/{id}/preview`, `POST ${BASE}/messages/{id}/redeliver`, `GET ${BASE}/events`,
      `GET ${BASE}/overview`,
      `GET ${E}`, `POST ${E}`, `GET ${E}/{id}`, `PATCH ${E}/{id}`, `DELETE ${E}/{id}`,
      `GET ${BASE}/attachments/{token}`,
    ].sort());
    // The request schemas are the ones that validate: the create body requires hostname and url.
    expect(doc.paths[S].post.requestBody.content['application/json'].schema.required).toEqual(['hostname', 'url']);
  });
});

describe('request validation by the schemas', () => {
  it('names the field: a string where a boolean belongs, an unknown field, a missing one', async () => {
    const res = await call('POST', `${BASE}/settings`, { hostname: 'v.example', url: 'https://a.example/', spam_check: 'true', colour: 1 });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual(expect.arrayContaining([
      { field: 'spam_check', message: 'spam_check must be true or false' },
      { field: 'colour', message: 'unknown field colour' },
    ]));
    expect((await call('PATCH', `${BASE}/settings/v.example`, { retry_policy: { max_age: 5 } })).body.errors[0].field).toBe('retry_policy.max_age');
  });

  it('takes a JSON body sent without a JSON content type (curl -d), as before', async () => {
    const res = await call('POST', `${BASE}/settings`, JSON.stringify({ hostname: 'curl.example', url: 'https://a.example/' }), { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.status).toBe(201);
  });

  it('refuses negative or zero paging values instead of using them', async () => {
    const stats = await call('GET', `${BASE}/stats?start_date=2026-01-01&end_date=2026-01-05&offset=-1`);
    expect(stats.status).toBe(400);
    expect(stats.body.errors[0].field).toBe('offset');
    expect((await call('GET', `${BASE}/dead-letters?limit=0`)).body.errors[0].field).toBe('limit');
    expect((await call('GET', `${BASE}/stats?start_date=2026-01-01&end_date=2026-01-05&offset=1&limit=2`)).body.map((d: { date: string }) => d.date)).toEqual(['2026-01-02', '2026-01-03']);
  });

  it('the overview takes 1 to 120 minutes (default 60) and refuses anything else with 400 naming the field', async () => {
    for (const bad of ['0', '121', 'abc', '1.5', '-3']) {
      const res = await call('GET', `${BASE}/overview?minutes=${bad}`);
      expect(res.status, `minutes=${bad}`).toBe(400);
      expect(res.body.errors).toEqual([{ field: 'minutes', message: 'minutes must be a whole number from 1 to 120' }]);
    }
    const empty = await call('GET', `${BASE}/overview`);
    expect(empty.status).toBe(200);
    expect(empty.body).toMatchObject({ window_minutes: 60, latency_ms: { p50: null, p99: null }, refusals: [], routes: [], queue: { waiting: 0, active: 0, delayed: 0, failed: 0 } });
    expect(empty.body.minutes).toHaveLength(60);
    expect((await call('GET', `${BASE}/overview?minutes=120`)).body.minutes).toHaveLength(120);
    expect((await app.inject({ method: 'GET', url: `${BASE}/overview` })).statusCode).toBe(401);
  });

  it('answers a malformed % escape in the path with 400, not 500', async () => {
    const res = await call('GET', `${BASE}/settings/%E0%A4%A`);
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toEqual({ field: null, message: expect.stringMatching(/not valid/) });
  });

  it('405 for a known path with another verb, 404 for an unknown one, 401 before either without the key', async () => {
    expect((await call('PUT', `${BASE}/settings`, {})).status).toBe(405);
    expect((await call('GET', '/v3/nothing')).status).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/v3/nothing' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
  });
});

describe('dead-letter ids', () => {
  it('an id that is not a delivery id is refused (400) and cannot delete a route index', async () => {
    const index = `${keys.deadIndex}:host:idx.example`;
    await redis.zadd(index, Date.now(), 'mabc0123.1');
    for (const id of ['host:idx.example', 'hostnames']) {
      const res = await call('DELETE', `${BASE}/dead-letters/${id}`);
      expect(res.status).toBe(400);
      expect(res.body.errors[0].field).toBe('id');
    }
    expect(await redis.zcard(index)).toBe(1);
    expect((await call('GET', `${BASE}/dead-letters/mabc0123.1`)).status).toBe(404);
    expect((await call('POST', `${BASE}/dead-letters/host:idx.example/replay`)).status).toBe(400);
  });

  it('the CLI refuses a bad id and a bad hostname (it used to list every route for bad/host)', async () => {
    const cli = (args: string[]) => promisify(execFile)(process.execPath, [path.resolve('src/cli.ts'), ...args, '--redis-url', suite.redisUrl(), '--redis-prefix', keys.prefix])
      .then(() => ({ code: 0, stderr: '' }), (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }));
    expect(await cli(['dead', 'list', 'bad/host'])).toEqual({ code: 2, stderr: 'mxhook: hostname: invalid hostname: bad/host\n' });
    expect(await cli(['dead', 'purge', 'host:idx.example'])).toMatchObject({ code: 2, stderr: expect.stringContaining('not a dead-letter id') });
    expect(await redis.zcard(`${keys.deadIndex}:host:idx.example`)).toBe(1);
  }, 30_000);
});

describe('routes and secrets', () => {
  it('GET /settings never shows a basic-auth password; sending the masked URL back keeps it', async () => {
    const created = await call('POST', `${BASE}/settings`, { hostname: 'pw.example', url: 'https://hook:s3cret@app.example/in' });
    expect(created.body.url).toBe('https://hook:***@app.example/in');
    expect(JSON.stringify((await call('GET', `${BASE}/settings`)).body)).not.toContain('s3cret');
    expect((await call('GET', `${BASE}/settings/pw.example`)).body.url).toBe('https://hook:***@app.example/in');
    const patched = await call('PATCH', `${BASE}/settings/pw.example`, { url: 'https://hook:***@app.example/in', send_raw: true });
    expect(patched.body).toMatchObject({ url: 'https://hook:***@app.example/in', send_raw: true });
    expect(JSON.parse((await redis.hget(keys.routes, 'pw.example'))!).url).toBe('https://hook:s3cret@app.example/in');
  });

  it('a route is created with its first secret or not at all', async () => {
    // The secret's write fails (wrong key type): the old two-step create left an unsigned route.
    await redis.set(`${keys.prefix}:route-secrets:atomic.example`, 'not a hash');
    const res = await call('POST', `${BASE}/settings`, { hostname: 'atomic.example', url: 'https://a.example/' });
    expect(res.status).toBe(500);
    expect((await call('GET', `${BASE}/settings/atomic.example`)).status).toBe(404);
  });

  it('deleting a route deletes its secrets with it', async () => {
    await call('POST', `${BASE}/settings`, { hostname: 'gone.example', url: 'https://a.example/' });
    await call('POST', `${BASE}/settings/gone.example/secrets`);
    expect((await call('DELETE', `${BASE}/settings/gone.example`)).status).toBe(204);
    expect(await redis.exists(`${keys.prefix}:route-secrets:gone.example`)).toBe(0);
  });
});
