/**
 * The JSON payload format end to end: real SMTP in, the worker's application/json POST to a real
 * receiver, valid against docs/payload.schema.json (ajv), read by Node (JSON.parse) and by Python's
 * json module (test/helpers/parse_json.py), signed like multipart POSTs. A large attachment comes
 * as a download link that works (the raw message kept for it), refuses tampering (403) and
 * expires (410). The settings API's 400s for the new settings go through inject().
 */
import { createHash, createHmac } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { Webhook } from 'standardwebhooks';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildTestApiApp, type TestApiApp } from './helpers/api-app.ts';
import { startTestMxhook, TEST_API_KEY, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver, type ReceivedPost } from './helpers/receiver.ts';
import { sendMail, sendRaw } from './helpers/smtp.ts';
import { redisPerFile } from './helpers/suite.ts';

const suite = redisPerFile();
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const validate = new Ajv({ allErrors: true }).compile(JSON.parse(readFileSync('docs/payload.schema.json', 'utf8')) as object);
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
const SMALL = Buffer.from(Array.from({ length: 1500 }, (_, i) => (i * 31) % 256));
const LARGE = Buffer.from(Array.from({ length: 6000 }, (_, i) => (i * 7 + 3) % 256));

let mx: TestMxhook;
let app: Receiver;
let secret: string;
let bigSecret: string;

const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`http://127.0.0.1:${mx.apiPort}/v3/user/webhooks/parse${path}`, {
    method, headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
};

beforeAll(async () => {
  mx = suite.later(await startTestMxhook(suite.redis.socketPath, ['--attachment-url-ttl', '4s']));
  app = suite.later(await startReceiver());
  const created = await api('POST', '/settings', { hostname: 'json.example', url: app.url, payload_format: 'json', json_attachment_max: '2KB' });
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ payload_format: 'json', json_attachment_max: 2048 });
  secret = created.body.signing_secret as string;
  await mx.addRoute('raw.json.example', app.url, { payload_format: 'json', send_raw: true });
  bigSecret = (await api('POST', '/settings', { hostname: 'big.json.example', url: app.url, payload_format: 'json' })).body.signing_secret as string;
});

/** A JSON POST's body as an object (payload_format "json"); {} for any other POST. */
const bodyOf = (post: ReceivedPost) => (post.json ?? {}) as Record<string, unknown>;

async function postTo(to: string, send: () => Promise<unknown>): Promise<ReceivedPost> {
  const before = app.posts.length;
  await send();
  await app.waitFor(before + 1);
  return app.posts.find((p, i) => i >= before && (bodyOf(p).envelope as { to: string[] } | undefined)?.to[0] === to)!;
}

