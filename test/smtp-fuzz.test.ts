/**
 * Bad input never hurts the server. Precise checks first (NUL bytes, overlong lines, bare LF and
 * the SMTP smuggling terminators, pipelined garbage, TLS on the plain port), then a seeded fuzz run
 * of random and mutated SMTP sessions and MIME messages against a running server (real intake, real
 * Redis store, real auth checks), after which no connection is left, every reply was well-formed,
 * every accepted message parses, and a normal message still goes through.
 * Reproduce a failure with MXHOOK_FUZZ_SEED=<seed printed in the failure>.
 */
import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredMessageMeta } from '../src/domain/message.ts';
import { buildParsedPayload } from '../src/parse/parsed-payload.ts';
import { buildRawPayload } from '../src/parse/raw-payload.ts';
import { createAcceptMessage } from '../src/queue/accept.ts';
import { createDeliveryQueue } from '../src/queue/delivery-queue.ts';
import { createRouteRegistry } from '../src/routes/registry.ts';
import { createSmtpIntake, type SmtpIntake } from '../src/smtp/intake.ts';
import { loadSmtpTls } from '../src/smtp/tls.ts';
import { createKeySpace } from '../src/store/keys.ts';
import { createRedis } from '../src/store/redis.ts';
import { createFixtureResolver } from './helpers/dns.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { SmtpLineClient, sendMail } from './helpers/smtp.ts';

const SEED = Number(process.env.MXHOOK_FUZZ_SEED ?? 20_261_125);
const SMTP_SESSIONS = 1_500;
const MIME_SESSIONS = 500;
const CONCURRENCY = 50;

let redis: TestRedis;
let store: Redis;
let server: SmtpIntake;
let port: number;
let spoolDir: string;
const keys = createKeySpace('fuzz');
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  redis = await startTestRedis();
  store = createRedis(redis.socketPath, 'patient', 'fuzz-store');
  const queue = createDeliveryQueue(createRedis(redis.socketPath, 'fail-fast', 'fuzz-intake'), keys);
  await queue.waitUntilReady();
  const routes = createRouteRegistry(store, keys);
  await routes.create({ hostname: 'parse.example.com', url: 'http://127.0.0.1:9/unused', spam_check: false, send_raw: false });
  const logger = pino({ level: process.env.MXHOOK_TEST_LOG ?? 'silent' });
  server = createSmtpIntake({
    hostname: 'mx.test', maxMessageSize: 64 * 1024, maxRecipients: 10, maxClients: 500, maxConnectionsPerIp: 500,
    maxConnectionsPerIpv4Network: 500, maxConnectionsPerIpv6Network: 500, commandDeadlineMs: 10_000, minDataRate: 500, dataRateWindowMs: 5_000,
    sessionDeadlineMs: 20_000, maxCommands: 60, idleTimeoutMs: 3_000, reservedLocalParts: ['postmaster'],
    lookupRoute: (hostname) => routes.get(hostname), acceptMessage: createAcceptMessage(queue, store, keys, { messageTtlMs: 86_400_000 }), logger,
    tls: await loadSmtpTls({ selfSigned: true, hostname: 'mx.test' }, logger),
    auth: { authservId: 'mx.test', timeoutMs: 2_000, resolver: createFixtureResolver({ 'sender.test': { TXT: ['v=spf1 ip4:127.0.0.1 -all'] } }) },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  port = (server.server.address() as net.AddressInfo).port;
  spoolDir = await mkdtemp(path.join(os.tmpdir(), 'mxhook-fuzz-spool-'));
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())), () => queue.close(), async () => store.disconnect());
});
afterAll(async () => {
  for (const close of closers) await close().catch(() => {});
  await rm(spoolDir, { recursive: true, force: true });
  await redis?.cleanup();
});

async function session() {
  const { client, greeting } = await SmtpLineClient.connect(port);
  expect(greeting).toMatch(/^220 /);
  return client;
}

