/**
 * SMTPUTF8 end to end: a UTF-8 HELO, sender and recipient and raw UTF-8 headers go through the real
 * server, Redis and worker to a real receiver, and arrive as the person wrote them (our Received:
 * header, once written as Latin-1, made the header block invalid UTF-8 and every header mojibake).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver } from './helpers/receiver.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { SmtpLineClient } from './helpers/smtp.ts';

let redis: TestRedis;
let mx: TestMxhook;
let app: Receiver;

beforeAll(async () => {
  redis = await startTestRedis();
  mx = await startTestMxhook(redis.socketPath, ['--shutdown-timeout', '1s'], ['smtp', 'worker']);
  app = await startReceiver();
  await mx.addRoute('parse.example.com', app.url);
});
afterAll(async () => {
  await mx?.close();
  await app?.close();
  await redis?.cleanup();
});

describe('SMTPUTF8', () => {
  it('delivers a UTF-8 recipient, HELO and subject intact, with a UTF-8 Received: header', async () => {
    const { client, greeting } = await SmtpLineClient.connect(mx.smtpPort!);
    try {
      expect(greeting).toMatch(/^220 /);
      // command() writes the line as UTF-8.
      expect(await client.command('EHLO mail.δοκιμή.example')).toMatch(/^250[ -].*SMTPUTF8/s);
      expect(await client.command('MAIL FROM:<αποστολέας@sender.test> BODY=8BITMIME SMTPUTF8')).toMatch(/^250 /);
      expect(await client.command('RCPT TO:<δοκιμή@parse.example.com>')).toMatch(/^250 /);
      expect(await client.command('DATA')).toMatch(/^354 /);
      client.write(Buffer.from([
        'From: Αποστολέας <αποστολέας@sender.test>',
        'To: Δοκιμή <δοκιμή@parse.example.com>',
        'Subject: Καλημέρα κόσμε',
        'MIME-Version: 1.0',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: 8bit',
        '',
        'Γειά σου, κόσμε.',
        '.',
        '',
      ].join('\r\n'), 'utf8'));
      expect(await client.nextReply()).toMatch(/^250 /);
    } finally {
      client.close();
    }

    const [post] = await app.waitFor(1, 20_000);
    const f = post.fields;
    expect(f.to).toBe('Δοκιμή <δοκιμή@parse.example.com>');
    expect(f.from).toBe('Αποστολέας <αποστολέας@sender.test>');
    expect(f.subject).toBe('Καλημέρα κόσμε');
    expect(f.text).toContain('Γειά σου, κόσμε.');
    expect(JSON.parse(f.envelope)).toEqual({ to: ['δοκιμή@parse.example.com'], from: 'αποστολέας@sender.test' });
    expect(f.headers).toMatch(/^Received: from mail\.δοκιμή\.example \(\[127\.0\.0\.1\]\)\s+by mx\.test \(mxhook\) with UTF8SMTP id /);
    expect(f.headers).toContain('for <δοκιμή@parse.example.com>;');
    expect(f.headers).toContain('Subject: Καλημέρα κόσμε');
    expect(f.headers).not.toMatch(/Î|Ã/);
    expect(new Set(Object.values(JSON.parse(f.charsets) as Record<string, string>))).toEqual(new Set(['UTF-8']));
  });
});
