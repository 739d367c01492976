/**
 * Attachment download links under load and abuse: the raw copies kept for them are bounded by
 * MXHOOK_RAW_RETENTION_MAX_BYTES (oldest dropped first, the link then 404, counted in /metrics)
 * and give way under memory pressure; downloads are capped per process (503 + Retry-After); the
 * token never reaches the log; without MXHOOK_PUBLIC_URL a remote app gets no loopback link; and
 * raw mode's `email` is streamed, exact, for a large message. Real SMTP, Redis and receivers.
 */
import { createHmac } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAttachmentLinks } from '../src/app/attachment-links.ts';
import { loadConfig } from '../src/config/load.ts';
import { attachmentToken } from '../src/domain/attachment-token.ts';
import { extractAttachment } from '../src/parse/attachment-extract.ts';
import { createAttachmentSecret, evictLinkCopies } from '../src/store/attachment-links.ts';
import { buildTestApiApp } from './helpers/api-app.ts';
import { startTestMxhook, TEST_API_KEY, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver, type ReceivedPost } from './helpers/receiver.ts';
import { sendMail, sendRaw } from './helpers/smtp.ts';
import { redisPerFile } from './helpers/suite.ts';

const suite = redisPerFile();
const ATTACHMENT = Buffer.from(Array.from({ length: 16_000 }, (_, i) => (i * 7 + 3) % 256));

let mx: TestMxhook;
let app: Receiver;

beforeAll(async () => {
  // Room for one ~22 KB message's copy, not two.
  mx = suite.later(await startTestMxhook(suite.redis.socketPath, ['--raw-retention-max-bytes', '40KB']));
  app = suite.later(await startReceiver());
  await mx.addRoute('links.example', app.url, { payload_format: 'json', json_attachment_max: 1024 });
});

async function postTo(to: string, send: () => Promise<unknown>): Promise<ReceivedPost> {
  const before = app.posts.length;
  await send();
  await app.waitFor(before + 1);
  return app.posts.find((p, i) => i >= before && (p.json?.envelope as { to: string[] } | undefined)?.to[0] === to)!;
}

async function linkOf(to: string): Promise<string> {
  const post = await postTo(to, () => sendMail(mx.smtpPort!, {
    from: 'a@sender.test', to, subject: to, text: 'see attached', attachments: [{ filename: 'big.bin', content: ATTACHMENT }],
  }));
  return (post.json!.attachment1 as { download_url: string }).download_url;
}

const dropped = async (reason: string) => {
  const text = await (await fetch(`http://127.0.0.1:${mx.apiPort}/metrics`)).text();
  return Number(new RegExp(`^mxhook_message_log_dropped\\{reason="${reason}"\\} (\\d+)`, 'm').exec(text)?.[1]);
};

describe('raw copies kept for links', () => {
  it('stay within MXHOOK_RAW_RETENTION_MAX_BYTES: the oldest is dropped first (its link 404), counted as attachment_cap', async () => {
    const first = await linkOf('one@links.example');
    expect((await fetch(first)).status).toBe(200);
    const second = await linkOf('two@links.example');
    const gone = await fetch(first);
    expect(gone.status).toBe(404);
    expect(await gone.json()).toEqual({ errors: [{ field: null, message: 'the message of this attachment link is no longer kept' }] });
    const kept = await fetch(second);
    expect(kept.status).toBe(200);
    expect(Buffer.from(await kept.arrayBuffer())).toEqual(ATTACHMENT);
    expect(await dropped('attachment_cap')).toBe(1);
    const bytes = Number(await mx.redis.get(`${mx.keys.prefix}:att:raw-bytes`));
    expect(bytes).toBeGreaterThan(ATTACHMENT.length);
    expect(bytes).toBeLessThanOrEqual(40 * 1024);
  });

  it('give way under memory pressure (evictLinkCopies, as the worker runs it), counted as attachment_memory', async () => {
    const link = await linkOf('three@links.example');
    expect((await fetch(link)).status).toBe(200);
    expect(await evictLinkCopies(mx.redis, mx.keys, 10)).toMatchObject({ messages: 1 });
    expect((await fetch(link)).status).toBe(404);
    expect(await dropped('attachment_memory')).toBe(1);
    expect(Number(await mx.redis.get(`${mx.keys.prefix}:att:raw-bytes`))).toBe(0);
  });
});

/** An inject() app on this file's Redis with a stored raw message, its attachment 1 and a valid token for it. */
async function appWithMessage(extra: Parameters<typeof buildTestApiApp>[3]) {
  const inject = suite.later(await buildTestApiApp(suite.redis.socketPath, 'links-key', undefined, extra));
  const messageId = `m${Date.now().toString(36)}`;
  const raw = Buffer.from(`From: a@sender.test\r\nTo: b@x.example\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1\r\nContent-Type: application/octet-stream; name=a.bin\r\nContent-Disposition: attachment; filename=a.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n${ATTACHMENT.toString('base64')}\r\n--b1--\r\n`);
  await inject.redis.set(inject.keys.messageRaw(messageId), raw);
  const secret = await createAttachmentSecret(inject.redis, inject.keys)();
  const url = `/v3/user/webhooks/parse/attachments/${attachmentToken(secret, { messageId, part: 1, expiresAt: Math.floor(Date.now() / 1000) + 600 })}`;
  return { inject, url };
}