describe('malformed input gets a precise answer or a close, and the server keeps serving', () => {
  it('NUL bytes in commands: 501 for a bad HELO name, 501/553 for addresses, the session goes on', async () => {
    const c = await session();
    expect(await c.command('EHLO bad\x00name.test')).toMatch(/^501 /);
    expect(await c.command('EHLO good.test')).toMatch(/^250/);
    expect(await c.command('MAIL FROM:<a\x00b@sender.test>')).toMatch(/^5\d\d /);
    expect(await c.command('NOOP')).toMatch(/^250 /);
    c.close();
  });

  it('a command line over 16 KB: 421 4.4.2 and close', async () => {
    const c = await session();
    expect(await c.command(`EHLO ${'a'.repeat(20_000)}`)).toMatch(/^421 4\.4\.2 /);
    await c.closed;
  });

  it('bare LF: "\\n.\\n" and "\\r\\n.\\n" do not end DATA (no SMTP smuggling); only CRLF.CRLF does', async () => {
    const c = await session();
    await c.command('EHLO lf.test');
    await c.command('MAIL FROM:<a@sender.test>');
    await c.command('RCPT TO:<inbox@parse.example.com>');
    expect(await c.command('DATA')).toMatch(/^354 /);
    c.write('Subject: smuggle\r\n\r\nbody\n.\nMAIL FROM:<evil@x.test>\r\n.\nRCPT TO:<x@parse.example.com>\r\n.\r\n');
    const reply = await c.nextReply();
    expect(reply).toMatch(/^250 /);
    // Exactly one reply: nothing after the bare-LF dots was run as a command.
    expect(await c.command('NOOP')).toMatch(/^250 /);
    const id = /queued as (\w+)/.exec(reply)![1];
    const raw = (await store.getBuffer(keys.messageRaw(id)))!.toString();
    expect(raw).toContain('body\n.\nMAIL FROM:<evil@x.test>\r\n.\nRCPT TO:<x@parse.example.com>\r\n');
    c.close();
  });

  it('pipelined garbage: 500 5.5.2 per line, then 421 after too many, and close', async () => {
    const c = await session();
    c.write(`EHLO x.test\r\n${Array.from({ length: 30 }, (_, i) => `JUNK${i} \x01\x02\xff\r\n`).join('')}`);
    const replies: string[] = [];
    for (;;) {
      const reply = await c.nextReply();
      replies.push(reply);
      if (reply.startsWith('421')) break;
    }
    expect(replies.filter((r) => /^500 5\.5\.2 /.test(r)).length).toBeGreaterThanOrEqual(5);
    await c.closed;
  });

  it('a TLS handshake on the plain port fails at once for the client; other sessions are served meanwhile', async () => {
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    const failed = once(socket, 'error');
    const other = await session();
    expect(await other.command('EHLO other.test')).toMatch(/^250/);
    const [err] = await failed;
    expect(String(err)).toMatch(/wrong version number|packet length too long|ssl|tls|ECONNRESET/i);
    other.close();
  });
});

