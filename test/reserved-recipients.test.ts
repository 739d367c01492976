/** Reserved mailboxes (postmaster@, abuse@) are refused at parse hostnames however they are written. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { SmtpLineClient } from './helpers/smtp.ts';

let redis: TestRedis;
let mx: TestMxhook;

beforeAll(async () => {
  redis = await startTestRedis();
  mx = await startTestMxhook(redis.socketPath, [], ['smtp']);
  await mx.addRoute('reserved.example', 'http://127.0.0.1:1/hook');
});
afterAll(async () => {
  await mx?.close();
  await redis?.cleanup();
});

describe('reserved recipients', () => {
  it('a quoted local part ("postmaster"@) is refused like the bare one', async () => {
    const { client } = await SmtpLineClient.connect(mx.smtpPort!);
    await client.command('EHLO client.test');
    await client.command('MAIL FROM:<a@sender.test>');
    expect(await client.command('RCPT TO:<postmaster@reserved.example>')).toMatch(/^550 5\.7\.1 /);
    expect(await client.command('RCPT TO:<"postmaster"@reserved.example>')).toMatch(/^550 5\.7\.1 /);
    expect(await client.command('RCPT TO:<"Abuse"@reserved.example>')).toMatch(/^550 5\.7\.1 /);
    expect(await client.command('RCPT TO:<"jane"@reserved.example>')).toMatch(/^250 /);
    client.close();
  });
});
