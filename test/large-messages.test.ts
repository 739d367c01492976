/**
 * Messages past 512 KB are staged into Redis while they arrive (smtp/data-collector.ts): delivered
 * byte for byte as before, authentication checks included, nothing left behind when refused.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixtureResolver } from './helpers/dns.ts';
import { startReceiver, type Receiver } from './helpers/receiver.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { SmtpLineClient, sendRaw } from './helpers/smtp.ts';
import { spawnMxhook } from './helpers/process.ts';

let redis: TestRedis;
let receiver: Receiver;
let mx: TestMxhook;

const dkim = generateKeyPairSync('rsa', { modulusLength: 2048 });
const resolver = createFixtureResolver({
  'sender.test': { TXT: ['v=spf1 ip4:127.0.0.1 -all'] },
  's1._domainkey.sender.test': { TXT: [`v=DKIM1; k=rsa; p=${dkim.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`] },
});

beforeAll(async () => {
  redis = await startTestRedis();
  receiver = await startReceiver();
  mx = await startTestMxhook(redis.socketPath, ['--max-message-size', '6MB'], ['smtp', 'worker', 'api'], { dnsResolver: resolver });
  await mx.addRoute('raw.example.com', receiver.url, { send_raw: true });
  await mx.addRoute('parse.example.com', receiver.url);
});
afterAll(async () => {
  await mx?.close();
  await receiver?.close();
  await redis?.cleanup();
});

function bigMessage(to: string, attachment: Buffer): string {
  const base64 = attachment.toString('base64').replace(/.{1,76}/g, '$&\r\n');
  return `From: <a@sender.test>\r\nTo: <${to}>\r\nSubject: big one\r\nMIME-Version: 1.0\r\n` +
    'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n' +
    '--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n' +
    `Content-Disposition: attachment; filename="data.bin"\r\n\r\n${base64}--b1--\r\n`;
}

/** A session that has reached DATA (354) for one recipient at parse.example.com. */
async function openData(): Promise<SmtpLineClient> {
  const { client } = await SmtpLineClient.connect(mx.smtpPort!);
  await client.command('EHLO client.test');
  await client.command('MAIL FROM:<a@sender.test>');
  await client.command('RCPT TO:<inbox@parse.example.com>');
  expect(await client.command('DATA')).toMatch(/^354 /);
  return client;
}

const leftovers = async () => (await mx.redis.keys(`${mx.keys.prefix}:msg:*`));