/** mulberry32: small, seedable, good enough to drive a fuzzer. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(items: readonly T[]): T => items[int(items.length)], bytes: (n: number) => Buffer.from(Array.from({ length: n }, () => int(256))) };
}
type Rng = ReturnType<typeof prng>;

const EXTRA_COMMANDS = [
  'NOOP', 'RSET', 'VRFY postmaster', 'EXPN list', 'HELP', 'STARTTLS', 'AUTH PLAIN AGFhAGI=', 'BDAT 10 LAST', 'ETRN x', 'TURN',
  'XCLIENT ADDR=1.2.3.4', 'HELO', 'EHLO', 'MAIL FROM:<>', 'MAIL FROM:<a@b.test> SIZE=999999999', 'MAIL FROM:<a@b.test> BODY=8BITMIME SMTPUTF8',
  'MAIL FROM:a@b.test', 'RCPT TO:<postmaster@parse.example.com>', 'RCPT TO:<a@elsewhere.test>', 'RCPT TO:<>', 'RCPT TO:<"q uo"@parse.example.com>',
  'RCPT TO:<ü@parse.example.com>', 'DATA', '.', '', 'QUIT', 'GET / HTTP/1.1', 'MAIL FROM:<a@sender.test> RET=FULL ENVID=x', 'RCPT TO:<b@parse.example.com> NOTIFY=NEVER',
];

function mimeMessage(rng: Rng, subject: string): string {
  const boundary = `b${rng.int(1e6)}`;
  const parts = [
    `Content-Type: text/plain; charset=${rng.pick(['utf-8', 'iso-8859-1', 'x-unknown', 'utf-7'])}\r\nContent-Transfer-Encoding: ${rng.pick(['7bit', 'quoted-printable', 'base64', '8bit', 'x-bogus'])}\r\n\r\nHello =C3=A9 ${rng.bytes(rng.int(40)).toString('base64')}\r\n`,
    `Content-Type: text/html\r\n\r\n<p>hi<b>${'<i>'.repeat(rng.int(50))}</p>\r\n`,
    `Content-Type: application/octet-stream; name="f${rng.int(100)}.bin"\r\nContent-Disposition: attachment; filename*=utf-8''%E2%9C%93.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n${rng.bytes(rng.int(3000)).toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n`,
    `Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary="inner"\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\nnested\r\n`,
    `Content-Type: image/png\r\nContent-ID: <img${rng.int(10)}@x>\r\nContent-Disposition: inline\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n`,
  ];
  const chosen = Array.from({ length: 1 + rng.int(4) }, () => rng.pick(parts));
  return `From: =?utf-8?B?${Buffer.from('Fuzz Ë').toString('base64')}?= <a@sender.test>\r\nTo: inbox@parse.example.com\r\nSubject: ${subject}\r\n` +
    `MIME-Version: 1.0\r\nContent-Type: multipart/${rng.pick(['mixed', 'alternative', 'related'])}; boundary="${boundary}"\r\n\r\n` +
    chosen.map((p) => `--${boundary}\r\n${p}`).join('') + (rng.next() < 0.5 ? `--${boundary}--\r\n` : '');
}

function mutate(rng: Rng, text: Buffer, rounds: number): Buffer {
  let out = text;
  for (let i = 0; i < rounds; i++) {
    const at = rng.int(out.length + 1);
    switch (rng.int(8)) {
      case 0: out = Buffer.concat([out.subarray(0, at), rng.bytes(1 + rng.int(16)), out.subarray(at)]); break;
      case 1: out = Buffer.concat([out.subarray(0, at), Buffer.from([0]), out.subarray(at)]); break;
      case 2: out = Buffer.from(out.toString('latin1').replace(rng.pick([/\r\n/, /\r\n/g]), rng.pick(['\n', '\r', '\r\r\n', ''])), 'latin1'); break;
      case 3: out = out.subarray(0, at); break;
      case 4: out = Buffer.concat([out.subarray(0, at), Buffer.from(rng.pick(['\r\n', '\n', ': ', '--', '=?utf-8?q?', '\r\n\t', 'x'.repeat(rng.int(3000))])), out.subarray(at)]); break;
      case 5: { const end = Math.min(out.length, at + rng.int(64)); out = Buffer.concat([out.subarray(0, at), out.subarray(end)]); break; }
      case 6: { const from = rng.int(out.length + 1); out = Buffer.concat([out.subarray(0, at), out.subarray(from, from + rng.int(200)), out.subarray(at)]); break; }
      default: out = Buffer.from(out.toString('latin1').toUpperCase(), 'latin1');
    }
  }
  return out;
}

/** A raw session script: mutated dialogue, random bytes, or a TLS hello, written in random chunks. */
function smtpScript(rng: Rng, index: number): Buffer {
  const kind = rng.int(10);
  if (kind === 0) return rng.bytes(1 + rng.int(2_000));
  if (kind === 1) return Buffer.concat([Buffer.from('160301020001000200030368', 'hex'), rng.bytes(rng.int(500))]);
  const lines = ['EHLO fuzz.test', 'MAIL FROM:<a@sender.test>', 'RCPT TO:<inbox@parse.example.com>', 'DATA', `Subject: fuzz ${index}\r\n\r\nbody`, '.', 'QUIT'];
  for (let i = rng.int(6); i > 0; i--) lines.splice(rng.int(lines.length + 1), 0, rng.pick(EXTRA_COMMANDS));
  if (rng.next() < 0.05) lines.splice(rng.int(lines.length), 0, `NOOP ${'z'.repeat(17_000)}`);
  return mutate(rng, Buffer.from(lines.join('\r\n') + '\r\n', 'latin1'), rng.int(4));
}

interface Outcome {
  readonly replies: string;
  readonly finalReply?: string | undefined;
}

/** Runs one raw session: optionally waits for the greeting, writes the script in chunks, reads for a while, then hangs up one way or another. */
async function runSession(rng: Rng, script: Buffer, options: { waitGreeting: boolean; settleMs: number; until?: RegExp }): Promise<Outcome> {
  // Sessions that must reach DATA wait as long for the greeting as for the final reply.
  const greetingMs = options.until ? options.settleMs : 1_000;
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let replies = '';
  let onData = () => {};
  socket.on('data', (chunk: Buffer) => {
    replies += chunk.toString('latin1');
    onData();
  });
  const closed = once(socket, 'close');
  const waitFor = (test: () => boolean, ms: number) => new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      onData = () => {};
      resolve();
    }
    onData = () => test() && done();
    closed.then(done, done);
    if (test()) done();
  });
  await once(socket, 'connect').catch(() => {});
  if (options.waitGreeting) await waitFor(() => replies.includes('\r\n'), greetingMs);
  for (let at = 0; at < script.length && !socket.destroyed;) {
    const size = 1 + rng.int(Math.max(1, script.length / 2));
    socket.write(script.subarray(at, at + size));
    at += size;
  }
  await waitFor(() => (options.until ? options.until.test(replies) : false), options.settleMs);
  const ending = rng.int(3);
  if (ending === 0) socket.destroy();
  else if (ending === 1) socket.end();
  else socket.resetAndDestroy();
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 500))]);
  socket.destroy();
  return { replies, finalReply: options.until ? options.until.exec(replies)?.[1] : undefined };
}

