/**
 * Abuse limits against a real server, with real sockets: connections per IP and in total, the
 * whole-session deadline (a slow-drip client is cut mid-DATA), commands per message, and the
 * PROXY protocol (the proxied client IP counts for limits, Received:, sender_ip and SPF).
 */
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixtureResolver } from './helpers/dns.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver } from './helpers/receiver.ts';
import { SmtpLineClient } from './helpers/smtp.ts';

let redis: TestRedis;
let mx: TestMxhook;
const open: SmtpLineClient[] = [];

async function connect(port: number, preamble?: string) {
  const { client, greeting } = await SmtpLineClient.connect(port, preamble);
  open.push(client);
  return { client, greeting };
}
const storedRaws = async (m: TestMxhook) => {
  const keys = await m.redis.keys(`${m.keys.prefix}:msg:*:raw`);
  return Promise.all(keys.map(async (k) => (await m.redis.getBuffer(k))!.toString()));
};

beforeAll(async () => {
  redis = await startTestRedis();
  mx = await startTestMxhook(redis.socketPath, [
    '--max-connections-per-ip', '3', '--smtp-session-deadline', '1500ms', '--max-commands', '12', '--shutdown-timeout', '1s',
  ], ['smtp']);
  await mx.addRoute('parse.example.com', 'http://127.0.0.1:9/unused');
});
afterAll(async () => {
  for (const c of open) c.close();
  await mx?.close();
  await redis?.cleanup();
});

describe('connection limits', () => {
  it('refuses the 4th concurrent connection from one IP with 421 4.7.0, and accepts again once one closes', async () => {
    const clients = [];
    for (let i = 0; i < 3; i++) {
      const { client, greeting } = await connect(mx.smtpPort!);
      expect(greeting).toMatch(/^220 /);
      clients.push(client);
    }
    const extra = await connect(mx.smtpPort!);
    expect(extra.greeting).toMatch(/^421 4\.7\.0 /);
    await extra.client.closed;
    clients[0].close();
    await expect.poll(async () => {
      const { client, greeting } = await connect(mx.smtpPort!);
      client.close();
      return greeting;
    }, { timeout: 5_000, interval: 50 }).toMatch(/^220 /);
    for (const c of clients) c.close();
  });
});

describe('session deadline and command limit', () => {
  it('cuts a slow-drip client in the middle of DATA with 421 4.7.0 at the session deadline, storing nothing', async () => {
    const { client } = await connect(mx.smtpPort!);
    const startedAt = Date.now();
    await client.command('EHLO drip.test');
    await client.command('MAIL FROM:<a@sender.test>');
    expect(await client.command('RCPT TO:<drip@parse.example.com>')).toMatch(/^250 /);
    expect(await client.command('DATA')).toMatch(/^354 /);
    client.write('Subject: drip\r\n\r\n');
    // One byte every 50 ms: never idle long enough for the idle timeout.
    const drip = setInterval(() => client.write('x'), 50);
    try {
      expect(await client.nextReply(5_000)).toMatch(/^421 4\.7\.0 /);
      await client.closed;
    } finally {
      clearInterval(drip);
    }
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1_400);
    expect((await storedRaws(mx)).some((raw) => raw.includes('Subject: drip'))).toBe(false);
  });

  it('closes a session that sends too many commands without a message (421 4.7.0); a message resets the count', async () => {
    const { client } = await connect(mx.smtpPort!);
    await client.command('EHLO chatty.test');
    await client.command('MAIL FROM:<a@sender.test>');
    await client.command('RCPT TO:<chatty@parse.example.com>');
    await client.command('DATA');
    client.write('Subject: counted\r\n\r\nbody\r\n.\r\n');
    expect(await client.nextReply()).toMatch(/^250 /);
    // 12 commands allowed per message: 12 NOOPs pass, the 13th closes.
    for (let i = 0; i < 12; i++) expect(await client.command('NOOP')).toMatch(/^250 /);
    expect(await client.command('NOOP')).toMatch(/^421 4\.7\.0 /);
    await client.closed;
  });

  it('other sessions are unaffected by a cut one', async () => {
    // The bystander is open, mid-transaction, while another session is cut (the command limit: quick,
    // well within the bystander's own 1.5 s session deadline).
    const { client: bystander, greeting } = await connect(mx.smtpPort!);
    expect(greeting).toMatch(/^220 /);
    expect(await bystander.command('EHLO fine.test')).toMatch(/^250/);
    expect(await bystander.command('MAIL FROM:<a@sender.test>')).toMatch(/^250 /);
    expect(await bystander.command('RCPT TO:<fine@parse.example.com>')).toMatch(/^250 /);

    const { client: cut } = await connect(mx.smtpPort!);
    await cut.command('EHLO chatty.test');
    let reply = '';
    for (let i = 0; i < 20 && !reply.startsWith('421'); i++) reply = await cut.command('NOOP');
    expect(reply).toMatch(/^421 4\.7\.0 /);
    await cut.closed;

    // ...and still works after it: its message is accepted and stored.
    expect(await bystander.command('DATA')).toMatch(/^354 /);
    bystander.write('Subject: bystander\r\n\r\nstill here\r\n.\r\n');
    expect(await bystander.nextReply()).toMatch(/^250 /);
    expect(await bystander.command('QUIT')).toMatch(/^221 /);
    expect((await storedRaws(mx)).some((raw) => raw.includes('Subject: bystander'))).toBe(true);
  });
});

