/**
 * End to end: real SMTP clients send to the real server, the worker POSTs to a real receiver that
 * parses multipart like apps do. Fields are checked against docs/payload.md (parsed and raw mode).
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver, type ReceivedPost } from './helpers/receiver.ts';
import { sendMail, sendRaw } from './helpers/smtp.ts';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
// A 1x1 PNG and some binary "document" bytes, so byte-identity is meaningful.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
const PDF = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 37) % 256))]);

let redis: TestRedis;
let mx: TestMxhook;
let app: Receiver;
let rawApp: Receiver;
let otherApp: Receiver;

beforeAll(async () => {
  redis = await startTestRedis();
  mx = await startTestMxhook(redis.socketPath);
  app = await startReceiver();
  rawApp = await startReceiver();
  otherApp = await startReceiver();
  await mx.addRoute('parse.example.com', app.url.replace('http://', 'http://hook:s3cret@'));
  await mx.addRoute('raw.example.com', rawApp.url, { send_raw: true });
  await mx.addRoute('other.example.org', otherApp.url);
});
afterAll(async () => {
  await mx?.close();
  await Promise.all([app, rawApp, otherApp].map((r) => r?.close()));
  await redis?.cleanup();
});

/** Sends, then waits for the POST whose subject matches. */
async function deliverVia(receiver: Receiver, send: () => Promise<unknown>, subject: string): Promise<ReceivedPost> {
  const before = receiver.posts.length;
  await send();
  await receiver.waitFor(before + 1);
  const post = receiver.posts.find((p) => p.fields.subject === subject || p.fields.email?.includes(`Subject: ${subject}`));
  if (!post) throw new Error(`no POST with subject ${subject}`);
  return post;
}

