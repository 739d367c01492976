/**
 * The route settings strip_replies and raw_8bit through the settings API (Fastify inject() against
 * a real Redis): precise 400s for bad values, stored and answered when set, absent at their defaults.
 */
import { describe, expect, it } from 'vitest';
import { apiAppPerFile } from './helpers/api-app.ts';

const SETTINGS = '/v3/user/webhooks/parse/settings';
const { call } = apiAppPerFile('reply-settings-key');

describe('strip_replies and raw_8bit settings', () => {
  it('refuses values of the wrong type or outside the choices, naming the field', async () => {
    const bad = await call('POST', SETTINGS, { hostname: 'bad.example', url: 'https://a.example/', strip_replies: 'yes', raw_8bit: 'base64' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual(expect.arrayContaining([
      { field: 'strip_replies', message: 'strip_replies must be true or false' },
      { field: 'raw_8bit', message: 'raw_8bit must be "keep" or "encode"' },
    ]));
    expect((await call('POST', SETTINGS, { hostname: 'bad.example', url: 'https://a.example/', raw_8bit: true })).body.errors)
      .toEqual([{ field: 'raw_8bit', message: 'raw_8bit must be "keep" or "encode"' }]);
    expect((await call('GET', `${SETTINGS}/bad.example`)).status).toBe(404);
  });

  it('stores and answers them when set, and leaves them out at their defaults', async () => {
    const plain = await call('POST', SETTINGS, { hostname: 'plain.example', url: 'https://a.example/', strip_replies: false, raw_8bit: 'keep' });
    expect(plain.status).toBe(201);
    expect(plain.body).not.toHaveProperty('strip_replies');
    expect(plain.body).not.toHaveProperty('raw_8bit');
    const created = await call('POST', SETTINGS, { hostname: 'ext.example', url: 'https://a.example/', send_raw: true, strip_replies: true, raw_8bit: 'encode' });
    expect(created.status).toBe(201);
    expect(await call('GET', `${SETTINGS}/ext.example`)).toMatchObject({ status: 200, body: { strip_replies: true, raw_8bit: 'encode', send_raw: true } });
    const patched = await call('PATCH', `${SETTINGS}/ext.example`, { raw_8bit: 'keep' });
    expect(patched.status).toBe(200);
    expect(patched.body).not.toHaveProperty('raw_8bit');
    expect(patched.body.strip_replies).toBe(true);
    expect((await call('PATCH', `${SETTINGS}/ext.example`, { strip_replies: 1 })).body.errors).toEqual([{ field: 'strip_replies', message: 'strip_replies must be true or false' }]);
  });
});