describe('idle timeout', () => {
  it('closes a session that sends nothing for --smtp-idle-timeout with 421', async () => {
    const idle = await startTestMxhook(redis.socketPath, ['--smtp-idle-timeout', '300ms', '--shutdown-timeout', '1s'], ['smtp']);
    try {
      const { client } = await connect(idle.smtpPort!);
      const startedAt = Date.now();
      expect(await client.command('EHLO sleepy.test')).toMatch(/^250/);
      expect(await client.nextReply(5_000)).toMatch(/^421 /);
      await client.closed;
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(250);
    } finally {
      await idle.close();
    }
  });
});

describe('behind a load balancer (PROXY protocol v1)', () => {
  let proxied: TestMxhook;
  let app: Receiver;
  const proxy = (ip: string) => `PROXY TCP4 ${ip} 127.0.0.1 40000 25\r\n`;

  beforeAll(async () => {
    app = await startReceiver();
    proxied = await startTestMxhook(redis.socketPath, ['--proxy-protocol', 'true', '--max-clients', '3', '--max-connections-per-ip', '2', '--shutdown-timeout', '1s'],
      ['smtp', 'worker'], { dnsResolver: createFixtureResolver({ 'sender.test': { TXT: ['v=spf1 ip4:203.0.113.0/24 -all'] } }) });
    await proxied.addRoute('parse.example.com', app.url);
  });
  afterAll(async () => {
    await proxied?.close();
    await app?.close();
  });

  it('uses the proxied client IP in Received:, sender_ip and SPF', async () => {
    const { client, greeting } = await connect(proxied.smtpPort!, proxy('203.0.113.9'));
    expect(greeting).toMatch(/^220 /);
    await client.command('EHLO client.example');
    await client.command('MAIL FROM:<bounce@sender.test>');
    await client.command('RCPT TO:<inbox@parse.example.com>');
    await client.command('DATA');
    client.write('From: a@sender.test\r\nSubject: via proxy\r\n\r\nhi\r\n.\r\n');
    expect(await client.nextReply()).toMatch(/^250 /);
    client.close();
    const [post] = await app.waitFor(1);
    expect(post.fields.sender_ip).toBe('203.0.113.9');
    expect(post.fields.headers.split('\n')[0]).toContain('[203.0.113.9]');
    // SPF allows 203.0.113.0/24 only: it passes because the proxied IP, not 127.0.0.1, was checked.
    expect(post.fields.SPF).toBe('pass');
  });

  it('counts per proxied IP and in total: 421 4.7.0 past 2 per IP and past 3 clients', async () => {
    const a1 = await connect(proxied.smtpPort!, proxy('198.51.100.1'));
    const a2 = await connect(proxied.smtpPort!, proxy('198.51.100.1'));
    expect([a1.greeting, a2.greeting]).toEqual([expect.stringMatching(/^220 /), expect.stringMatching(/^220 /)]);
    expect((await connect(proxied.smtpPort!, proxy('198.51.100.1'))).greeting).toMatch(/^421 4\.7\.0 .*your address/);
    expect((await connect(proxied.smtpPort!, proxy('198.51.100.2'))).greeting).toMatch(/^220 /);
    expect((await connect(proxied.smtpPort!, proxy('198.51.100.3'))).greeting).toMatch(/^421 4\.7\.0 Too many connections/);
  });

  it('a connection without a PROXY header is dropped (no SMTP greeting)', async () => {
    const socket = net.connect(proxied.smtpPort!, '127.0.0.1');
    socket.write('EHLO no-proxy.test\r\n');
    let received = '';
    socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1'); });
    await once(socket, 'close');
    expect(received).not.toMatch(/^220 /m);
  });
});