describe('parsed-mode POST', () => {
  it('plain text: SendGrid fields, envelope, headers block, no html, attachments "0"', async () => {
    const post = await deliverVia(app, () => sendRaw(mx.smtpPort!, { from: 'bounce@sender.test', to: ['inbox@parse.example.com'] },
      'From: "Jane Doe" <jane@sender.test>\r\nTo: Inbox <inbox@parse.example.com>\r\nSubject: Plain one\r\n' +
      'Content-Type: text/plain; charset=utf-8\r\n\r\nHello there\r\nSecond line'), 'Plain one');
    const f = post.fields;
    expect(f.from).toBe('"Jane Doe" <jane@sender.test>');
    expect(f.to).toBe('Inbox <inbox@parse.example.com>');
    expect(f.text).toBe('Hello there\nSecond line\n');
    expect(f.html).toBeUndefined();
    expect(f.cc).toBeUndefined();
    expect(f.attachments).toBe('0');
    expect(f['attachment-info']).toBeUndefined();
    expect(f['content-ids']).toBeUndefined();
    expect(f.sender_ip).toBe('127.0.0.1');
    expect(JSON.parse(f.envelope)).toEqual({ to: ['inbox@parse.example.com'], from: 'bounce@sender.test' });
    expect(JSON.parse(f.charsets)).toEqual({ to: 'UTF-8', from: 'UTF-8', subject: 'UTF-8', text: 'UTF-8' });
    // headers: one per line, our Received: first, ends with a newline, folds unfolded.
    expect(f.headers.startsWith('Received: from ')).toBe(true);
    expect(f.headers.endsWith('\n')).toBe(true);
    expect(f.headers.split('\n')[0]).toMatch(/by mx\.test \(mxhook\) with ESMTP id \w+\s+for <inbox@parse\.example\.com>;/);
    expect(f.headers).toMatch(/^Subject: Plain one$/m);
    // Authentication (DNS from the test's empty fixture resolver): no SPF record, no signature.
    expect(f.SPF).toBe('none');
    expect(f.dkim).toBe('none');
    expect(f.headers.split('\n')[1]).toMatch(/^Authentication-Results: mx\.test; /);
    // The route has no spam_check: no spam fields.
    expect(f.spam_score).toBeUndefined();
    expect(f.spam_report).toBeUndefined();
    // Transport: random boundary, Content-Length, basic auth from the URL, delivery id and attempt.
    expect(post.headers['content-type']).toMatch(/^multipart\/form-data; boundary=(?!xYzZY$)/);
    expect(Number(post.headers['content-length'])).toBe(post.rawBody.length);
    expect(post.headers.authorization).toBe(`Basic ${Buffer.from('hook:s3cret').toString('base64')}`);
    expect(post.headers['x-mxhook-delivery-id']).toMatch(/^\w+\.1$/);
    expect(post.headers['x-mxhook-attempt']).toBe('1');
    expect(post.path).toBe('/inbound');
  });

  it('text + html with cc and an encoded-word subject, decoded to UTF-8', async () => {
    const post = await deliverVia(app, () => sendMail(mx.smtpPort!, {
      from: 'Jérémie <j@sender.test>', to: 'inbox@parse.example.com', cc: 'Ünal <u@elsewhere.test>',
      subject: 'Grüße – ok', text: 'Plain body ✓', html: '<p>HTML body ✓</p>',
    }), 'Grüße – ok');
    const f = post.fields;
    expect(f.text).toBe('Plain body ✓');
    expect(f.html).toBe('<p>HTML body ✓</p>');
    expect(f.from).toBe('Jérémie <j@sender.test>');
    expect(f.cc).toBe('Ünal <u@elsewhere.test>');
    expect(JSON.parse(f.charsets)).toMatchObject({ text: 'UTF-8', html: 'UTF-8', cc: 'UTF-8' });
    // encoded-words stay encoded in the headers block
    expect(f.headers).toMatch(/^Subject: =\?UTF-8\?/im);
  });

  it('inline image + attachment: content-ids, attachment-info, byte-identical files', async () => {
    const post = await deliverVia(app, () => sendMail(mx.smtpPort!, {
      from: 'a@sender.test', to: 'inbox@parse.example.com', subject: 'With files',
      text: 'see image', html: '<p><img src="cid:logo@sender.test"></p>',
      attachments: [
        { filename: 'logo.png', content: PNG, contentType: 'image/png', cid: 'logo@sender.test' },
        { filename: 'report.pdf', content: PDF, contentType: 'application/pdf' },
      ],
    }), 'With files');
    const f = post.fields;
    expect(f.attachments).toBe('2');
    expect(JSON.parse(f['content-ids'])).toEqual({ 'logo@sender.test': 'attachment1' });
    expect(JSON.parse(f['attachment-info'])).toEqual({
      attachment1: { filename: 'logo.png', name: 'logo.png', type: 'image/png', 'content-id': 'logo@sender.test' },
      attachment2: { filename: 'report.pdf', name: 'report.pdf', type: 'application/pdf' },
    });
    expect(post.files.attachment1.filename).toBe('logo.png');
    expect(post.files.attachment1.mimeType).toBe('image/png');
    expect(sha256(post.files.attachment1.data)).toBe(sha256(PNG));
    expect(post.files.attachment2.filename).toBe('report.pdf');
    expect(sha256(post.files.attachment2.data)).toBe(sha256(PDF));
    expect(JSON.parse(f.charsets).filename).toBe('UTF-8');
  });

  it('a large attachment (spooled to disk) arrives byte-identical', async () => {
    const big = Buffer.from(Array.from({ length: 3 * 1024 * 1024 }, (_, i) => (i * 7919) % 251));
    const post = await deliverVia(app, () => sendMail(mx.smtpPort!, {
      from: 'a@sender.test', to: 'inbox@parse.example.com', subject: 'Big file', text: 'big',
      attachments: [{ filename: 'blob.bin', content: big, contentType: 'application/octet-stream' }],
    }), 'Big file');
    expect(post.files.attachment1.data.length).toBe(big.length);
    expect(sha256(post.files.attachment1.data)).toBe(sha256(big));
    // It went through a spool file, and the delivery removes it once the POST is answered.
    const spool = path.join(mx.config.dataDir, 'spool');
    expect(existsSync(spool)).toBe(true);
    await vi.waitFor(async () => expect(await readdir(spool)).toEqual([]), { timeout: 5_000 });
  });

  it('real Outlook messages from SendGrid captures parse into the expected fields', async () => {
    const raw = await readFile(new URL('../fixtures/sendgrid/raw-2023-with-attachment.eml', import.meta.url));
    const post = await deliverVia(app, () => sendRaw(mx.smtpPort!, { from: 'myaddress@hotmail.com', to: ['test@parse.example.com'] }, raw), 'Hello World!');
    const f = post.fields;
    expect(f.from).toBe('Jérémie Desautels <myaddress@hotmail.com>');
    expect(f.to).toBe('"test@api.mytestingdomain.com" <test@api.mytestingdomain.com>');
    expect(f.text).toBeTruthy();
    expect(f.html).toContain('<html');
    const info = JSON.parse(f['attachment-info']);
    const names = Object.values(info).map((a) => (a as { filename: string }).filename);
    expect(names).toContain('DesertSunrise.jpg');
    expect(Number(f.attachments)).toBe(names.length);
    const jpegField = Object.entries(info).find(([, a]) => (a as { filename: string }).filename === 'DesertSunrise.jpg')![0];
    expect(post.files[jpegField].mimeType).toBe('image/jpeg');
    expect(post.files[jpegField].data.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
    expect(Object.keys(JSON.parse(f['content-ids']))).toHaveLength(1);

    const raw2 = await readFile(new URL('../fixtures/sendgrid/raw-2023.eml', import.meta.url));
    const post2 = await deliverVia(app, () => sendRaw(mx.smtpPort!, { from: 'x@hotmail.com', to: ['test@parse.example.com'] }, raw2), 'Inbound email in raw format');
    const info2 = JSON.parse(post2.fields['attachment-info']);
    expect(info2.attachment1.filename).toBe('Frangipani Flowers.jpg');
    expect(info2.attachment1['content-id']).toBeTruthy();
    expect(post2.files.attachment1.filename).toBe('Frangipani Flowers.jpg');
  });

  it('is readable by @sendgrid/inbound-mail-parser, the SendGrid helper apps use', async () => {
    const post = await deliverVia(app, () => sendMail(mx.smtpPort!, {
      from: 'a@sender.test', to: 'inbox@parse.example.com', subject: 'For the helper', text: 'helper body',
      attachments: [{ filename: 'note.txt', content: 'attached note', contentType: 'text/plain' }],
    }), 'For the helper');
    const { default: Parse } = await import('@sendgrid/inbound-mail-parser');
    // The helper takes an Express-style request whose body multer filled in.
    // multer's disk storage: each file written out, with its path.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'multer-'));
    const files = await Promise.all(Object.entries(post.files).map(async ([fieldname, f]) => {
      const filePath = path.join(dir, fieldname);
      await writeFile(filePath, f.data);
      return { fieldname, originalname: f.filename, mimetype: f.mimeType, path: filePath, size: f.data.length };
    }));
    const request = { body: post.fields, files };
    const parser = new Parse({ keys: ['to', 'from', 'subject', 'text', 'envelope', 'attachments'] }, request);
    const values = parser.keyValues();
    expect(values.subject).toBe('For the helper');
    expect(values.text).toBe('helper body');
    expect(JSON.parse(values.envelope).to).toEqual(['inbox@parse.example.com']);
    const attachments = await new Promise<{ filename: string; type: string; content: string }[]>((resolve) => parser.attachments(resolve));
    expect(attachments).toEqual([expect.objectContaining({ filename: 'note.txt', type: 'text/plain', content: Buffer.from('attached note').toString('base64') })]);
  });
});

describe('raw mode', () => {
  it('posts the whole message as email with Received: prepended and original bytes otherwise', async () => {
    const raw = await readFile(new URL('../fixtures/sendgrid/raw-2023.eml', import.meta.url));
    const post = await deliverVia(rawApp, () => sendRaw(mx.smtpPort!, { from: 'x@hotmail.com', to: ['in@raw.example.com'] }, raw), 'Inbound email in raw format');
    const f = post.fields;
    expect(f.email.startsWith('Received: from ')).toBe(true);
    const original = f.email.slice(f.email.indexOf('\r\n', f.email.indexOf('+0000')) + 2);
    // On the wire SMTP lines end in CRLF (the client converted the file's LF): those are the original bytes.
    expect(Buffer.from(original).equals(Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1'))).toBe(true);
    expect(f.subject).toBe('Inbound email in raw format');
    expect(f.from).toBe('Jérémie Desautels <myemailaddress@hotmail.com>');
    expect(JSON.parse(f.envelope)).toEqual({ to: ['in@raw.example.com'], from: 'x@hotmail.com' });
    expect(JSON.parse(f.charsets)).toEqual({ to: 'UTF-8', from: 'UTF-8', subject: 'UTF-8' });
    expect(f.sender_ip).toBe('127.0.0.1');
    for (const absent of ['headers', 'text', 'html', 'attachments', 'attachment-info']) expect(f[absent]).toBeUndefined();
    expect(Object.keys(post.files)).toEqual([]);
  });
});

describe('routing', () => {
  it('one message to two hostnames: one POST per route, each with only its recipients', async () => {
    const beforeApp = app.posts.length;
    const beforeOther = otherApp.posts.length;
    await sendMail(mx.smtpPort!, {
      from: 'a@sender.test', to: ['one@parse.example.com', 'two@Parse.Example.com', 'three@other.example.org'], subject: 'Split me', text: 'x',
    });
    const [toApp, toOther] = await Promise.all([app.waitFor(beforeApp + 1), otherApp.waitFor(beforeOther + 1)]);
    const a = toApp.find((p) => p.fields.subject === 'Split me')!;
    const o = toOther.find((p) => p.fields.subject === 'Split me')!;
    expect(JSON.parse(a.fields.envelope).to.map((r: string) => r.toLowerCase())).toEqual(['one@parse.example.com', 'two@parse.example.com']);
    expect(JSON.parse(o.fields.envelope).to).toEqual(['three@other.example.org']);
    expect(a.headers['x-mxhook-delivery-id']).not.toBe(o.headers['x-mxhook-delivery-id']);
  });

  it('null sender gives envelope.from ""', async () => {
    const post = await deliverVia(app, () => sendRaw(mx.smtpPort!, { from: '', to: ['bounce@parse.example.com'] },
      'From: MAILER-DAEMON@sender.test\r\nTo: bounce@parse.example.com\r\nSubject: Null sender\r\n\r\nbounce\r\n'), 'Null sender');
    expect(JSON.parse(post.fields.envelope)).toEqual({ to: ['bounce@parse.example.com'], from: '' });
  });

  it('releases the raw message once every delivery is done', async () => {
    const info = await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: ['x@parse.example.com', 'y@other.example.org'], subject: 'Cleanup', text: 'x' });
    const id = /queued as ([0-9a-z]+)/.exec(info.response)![1];
    await expect.poll(() => mx.redis.exists(mx.keys.messageRaw(id), mx.keys.messageMeta(id)), { timeout: 10_000 }).toBe(0);
  });
});

describe('with swaks, the way an operator tries it', () => {
  const swaks = process.env.PATH?.split(':').some((dir) => existsSync(`${dir}/swaks`));
  it.skipIf(!swaks && !process.env.CI)('swaks --attach reaches the app as a SendGrid-format POST with the file intact', async () => {
    const file = new URL('../fixtures/sendgrid/raw-2023.eml', import.meta.url).pathname;
    const before = app.posts.length;
    await promisify(execFile)('swaks', [
      '--server', '127.0.0.1', '--port', String(mx.smtpPort), '--from', 'ops@sender.test', '--to', 'swaks@parse.example.com',
      '--header', 'Subject: From swaks', '--body', 'swaks body', '--attach-type', 'application/octet-stream', '--attach', `@${file}`,
    ]);
    await app.waitFor(before + 1);
    const post = app.posts.find((p) => p.fields.subject === 'From swaks')!;
    expect(post.fields.text).toContain('swaks body');
    expect(post.fields.attachments).toBe('1');
    expect(sha256(post.files.attachment1.data)).toBe(sha256(await readFile(file)));
  });
});
