/** SMTP intake against a real server, with real clients: who may send, size limits, durability. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { SmtpLineClient, sendMail } from './helpers/smtp.ts';

let redis: TestRedis;
let mx: TestMxhook;

beforeAll(async () => {
  redis = await startTestRedis();
  // SMTP only: accepted messages stay in Redis where the test can see them.
  mx = await startTestMxhook(redis.socketPath, ['--max-message-size', '64KB', '--max-recipients', '3'], ['smtp']);
  await mx.addRoute('parse.example.com', 'http://127.0.0.1:9/unused');
  await mx.addRoute('bücher.example', 'http://127.0.0.1:9/unused');
});
afterAll(async () => {
  await mx?.close();
  await redis?.cleanup();
});

async function session() {
  const { client, greeting } = await SmtpLineClient.connect(mx.smtpPort!);
  expect(greeting).toMatch(/^220 /);
  return client;
}

const queuedJobs = () => mx.redis.keys(`${mx.keys.prefix}:deliveries:*`).then((k) => k.filter((x) => /:deliveries:[0-9a-z]+\.\d+$/.test(x)));

describe('SMTP intake', () => {
  it('advertises SIZE, PIPELINING, 8BITMIME, SMTPUTF8 and ENHANCEDSTATUSCODES', async () => {
    const c = await session();
    const ehlo = await c.command('EHLO client.test');
    for (const ext of ['SIZE 65536', 'PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES']) expect(ehlo).toContain(ext);
    c.close();
  });

  it('refuses recipients at unregistered hostnames with 550 5.7.1 (no open relay)', async () => {
    const c = await session();
    await c.command('EHLO client.test');
    expect(await c.command('MAIL FROM:<a@sender.test>')).toMatch(/^250 /);
    expect(await c.command('RCPT TO:<someone@gmail.com>')).toMatch(/^550 5\.7\.1 /);
    expect(await c.command('RCPT TO:<x@sub.parse.example.com>')).toMatch(/^550 5\.7\.1 /);
    c.close();
  });

  it('matches hostnames case-insensitively and IDN-normalised', async () => {
    const c = await session();
    await c.command('EHLO client.test');
    await c.command('MAIL FROM:<a@sender.test>');
    expect(await c.command('RCPT TO:<Inbox@PARSE.Example.COM>')).toMatch(/^250 /);
    expect(await c.command('RCPT TO:<x@xn--bcher-kva.example>')).toMatch(/^250 /);
    expect(await c.command('RCPT TO:<y@BÜCHER.example>')).toMatch(/^250 /);
    c.close();
  });

  it('refuses abuse@, postmaster@ and unsubscribe@ at parse hostnames', async () => {
    const c = await session();
    await c.command('EHLO client.test');
    await c.command('MAIL FROM:<a@sender.test>');
    for (const local of ['abuse', 'postmaster', 'Unsubscribe']) {
      expect(await c.command(`RCPT TO:<${local}@parse.example.com>`)).toMatch(/^550 5\.7\.1 /);
    }
    c.close();
  });

  it('limits recipients per message with 452 4.5.3', async () => {
    const c = await session();
    await c.command('EHLO client.test');
    await c.command('MAIL FROM:<a@sender.test>');
    for (let i = 0; i < 3; i++) expect(await c.command(`RCPT TO:<r${i}@parse.example.com>`)).toMatch(/^250 /);
    expect(await c.command('RCPT TO:<r4@parse.example.com>')).toMatch(/^452 4\.5\.3 /);
    c.close();
  });

  it('counts and lists a repeated recipient once (any case), as smtp-server\'s envelope does', async () => {
    const c = await session();
    let reply: string;
    try {
      await c.command('EHLO client.test');
      await c.command('MAIL FROM:<a@sender.test>');
      for (const rcpt of ['r0@parse.example.com', 'r0@parse.example.com', 'R0@PARSE.example.com', 'r1@parse.example.com', 'r2@parse.example.com']) {
        expect(await c.command(`RCPT TO:<${rcpt}>`)).toMatch(/^250 /);
      }
      // Three addresses, the limit: a fourth one is still refused.
      expect(await c.command('RCPT TO:<r3@parse.example.com>')).toMatch(/^452 4\.5\.3 /);
      expect(await c.command('DATA')).toMatch(/^354 /);
      reply = await c.command('Subject: repeated\r\n\r\nbody\r\n.');
    } finally {
      // An open session would hold up the listener's drain in afterAll.
      c.close();
    }
    const id = /queued as ([0-9a-z]+)/.exec(reply)![1];
    const meta = JSON.parse((await mx.redis.hget(mx.keys.messageMeta(id), 'meta'))!);
    expect(meta.recipients).toEqual({ 'parse.example.com': ['r0@parse.example.com', 'r1@parse.example.com', 'r2@parse.example.com'] });
  });

  it('refuses MAIL FROM with SIZE= over the limit with 552 5.3.4', async () => {
    const c = await session();
    await c.command('EHLO client.test');
    expect(await c.command('MAIL FROM:<a@sender.test> SIZE=100000')).toMatch(/^552 5\.3\.4 /);
    expect(await c.command('MAIL FROM:<a@sender.test> SIZE=1000')).toMatch(/^250 /);
    c.close();
  });

  it('answers 552 5.3.4 to an oversized DATA, stores nothing, and keeps the session usable', async () => {
    const before = await queuedJobs();
    const c = await session();
    await c.command('EHLO client.test');
    await c.command('MAIL FROM:<a@sender.test>');
    await c.command('RCPT TO:<big@parse.example.com>');
    expect(await c.command('DATA')).toMatch(/^354 /);
    c.write('Subject: big\r\n\r\n');
    const line = 'x'.repeat(998) + '\r\n';
    for (let i = 0; i < 100; i++) c.write(line);
    c.write('.\r\n');
    expect(await c.nextReply()).toMatch(/^552 5\.3\.4 /);
    expect(await queuedJobs()).toEqual(before);
    expect(await c.command('RSET')).toMatch(/^250 /);
    c.close();
  });

  it('answers 250 only after the raw message (with Received:) and its job are in Redis', async () => {
    const info = await sendMail(mx.smtpPort!, { from: 'alice@sender.test', to: 'inbox@parse.example.com', subject: 'stored', text: 'hello' });
    const id = /queued as ([0-9a-z]+)/.exec(info.response)![1];
    const raw = await mx.redis.getBuffer(mx.keys.messageRaw(id));
    expect(raw).not.toBeNull();
    const text = raw!.toString();
    expect(text.startsWith('Received: from ')).toBe(true);
    expect(text).toMatch(/by mx\.test \(mxhook\) with ESMTP id [0-9a-z]+\r\n\tfor <inbox@parse\.example\.com>;/);
    expect(text).toContain('[127.0.0.1]');
    expect(text).toContain('Subject: stored');
    const job = await mx.redis.hgetall(`${mx.keys.prefix}:deliveries:${id}.1`);
    expect(JSON.parse(job.data)).toEqual({ messageId: id, hostname: 'parse.example.com' });
  });

  it('answers 451 4.3.0 when Redis is down, accepts nothing, and recovers when it is back', async () => {
    const c = await session();
    await c.command('EHLO client.test');
    await c.command('MAIL FROM:<a@sender.test>');
    expect(await c.command('RCPT TO:<inbox@parse.example.com>')).toMatch(/^250 /);
    expect(await c.command('DATA')).toMatch(/^354 /);
    await redis.kill();
    c.write('Subject: during outage\r\n\r\nbody\r\n.\r\n');
    expect(await c.nextReply()).toMatch(/^451 4\.3\.0 /);
    c.close();
    await redis.restart();
    // Nothing from the failed transaction exists after the restart (append-only file replayed).
    const raws = await mx.redis.keys(`${mx.keys.prefix}:msg:*:raw`);
    for (const key of raws) expect((await mx.redis.getBuffer(key))!.toString()).not.toContain('during outage');
    // And mail flows again once Redis is back.
    await expect.poll(async () => {
      try {
        const info = await sendMail(mx.smtpPort!, { from: 'a@sender.test', to: 'inbox@parse.example.com', subject: 'after', text: 'x' });
        return info.response;
      } catch (err) {
        return String(err);
      }
    }, { timeout: 15_000, interval: 200 }).toMatch(/^250 /);
  });
});