describe('large messages', () => {
  it('raw mode: a 4 MB message arrives byte for byte, our Received: header first', async () => {
    const message = bigMessage('inbox@raw.example.com', randomBytes(3 * 1024 * 1024));
    await sendRaw(mx.smtpPort!, { from: 'a@sender.test', to: ['inbox@raw.example.com'] }, message);
    const [post] = await receiver.waitFor(1, 30_000);
    const email = post.files.email?.data ?? Buffer.from(post.fields.email, 'latin1');
    expect(email.subarray(0, 9).toString()).toBe('Received:');
    expect(email.subarray(email.length - Buffer.byteLength(message)).equals(Buffer.from(message))).toBe(true);
    expect(post.fields.SPF).toBe('pass');
  });

  it('the DKIM check reads a staged message back: a signed 3 MB message passes', async () => {
    const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
    const info = await transport.sendMail({
      from: 'a@sender.test', to: 'inbox@parse.example.com', subject: 'signed big one', text: 'see attached\n',
      attachments: [{ filename: 'data.bin', content: randomBytes(3 * 1024 * 1024) }],
      dkim: { domainName: 'sender.test', keySelector: 's1', privateKey: dkim.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
    });
    await sendRaw(mx.smtpPort!, { from: 'a@sender.test', to: ['inbox@parse.example.com'] }, info.message as Buffer);
    await expect.poll(() => receiver.posts.find((p) => p.fields.subject === 'signed big one'), { timeout: 30_000 }).toBeDefined();
    const post = receiver.posts.find((p) => p.fields.subject === 'signed big one')!;
    expect(post.fields.dkim).toBe('{@sender.test : pass}');
  });

  it('parsed mode: the attachment is identical, and nothing is left in Redis', async () => {
    const attachment = randomBytes(3 * 1024 * 1024);
    await sendRaw(mx.smtpPort!, { from: 'a@sender.test', to: ['inbox@parse.example.com'] }, bigMessage('inbox@parse.example.com', attachment));
    await expect.poll(() => receiver.posts.find((p) => p.fields.subject === 'big one' && p.files.attachment1), { timeout: 30_000 }).toBeDefined();
    const file = receiver.posts.find((p) => p.fields.subject === 'big one' && p.files.attachment1)!.files.attachment1;
    expect(createHash('sha256').update(file.data).digest('hex')).toBe(createHash('sha256').update(attachment).digest('hex'));
    await expect.poll(leftovers, { timeout: 5_000 }).toEqual([]);
  });

  it('staged bytes gone before the commit (deleted by hand): 451, and no job waits on a missing message', async () => {
    const jobsBefore = await mx.redis.keys(`${mx.keys.prefix}:deliveries:*.1`);
    const client = await openData();
    client.write('Subject: vanishing\r\n\r\n');
    const line = `${'y'.repeat(998)}\r\n`;
    for (let i = 0; i < 2 * 1024; i++) client.write(line);
    let staging: string[] = [];
    await expect.poll(async () => (staging = await mx.redis.keys(`${mx.keys.prefix}:msg:*:staging`)).length, { timeout: 10_000 }).toBe(1);
    await mx.redis.del(staging[0]);
    expect(await client.command('.')).toMatch(/^451 4\.3\.0 /);
    client.close();
    // Only new job keys count: an earlier test's finished job may be removed meanwhile.
    const jobsAfter = await mx.redis.keys(`${mx.keys.prefix}:deliveries:*.1`);
    expect(jobsAfter.filter((key) => !jobsBefore.includes(key))).toEqual([]);
    await expect.poll(leftovers, { timeout: 5_000 }).toEqual([]);
  });

  it('a staging append that fails mid-message: the rest is read and dropped, 451, nothing left', async () => {
    const client = await openData();
    client.write('Subject: append fails\r\n\r\n');
    const line = `${'z'.repeat(998)}\r\n`;
    for (let i = 0; i < 1024; i++) client.write(line);
    let staging: string[] = [];
    await expect.poll(async () => (staging = await mx.redis.keys(`${mx.keys.prefix}:msg:*:staging`)).length, { timeout: 10_000 }).toBe(1);
    // A list where the staged string was: the next APPEND gets WRONGTYPE from the real Redis.
    await mx.redis.multi().del(staging[0]).rpush(staging[0], 'x').exec();
    for (let i = 0; i < 4 * 1024; i++) client.write(line);
    expect(await client.command('.')).toMatch(/^451 4\.3\.0 /);
    client.close();
    await expect.poll(leftovers, { timeout: 5_000 }).toEqual([]);
  });

  it('a staged message over the size limit gets 552 and its staged bytes are dropped', async () => {
    const client = await openData();
    const line = `${'x'.repeat(998)}\r\n`;
    for (let i = 0; i < 7 * 1024; i++) client.write(line);
    expect(await client.command('.')).toMatch(/^552 5\.3\.4 /);
    client.close();
    await expect.poll(leftovers, { timeout: 5_000 }).toEqual([]);
  });
});

describe('a huge text part', () => {
  it('a 25 MB text/plain part beside an HTML part is delivered whole by a worker with a 160 MB heap', async () => {
    const line = 'a < b & c > d "quoted" it\'s caf\u00e9 0123456789 abcdefghijklmnopqrstuvwxyz\r\n';
    const textCrlf = line.repeat(Math.ceil(25 * 1024 * 1024 / Buffer.byteLength(line)));
    const htmlPart = '<html><body><p>the HTML part</p></body></html>';
    const message = 'From: <a@sender.test>\r\nTo: <inbox@huge.example>\r\nSubject: huge text\r\nMIME-Version: 1.0\r\n' +
      'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n' +
      `${textCrlf}\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${htmlPart}\r\n--b1--\r\n`;
    const smtp = await startTestMxhook(redis.socketPath, [], ['smtp']);
    const app = await startReceiver();
    const worker = spawnMxhook(['worker', '--redis-url', redis.socketPath, '--redis-prefix', smtp.keys.prefix, '--data-dir', smtp.config.dataDir],
      { NODE_OPTIONS: '--max-old-space-size=160' });
    try {
      await smtp.addRoute('huge.example', app.url);
      await worker.waitForLog((e) => e.event === 'worker_started');
      await sendRaw(smtp.smtpPort!, { from: 'a@sender.test', to: ['inbox@huge.example'] }, message);
      // The worker of the old code ran out of heap building this payload: its exit fails the test at once.
      const died = worker.exited.then((code) => { throw new Error(`worker exited (${code}): ${worker.stderr().slice(-500)}`); });
      const [post] = await Promise.race([app.waitFor(1, 120_000), died]);
      const text = textCrlf.replace(/\r\n/g, '\n');
      expect(post.fields.text.length).toBe(text.length);
      expect(post.fields.text === text).toBe(true);
      const escaped = text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      const html = `<div style="white-space: pre-wrap">${escaped}</div>\n${htmlPart}`;
      expect(post.fields.html.length).toBe(html.length);
      expect(post.fields.html === html).toBe(true);
      expect(JSON.parse(post.fields.charsets)).toMatchObject({ text: 'UTF-8', html: 'UTF-8' });
      expect(post.fields.attachments).toBe('0');
    } finally {
      worker.proc.kill('SIGKILL');
      await worker.exited;
      await app.close();
      await smtp.close();
    }
  }, 180_000);
});
