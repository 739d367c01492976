/**
 * The built-in inspector end to end: `mxhook routes add HOST --inspect` (the real CLI), a mail over
 * SMTP, the worker's signed POST to the API's /inspect/{token}, and what `mxhook inspect` and
 * `GET /inspect/{token}` show; unknown tokens, missing keys, oversized and non-form bodies refused.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSPECT_MAX_BODY } from '../src/api/inspect.ts';
import { startTestMxhook, TEST_API_KEY, type TestMxhook } from './helpers/mxhook.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { sendMail } from './helpers/smtp.ts';

const exec = promisify(execFile);
let redis: TestRedis;
let mx: TestMxhook;

beforeAll(async () => {
  redis = await startTestRedis();
  mx = await startTestMxhook(redis.socketPath);
});
afterAll(async () => {
  await mx?.close();
  await redis?.cleanup();
});

const cli = (...args: string[]) => exec(process.execPath, [path.resolve('src/cli.ts'), ...args, '--redis-url', redis.socketPath,
  '--redis-prefix', mx.keys.prefix, '--api-host', '127.0.0.1', '--api-port', String(mx.apiPort)]);

describe('inspector', () => {
  let inspectUrl: string;

  it('keeps the POST a route made with --inspect gets, field by field, signature checked', async () => {
    const added = await cli('routes', 'add', 'try.test', '--inspect');
    inspectUrl = /-> the inspector \((http:\/\/127\.0\.0\.1:\d+\/inspect\/[\w-]+)\)/.exec(added.stdout)![1];
    const pdf = Buffer.from('%PDF-1.4 tiny');
    await sendMail(mx.smtpPort!, { from: 'ann@sender.test', to: 'hello@try.test', subject: 'Look', text: 'body text', attachments: [{ filename: 'a.pdf', content: pdf, contentType: 'application/pdf' }] });
    const { stdout } = await cli('inspect', 'try.test', '--wait');
    expect(stdout).toMatch(/^POST #1 to try\.test at \S+ \(delivery \S+, attempt 1, \d+ bytes, signature valid\)$/m);
    expect(stdout).toMatch(/^ {2}subject +Look$/m);
    expect(stdout).toMatch(/^ {2}text +body text/m);
    expect(stdout).toMatch(new RegExp(`^ {2}attachment1 +file a\\.pdf \\(application/pdf, ${pdf.length} bytes, sha256 `, 'm'));

    // The same over the API, with the key only.
    expect((await fetch(inspectUrl)).status).toBe(401);
    const listed = await fetch(inspectUrl, { headers: { authorization: `Bearer ${TEST_API_KEY}` } });
    const { result } = await listed.json();
    expect(result).toHaveLength(1);
    expect(result[0].fields.find((f: { name: string }) => f.name === 'subject').value).toBe('Look');
  });

  it('keeps a JSON POST too (routes add --inspect --json): fields as text, attachments as files', async () => {
    await cli('routes', 'add', 'json.try.test', '--inspect', '--json');
    const pdf = Buffer.from('%PDF-1.4 json');
    await sendMail(mx.smtpPort!, { from: 'ann@sender.test', to: 'hello@json.try.test', subject: 'As JSON', text: 'json body', attachments: [{ filename: 'b.pdf', content: pdf, contentType: 'application/pdf' }] });
    const { stdout } = await cli('inspect', 'json.try.test', '--wait');
    expect(stdout).toMatch(/signature valid\)$/m);
    expect(stdout).toMatch(/^ {2}subject +As JSON$/m);
    expect(stdout).toMatch(/^ {2}envelope +\{"to":\["hello@json\.try\.test"\]/m);
    expect(stdout).toMatch(new RegExp(`^ {2}attachment1 +file b\\.pdf \\(application/pdf, ${pdf.length} bytes, sha256 `, 'm'));
  });

  it('says when a route does not go to the inspector, or has no POST yet', async () => {
    await mx.addRoute('app.test', 'http://127.0.0.1:9/inbound');
    await expect(cli('inspect', 'app.test')).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('not to the inspector') });
    await cli('routes', 'add', 'quiet.test', '--inspect');
    expect((await cli('inspect', 'quiet.test')).stdout).toBe('no POST to quiet.test yet\n');
  });

  it('refuses unknown tokens, bodies that are not forms, and bodies over the limit', async () => {
    const base = new URL(inspectUrl).origin;
    expect((await fetch(`${base}/inspect/${'x'.repeat(24)}`, { method: 'POST', body: 'a' })).status).toBe(404);
    const notForm = await fetch(inspectUrl, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(notForm.status).toBe(400);
    expect((await notForm.json()).errors[0].message).toMatch(/not multipart\/form-data/);
    const big = await fetch(inspectUrl, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=b' }, body: Buffer.alloc(INSPECT_MAX_BODY + 1, 97) }).catch((err) => err);
    // Either the 413 arrives or the connection is cut while the rest is still being sent.
    if (!(big instanceof Error)) expect(big.status).toBe(413);
    // Nothing was kept from any of them.
    const listed = await (await fetch(inspectUrl, { headers: { authorization: `Bearer ${TEST_API_KEY}` } })).json();
    expect(listed.result).toHaveLength(1);
  });

  it('routes rm forgets the inspector too: its URL then answers 404', async () => {
    await cli('routes', 'rm', 'try.test');
    expect((await fetch(inspectUrl, { headers: { authorization: `Bearer ${TEST_API_KEY}` } })).status).toBe(404);
  });
});