/** What Python's json module reads from the body. */
async function readWithPython(body: Buffer): Promise<{ fields: Record<string, unknown>; files: Record<string, { filename: string; type: string; size: number; sha256: string }>; links: Record<string, string> }> {
  const child = spawn('python3', [new URL('./helpers/parse_json.py', import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  child.stdin.end(body);
  const [code] = await once(child, 'close');
  if (code !== 0) throw new Error(`parse_json.py failed (${code}): ${Buffer.concat(err).toString()}`);
  return JSON.parse(Buffer.concat(out).toString('utf8'));
}

const schemaErrors = (body: unknown) => (validate(body) ? [] : validate.errors);

describe('payload_format json', () => {
  let post: ReceivedPost;
  let link: string;

  it('posts application/json with the multipart fields, valid against the schema, signed like multipart', async () => {
    post = await postTo('in@json.example', () => sendMail(mx.smtpPort!, {
      from: '"Jane \\"JJ\\" Doe" <jane@sender.test>', to: 'in@json.example', subject: 'Grüße "quoted" \\ back', text: 'line one\nline "two"\ttabbed',
      html: '<p>Hi <img src="cid:logo@x"></p>',
      attachments: [
        { filename: 'logo.png', content: PNG, cid: 'logo@x', contentType: 'image/png' },
        { filename: 'small.bin', content: SMALL, contentType: 'application/octet-stream' },
        { filename: 'große datei.pdf', content: LARGE, contentType: 'application/pdf' },
      ],
    }));
    expect(post.headers['content-type']).toBe('application/json');
    expect(Number(post.headers['content-length'])).toBe(post.rawBody.length);
    const body = bodyOf(post);
    expect(schemaErrors(body)).toEqual([]);
    expect(body).toMatchObject({
      subject: 'Grüße "quoted" \\ back', text: 'line one\nline "two"\ttabbed', sender_ip: '127.0.0.1', attachments: 3,
      envelope: { to: ['in@json.example'], from: 'jane@sender.test' }, charsets: { subject: 'UTF-8', text: 'UTF-8' },
      'content-ids': { 'logo@x': 'attachment1' },
    });
    expect(body.attachment1).toEqual({ filename: 'logo.png', type: 'image/png', size: PNG.length, content_id: 'logo@x', content: PNG.toString('base64') });
    expect(body.attachment2).toMatchObject({ filename: 'small.bin', size: SMALL.length, content: SMALL.toString('base64') });
    const large = body.attachment3 as { content?: string; download_url: string; download_expires_at: string; size: number; filename: string };
    expect(large).toMatchObject({ filename: 'große datei.pdf', type: 'application/pdf', size: LARGE.length });
    expect(large.content).toBeUndefined();
    expect(Date.parse(large.download_expires_at) - Date.now()).toBeGreaterThan(1000);
    link = large.download_url;
    expect(link).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${mx.apiPort}/v3/user/webhooks/parse/attachments/`));
    // Signed like multipart: the standardwebhooks library verifies (and parses) the JSON body.
    const verified = new Webhook(secret).verify(post.rawBody.toString('utf8'), {
      'webhook-id': String(post.headers['webhook-id']), 'webhook-timestamp': String(post.headers['webhook-timestamp']), 'webhook-signature': String(post.headers['webhook-signature']),
    });
    expect((verified as { subject: string }).subject).toBe(body.subject);
  });

  it('is read the same by Python\'s json module', async () => {
    const read = await readWithPython(post.rawBody);
    expect(read.fields).toMatchObject({ subject: bodyOf(post).subject, text: bodyOf(post).text, attachments: 3, envelope: bodyOf(post).envelope });
    expect(read.files).toEqual({
      attachment1: { filename: 'logo.png', type: 'image/png', size: PNG.length, sha256: sha256(PNG) },
      attachment2: { filename: 'small.bin', type: 'application/octet-stream', size: SMALL.length, sha256: sha256(SMALL) },
    });
    expect(read.links).toEqual({ attachment3: link });
  });

  it('a download link serves the attachment without the API key, though the message itself is gone; a tampered one gets 403; it expires with 410', async () => {
    const messageId = String(post.headers['x-mxhook-delivery-id']).split('.')[0]!;
    // Delivered and released (no raw retention): only the link's copy is left.
    await expect.poll(() => mx.redis.exists(mx.keys.messageRaw(messageId)), { timeout: 5000 }).toBe(0);
    const res = await fetch(link);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(LARGE);
    expect(res.headers.get('content-type')).toBe('application/pdf');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="gro_e datei.pdf"; filename*=UTF-8''${encodeURIComponent('große datei.pdf')}`);
    expect(res.headers.get('content-security-policy')).toContain('sandbox');

    const token = link.slice(link.lastIndexOf('/') + 1);
    const [id, part, expires, signature] = token.split('.') as [string, string, string, string];
    const base = link.slice(0, link.lastIndexOf('/') + 1);
    const flipped = `${signature.slice(0, -1)}${signature.endsWith('A') ? 'B' : 'A'}`;
    for (const altered of [`${id}.${part}.${expires}.${flipped}`, `${id}.2.${expires}.${signature}`, `${id}.${part}.${Number(expires) + 3600}.${signature}`, 'not-a-token']) {
      const refused = await fetch(base + altered);
      expect(refused.status, altered).toBe(403);
      expect(await refused.json()).toEqual({ errors: [{ field: null, message: 'not a valid attachment link (altered, or not made by this server)' }] });
    }
    await expect.poll(async () => (await fetch(link)).status, { timeout: 10_000, interval: 250 }).toBe(410);
    expect(await (await fetch(link)).json()).toEqual({ errors: [{ field: null, message: 'this attachment link has expired' }] });
  });

  it('raw mode: `email` when the message is UTF-8, `email_base64` (byte for byte) when it is not', async () => {
    const latin1 = Buffer.concat([Buffer.from('Subject: caf\xe9\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n', 'latin1'), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0d, 0x0a])]);
    const eightBit = await postTo('a@raw.json.example', () => sendRaw(mx.smtpPort!, { from: 'a@sender.test', to: ['a@raw.json.example'] }, latin1));
    expect(schemaErrors(eightBit.json)).toEqual([]);
    expect(bodyOf(eightBit).email).toBeUndefined();
    const bytes = Buffer.from(bodyOf(eightBit).email_base64 as string, 'base64');
    expect(bytes.subarray(bytes.length - latin1.length)).toEqual(latin1);
    const utf8 = await postTo('b@raw.json.example', () => sendRaw(mx.smtpPort!, { from: 'a@sender.test', to: ['b@raw.json.example'] },
      Buffer.from('Subject: ünïcode\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nünïcode "body"\r\n', 'utf8')));
    expect(schemaErrors(utf8.json)).toEqual([]);
    expect(bodyOf(utf8).email).toContain('ünïcode');
    expect((await readWithPython(utf8.rawBody)).fields.email).toBe(bodyOf(utf8).email);
  });

  it('a body over the in-memory limit (a 3.5 MB attachment, a 1.5 MB text) is streamed, exact, and still signed', async () => {
    const big = Buffer.from(Array.from({ length: 3_500_000 }, (_, i) => (i * 13) % 256));
    const text = `${'"quoted" \\ back\tslash\u0001 <b>&</b> ü\n'.repeat(40_000)}end`;
    const post = await postTo('c@big.json.example', () => sendMail(mx.smtpPort!, {
      from: 'a@sender.test', to: 'c@big.json.example', subject: 'big', text, attachments: [{ filename: 'big.bin', content: big }],
    }));
    expect(Number(post.headers['content-length'])).toBe(post.rawBody.length);
    expect(post.rawBody.length).toBeGreaterThan(4 * 1024 * 1024);
    expect(schemaErrors(post.json)).toEqual([]);
    expect(bodyOf(post).text).toBe(text);
    expect(Buffer.from((bodyOf(post).attachment1 as { content: string }).content, 'base64')).toEqual(big);
    const read = await readWithPython(post.rawBody);
    expect(read.files.attachment1!.sha256).toBe(sha256(big));
    const key = Buffer.from(bigSecret.replace(/^whsec_/, ''), 'base64');
    const expected = createHmac('sha256', key).update(`${post.headers['webhook-id']}.${post.headers['webhook-timestamp']}.`).update(post.rawBody).digest('base64');
    expect(String(post.headers['webhook-signature'])).toBe(`v1,${expected}`);
  }, 30_000);
});