async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  }));
  return results;
}

const REPLY_LINE = /^(\d{3}[ -].*|\* BAD .*)?$/;

describe(`fuzz (seed ${SEED})`, () => {
  it(`${SMTP_SESSIONS} random and mutated SMTP sessions and ${MIME_SESSIONS} mutated MIME messages: no crash, no leaked connection, still serving`, async () => {
    const smtp = await pool(SMTP_SESSIONS, CONCURRENCY, (i) => {
      const rng = prng(SEED + i);
      return runSession(rng, smtpScript(rng, i), { waitGreeting: rng.next() < 0.9, settleMs: 150 });
    });
    const mime = await pool(MIME_SESSIONS, CONCURRENCY, (i) => {
      const rng = prng(SEED * 7 + i);
      const message = mutate(rng, Buffer.from(mimeMessage(rng, `mime ${i}`), 'latin1'), rng.int(5));
      // Dot-stuff so the (mutated) message cannot end DATA early, then terminate it properly.
      const body = Buffer.from(message.toString('latin1').replace(/(^|\n)\./g, '$1..'), 'latin1');
      const script = Buffer.concat([Buffer.from('EHLO mime.test\r\nMAIL FROM:<a@sender.test>\r\nRCPT TO:<inbox@parse.example.com>\r\nDATA\r\n'), body, Buffer.from('\r\n.\r\n')]);
      // The reply after 354 is the message's final answer (waited for generously: CI machines can be busy).
      return runSession(rng, script, { waitGreeting: true, settleMs: 30_000, until: /\r\n354 [^\r\n]*\r\n([245]\d\d [^\r\n]*)\r\n/ });
    });

    // Every byte the server wrote was a well-formed SMTP reply line.
    for (const [i, outcome] of [...smtp, ...mime].entries()) {
      for (const line of outcome.replies.split('\r\n').slice(0, -1)) expect(line, `session ${i}, seed ${SEED}`).toMatch(REPLY_LINE);
    }
    // Every MIME message got its final answer (accepted, or refused as too big): none hung.
    const unanswered = mime.map((m, i) => (m.finalReply ? -1 : i)).filter((i) => i >= 0);
    expect(unanswered, `MIME sessions without a final reply (seed ${SEED})`).toEqual([]);
    expect(mime.filter((m) => m.finalReply?.includes('queued')).length).toBeGreaterThan(MIME_SESSIONS / 2);

    // No connection left behind.
    await expect.poll(() => server.connections.size, { timeout: 10_000, interval: 50 }).toBe(0);

    // Every accepted message was checked (auth verdicts stored) and parses without throwing.
    const ids = (await store.keys(`${keys.prefix}:msg:*:meta`)).map((k) => k.split(':')[2]);
    expect(ids.length).toBeGreaterThan(MIME_SESSIONS / 2);
    for (const id of ids.slice(0, 250)) {
      const meta = JSON.parse((await store.hget(keys.messageMeta(id), 'meta'))!) as StoredMessageMeta;
      expect(meta.auth?.spf.result, `message ${id}`).toMatch(/^(pass|fail|softfail|neutral|none|temperror|permerror)$/);
      const raw = (await store.getBuffer(keys.messageRaw(id)))!;
      const context = { senderIp: meta.clientIp, mailFrom: meta.mailFrom, recipients: ['inbox@parse.example.com'], auth: meta.auth };
      const dir = path.join(spoolDir, id);
      await mkdir(dir, { recursive: true });
      const parsed = await buildParsedPayload(raw, context, { dir });
      expect(parsed.parts.find((p) => p.name === 'SPF')).toBeDefined();
      expect(buildRawPayload(raw, context).parts[0].name).toBe('email');
    }

    // And a normal message still goes through.
    const info = await sendMail(port, { from: 'a@sender.test', to: 'inbox@parse.example.com', subject: 'after the fuzz', text: 'still fine' });
    expect(info.response).toMatch(/^250 /);
  }, 180_000);
});
