/**
 * spam_check routes against a real spamd (started here): spam_score and spam_report like SendGrid's,
 * GTUBE high and a normal message low, and mail still delivered without the spam fields when spamd
 * is down or too slow, or the message is over 2.5 MB.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver, type ReceivedPost } from './helpers/receiver.ts';
import { sendMail } from './helpers/smtp.ts';
import { runSpamdTests, startTestSpamd, type TestSpamd } from './helpers/spamd.ts';

const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

let redis: TestRedis;
let spamd: TestSpamd;
let mx: TestMxhook;
let app: Receiver;
let blackhole: net.Server;
const held: net.Socket[] = [];

beforeAll(async () => {
  if (!runSpamdTests) return;
  [redis, spamd, app] = await Promise.all([startTestRedis(), startTestSpamd(), startReceiver()]);
  mx = await startTestMxhook(redis.socketPath, ['--spamd-port', String(spamd.port), '--spamd-timeout', '20s'], ['smtp', 'worker']);
  await mx.addRoute('spam.example.com', app.url, { spam_check: true });
  await mx.addRoute('rawspam.example.com', app.url, { spam_check: true, send_raw: true });
  await mx.addRoute('plain.example.com', app.url);
});
afterAll(async () => {
  await mx?.close();
  for (const s of held) s.destroy();
  blackhole?.close();
  await Promise.all([app?.close(), spamd?.stop(), redis?.cleanup()]);
});

async function deliver(to: string, subject: string, text: string, via: TestMxhook = mx): Promise<ReceivedPost> {
  await sendMail(via.smtpPort!, { from: 'Sender <sender@sender.test>', to, subject, text });
  let post: ReceivedPost | undefined;
  await expect.poll(() => (post = app.posts.find((p) => p.fields.subject === subject)), { timeout: 25_000 }).toBeDefined();
  return post!;
}

describe.skipIf(!runSpamdTests)('spam check (spam_check: true)', () => {
  it('GTUBE scores high (>= 5) with a SpamAssassin report naming the rule', async () => {
    const f = (await deliver('inbox@spam.example.com', 'gtube test', `Hello\n${GTUBE}\n`)).fields;
    expect(Number(f.spam_score), spamd.log()).toBeGreaterThanOrEqual(5);
    expect(f.spam_score).toMatch(/^-?\d+(\.\d+)?$/);
    expect(f.spam_report).toContain('Content analysis details:');
    expect(f.spam_report).toMatch(/pts rule name\s+description/);
    expect(f.spam_report).toMatch(/\bGTUBE\b/);
  });

  it('a normal message scores low (< 5)', async () => {
    const f = (await deliver('inbox@spam.example.com', 'lunch on friday', 'Hi Sam,\n\nshall we have lunch on Friday at noon?\n\nThanks,\nAlex\n')).fields;
    expect(Number(f.spam_score)).toBeLessThan(5);
    expect(f.spam_report).toContain('Content analysis details:');
  });

  it('raw mode routes get the spam fields too', async () => {
    const post = await deliver('inbox@rawspam.example.com', 'raw gtube', `${GTUBE}\n`);
    expect(post.fields.email).toContain('Subject: raw gtube');
    expect(Number(post.fields.spam_score)).toBeGreaterThanOrEqual(5);
  });

  it('routes without spam_check get no spam fields', async () => {
    const f = (await deliver('inbox@plain.example.com', 'no check', `${GTUBE}\n`)).fields;
    expect(f.spam_score).toBeUndefined();
    expect(f.spam_report).toBeUndefined();
  });

  it('messages over 2.5 MB are not scanned (as SendGrid), and are still delivered', async () => {
    const big = `${GTUBE}\n${'0123456789abcdef'.repeat(64).concat('\n').repeat(2_600)}`;
    const post = await deliver('inbox@spam.example.com', 'big one', big);
    expect(post.fields.text.length).toBeGreaterThan(2.5 * 1024 * 1024);
    expect(post.fields.spam_score).toBeUndefined();
  });
});

describe.skipIf(!runSpamdTests)('when spamd cannot help, mail is never held back', () => {
  it('spamd too slow: delivered without spam fields once the spamd timeout passes', async () => {
    // Accepts the connection and never answers.
    blackhole = net.createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const slow = await startTestMxhook(redis.socketPath, ['--spamd-port', String((blackhole.address() as net.AddressInfo).port), '--spamd-timeout', '300ms'], ['smtp', 'worker']);
    try {
      await slow.addRoute('slow.example.com', app.url, { spam_check: true });
      const post = await deliver('inbox@slow.example.com', 'slow spamd', `${GTUBE}\n`, slow);
      expect(post.fields.spam_score).toBeUndefined();
      expect(post.fields.spam_report).toBeUndefined();
      expect(post.fields.text).toContain('GTUBE');
      expect(held.length).toBeGreaterThanOrEqual(1);
    } finally {
      await slow.close();
    }
  });

  it('spamd down (connection refused): delivered without spam fields', async () => {
    await spamd.stop();
    const f = (await deliver('inbox@spam.example.com', 'spamd down', `${GTUBE}\n`)).fields;
    expect(f.spam_score).toBeUndefined();
    expect(f.spam_report).toBeUndefined();
    expect(f.SPF).toBe('none');
  });
});