describe('settings API: payload_format and json_attachment_max', () => {
  let inject: TestApiApp;
  beforeAll(async () => {
    inject = suite.later(await buildTestApiApp(suite.redis.socketPath, 'json-key'));
  });
  const create = async (extra: Record<string, unknown>) => {
    const res = await inject.app.inject({
      method: 'POST', url: '/v3/user/webhooks/parse/settings', headers: { authorization: 'Bearer json-key' },
      payload: { hostname: `h${Math.random().toString(36).slice(2, 8)}.example.com`, url: 'https://app.example.com/in', ...extra },
    });
    return { status: res.statusCode, body: JSON.parse(res.body) };
  };

  it.each([
    [{ payload_format: 'xml' }, 'payload_format', 'payload_format must be "multipart" or "json"'],
    [{ payload_format: 'json', json_attachment_max: 'lots' }, 'json_attachment_max', 'json_attachment_max must be a number of bytes or a size such as "10MB", at most 1GB'],
    [{ json_attachment_max: -1 }, 'json_attachment_max', 'json_attachment_max must be a number of bytes or a size such as "10MB", at most 1GB'],
    [{ json_attachment_max: '2GB' }, 'json_attachment_max', 'json_attachment_max must be a number of bytes or a size such as "10MB", at most 1GB'],
  ])('400 for %j', async (extra, field, message) => {
    const res = await create(extra);
    expect(res.status).toBe(400);
    expect(res.body.errors).toContainEqual({ field, message });
  });

  it('"multipart" is the default and is not stored as an extension', async () => {
    const res = await create({ payload_format: 'multipart' });
    expect(res.status).toBe(201);
    expect(res.body.payload_format).toBeUndefined();
  });
});