describe('GET .../attachments/{token}', () => {
  it('serves a few downloads at once per process; past them 503 with Retry-After, in the API\'s error shape', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const { inject, url } = await appWithMessage({
      attachmentDownloads: 1,
      extractAttachment: async (raw, part) => {
        entered();
        await gate;
        return extractAttachment(raw, part, os.tmpdir());
      },
    });
    const first = inject.app.inject({ method: 'GET', url });
    await inside;
    const busy = await inject.app.inject({ method: 'GET', url });
    expect(busy.statusCode).toBe(503);
    expect(busy.headers['retry-after']).toBe('1');
    expect(busy.json()).toEqual({ errors: [{ field: null, message: 'too many attachment downloads at once; try again shortly' }] });
    open();
    const served = await first;
    expect(served.statusCode).toBe(200);
    expect(served.rawPayload).toEqual(ATTACHMENT);
    // The slot is free again once the body is sent.
    expect((await inject.app.inject({ method: 'GET', url })).statusCode).toBe(200);
  });

  it('never writes the token to the log, not on an error nor in the request line', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } }));
    const { inject, url } = await appWithMessage({ logger, extractAttachment: async () => { throw new Error('parser broke'); } });
    const res = await inject.app.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(500);
    const token = url.slice(url.lastIndexOf('/') + 1);
    const logged = lines.map((l) => JSON.parse(l) as { event?: string; path?: string });
    expect(logged.find((l) => l.event === 'api_error')).toMatchObject({ path: '/v3/user/webhooks/parse/attachments/:token' });
    expect(logged.find((l) => l.event === 'api_request')).toMatchObject({ path: '/v3/user/webhooks/parse/attachments/:token' });
    expect(lines.join('')).not.toContain(token.split('.')[3]);
  });
});

describe('link base without MXHOOK_PUBLIC_URL', () => {
  const configWith = async (flags: string[]) => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'mxhook-links-'));
    // What an api role bound to 0.0.0.0 writes (app/api-url.ts localApiUrl).
    await writeFile(path.join(dataDir, 'api.url'), 'http://127.0.0.1:8080\n');
    return loadConfig(['--data-dir', dataDir, ...flags], {}).config;
  };
  const storedMessage = async () => {
    const id = `m${Math.random().toString(36).slice(2, 10)}`;
    await mx.redis.set(mx.keys.messageRaw(id), 'Subject: x\r\n\r\nbody\r\n');
    return id;
  };

  it('is the loopback api.url only for an app on loopback; a remote app gets an error naming MXHOOK_PUBLIC_URL, not a dead link', async () => {
    const link = createAttachmentLinks(await configWith([]), mx.redis, mx.keys, mx.keys);
    const id = await storedMessage();
    await expect(link(id, 1, 'https://app.example.com/inbound')).rejects.toThrow(/set MXHOOK_PUBLIC_URL.*127\.0\.0\.1:8080, on loopback/);
    expect((await link(id, 1, 'http://127.0.0.1:3000/inbound')).url).toMatch(/^http:\/\/127\.0\.0\.1:8080\/v3\/user\/webhooks\/parse\/attachments\//);
    expect((await link(id, 1, 'http://localhost:3000/inbound')).url).toMatch(/^http:\/\/127\.0\.0\.1:8080\//);
  });

  it('is MXHOOK_PUBLIC_URL when set, for any app', async () => {
    const link = createAttachmentLinks(await configWith(['--public-url', 'https://mx.example.com']), mx.redis, mx.keys, mx.keys);
    expect((await link(await storedMessage(), 1, 'https://app.example.com/inbound')).url).toMatch(/^https:\/\/mx\.example\.com\/v3\//);
  });
});

describe('raw mode, a large message', () => {
  it('has its `email` (UTF-8) and `email_base64` (other bytes) exact and signed, streamed a slice at a time', async () => {
    const created = await fetch(`http://127.0.0.1:${mx.apiPort}/v3/user/webhooks/parse/settings`, {
      method: 'POST', headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ hostname: 'rawbig.example', url: app.url, payload_format: 'json', send_raw: true }),
    });
    const secret = ((await created.json()) as { signing_secret: string }).signing_secret;
    const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
    const body = `${'"quoted" \\ back\tslash\u0001 ü € 𝄞 <b>&</b>\r\n'.repeat(60_000)}end\r\n`;
    const utf8 = Buffer.from(`Subject: big\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${body}`, 'utf8');
    const post = await postTo('a@rawbig.example', () => sendRaw(mx.smtpPort!, { from: 'a@sender.test', to: ['a@rawbig.example'] }, utf8));
    expect(post.rawBody.length).toBeGreaterThan(3 * 1024 * 1024);
    expect(Number(post.headers['content-length'])).toBe(post.rawBody.length);
    expect((post.json!.email as string).endsWith(utf8.toString('utf8'))).toBe(true);
    const expected = createHmac('sha256', key).update(`${post.headers['webhook-id']}.${post.headers['webhook-timestamp']}.`).update(post.rawBody).digest('base64');
    expect(String(post.headers['webhook-signature'])).toBe(`v1,${expected}`);

    const latin1 = Buffer.concat([Buffer.from('Subject: b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'), Buffer.alloc(2_000_000, Buffer.from('caf\xe9 "x"\r\n', 'latin1'))]);
    const eightBit = await postTo('b@rawbig.example', () => sendRaw(mx.smtpPort!, { from: 'a@sender.test', to: ['b@rawbig.example'] }, latin1));
    const bytes = Buffer.from(eightBit.json!.email_base64 as string, 'base64');
    expect(bytes.subarray(bytes.length - latin1.length)).toEqual(latin1);
  }, 30_000);
});
