/**
 * A slowloris attack against a real server with real sockets: many connections from several
 * loopback addresses and networks (127.x.y.z are all local on Linux) trickle a byte every 100 ms,
 * half of them in a command line, half in DATA, reconnecting as soon as they are cut. The idle
 * timeout (30 s) and session deadline (60 s) here are far longer than the test: what cuts them is
 * the command deadline and the minimum DATA rate, and what leaves room for real senders is the
 * per-network limit. Meanwhile a real sender on another network delivers, and gets its 250s.
 */
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { SmtpLineClient } from './helpers/smtp.ts';

const COMMAND_DEADLINE_MS = 1_000;
const WINDOW_MS = 1_000;
/** Attacker networks 127.0.1.0/24 ... , each with 4 addresses x 3 connections (the per-IP limit). */
const ATTACK_NETWORKS = [1, 2, 3];
const ADDRESSES_PER_NETWORK = 4;
const PER_IP = 3;
const PER_NETWORK = 5;
const MAX_CLIENTS = 20;

let redis: TestRedis;
let mx: TestMxhook;
/** Sockets left open on purpose (an attacker ignores our 421), destroyed at the end. */
const lingering: SmtpLineClient[] = [];

beforeAll(async () => {
  redis = await startTestRedis();
  mx = await startTestMxhook(redis.socketPath, [
    '--max-clients', String(MAX_CLIENTS), '--max-connections-per-ip', String(PER_IP), '--max-connections-per-ipv4-24', String(PER_NETWORK),
    '--smtp-command-deadline', `${COMMAND_DEADLINE_MS}ms`, '--smtp-min-data-rate', '200', '--smtp-data-rate-window', `${WINDOW_MS}ms`,
    '--smtp-idle-timeout', '30s', '--smtp-session-deadline', '60s', '--shutdown-timeout', '1s',
  ], ['smtp']);
  await mx.addRoute('parse.example.com', 'http://127.0.0.1:9/unused');
});
afterAll(async () => {
  for (const c of lingering) c.close();
  await mx?.close();
  await redis?.cleanup();
});

const storedRaws = async () => {
  const keys = await mx.redis.keys(`${mx.keys.prefix}:msg:*:raw`);
  return Promise.all(keys.map(async (k) => (await mx.redis.getBuffer(k))!.toString()));
};

type Mode = 'command' | 'data';
interface CutSession { address: string; mode: Mode; reply: string; cutAfterMs: number }

/**
 * One slow session: trickles a byte every 100 ms (an unfinished EHLO line, or message data after
 * DATA) until the server answers, then leaves the socket open, as an attacker would. Returns the
 * refusal greeting when it was not let in.
 */
async function slowSession(address: string, mode: Mode): Promise<{ refused: string } | CutSession> {
  const { client, greeting } = await SmtpLineClient.connect(mx.smtpPort!, undefined, { localAddress: address });
  lingering.push(client);
  if (!greeting.startsWith('220 ')) return { refused: greeting };
  let clockFrom = Date.now();
  if (mode === 'data') {
    await client.command('EHLO slow.test');
    await client.command('MAIL FROM:<slow@sender.test>');
    await client.command('RCPT TO:<victim@parse.example.com>');
    expect(await client.command('DATA')).toMatch(/^354 /);
    clockFrom = Date.now();
    client.write('Subject: slowloris\r\n\r\n');
  } else {
    client.write('EHLO ');
  }
  const drip = setInterval(() => client.write('x'), 100);
  try {
    // Far less than the idle timeout or the session deadline: only the new deadlines cut this soon.
    const reply = await client.nextReply(10_000);
    return { address, mode, reply, cutAfterMs: Date.now() - clockFrom };
  } finally {
    clearInterval(drip);
  }
}

describe('slowloris', () => {
  it('cuts trickling sessions at the command deadline and the minimum DATA rate, and a real sender on another network still delivers', async () => {
    const cuts: CutSession[] = [];
    const refusals = new Map<string, string[]>();
    let attacking = true;
    const loops: Promise<void>[] = [];
    for (const net of ATTACK_NETWORKS) {
      for (let host = 1; host <= ADDRESSES_PER_NETWORK; host++) {
        for (let slot = 0; slot < PER_IP; slot++) {
          const address = `127.0.${net}.${host}`;
          const mode: Mode = (host + slot) % 2 ? 'data' : 'command';
          loops.push((async () => {
            while (attacking) {
              const result = await slowSession(address, mode);
              if ('refused' in result) {
                refusals.set(`127.0.${net}`, [...(refusals.get(`127.0.${net}`) ?? []), result.refused]);
                // An attacker reconnects at once; a little pacing keeps the test's CPU use sane.
                await new Promise((resolve) => setTimeout(resolve, 20));
              } else {
                cuts.push(result);
              }
            }
          })());
        }
      }
    }
    // 36 attacking connections want in, more than the 20 the server takes: the networks are full
    // once each has been refused for being a full network.
    await expect.poll(() => ATTACK_NETWORKS.every((net) => refusals.get(`127.0.${net}`)?.some((r) => r.includes('your network'))), { timeout: 10_000, interval: 50 }).toBe(true);

    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: mx.smtpPort!, localAddress: '127.0.9.1', ignoreTLS: true });
    const sent = [];
    const send = async (i: number) => {
      sent.push(await transport.sendMail({ from: 'real@sender.test', to: 'inbox@parse.example.com', subject: `real sender ${i}`, text: 'during the attack' }));
    };
    try {
      await send(1);
      // The attackers are cut, reconnect at once, fill their networks again and are cut again...
      const held = ATTACK_NETWORKS.length * PER_NETWORK;
      await expect.poll(() => cuts.length, { timeout: 15_000, interval: 50 }).toBeGreaterThanOrEqual(2 * held);
      // ...and the real sender still gets in.
      await send(2);
      await send(3);
    } finally {
      transport.close();
    }
    attacking = false;
    await Promise.all(loops);

    expect(sent.map((info) => info.response)).toEqual(Array(3).fill(expect.stringMatching(/^250 /)));
    const stored = await storedRaws();
    for (let i = 1; i <= 3; i++) expect(stored.some((raw) => raw.includes(`Subject: real sender ${i}`))).toBe(true);
    expect(stored.some((raw) => raw.includes('Subject: slowloris'))).toBe(false);

    // Every attacking session let in was cut, by the deadline of what it was trickling, soon after
    // it (slack for a busy machine), and not long before it (the client starts its clock a little
    // after the server does: on reading the greeting or the 354).
    expect(cuts.length).toBeGreaterThanOrEqual(2 * ATTACK_NETWORKS.length * PER_NETWORK);
    for (const cut of cuts) {
      expect(cut.reply).toMatch(cut.mode === 'command' ? /^421 4\.4\.2 Command not received in time/ : /^421 4\.4\.2 Message data arriving too slowly/);
      expect(cut.cutAfterMs).toBeGreaterThanOrEqual(COMMAND_DEADLINE_MS / 2);
      expect(cut.cutAfterMs).toBeLessThan(COMMAND_DEADLINE_MS + 3_000);
    }
    expect(new Set(cuts.map((c) => c.mode))).toEqual(new Set(['command', 'data']));
    for (const refused of [...refusals.values()].flat()) expect(refused).toMatch(/^421 4\.7\.0 Too many connections from your (network|address)/);
  }, 30_000);

  it('a cut session stops holding its slot at once, even when its client never closes the connection', async () => {
    const address = '127.0.5.1';
    const results = await Promise.all(Array.from({ length: PER_IP }, () => slowSession(address, 'command')));
    for (const result of results) expect(result).toMatchObject({ reply: expect.stringMatching(/^421 4\.4\.2 /) });
    // The three clients ignore the 421 and keep their sockets open; the address may connect again.
    const { greeting } = await SmtpLineClient.connect(mx.smtpPort!, undefined, { localAddress: address });
    expect(greeting).toMatch(/^220 /);
  });
});

describe('per-network limits on a dual-stack listener', () => {
  let dual: TestMxhook;
  beforeAll(async () => {
    dual = await startTestMxhook(redis.socketPath, [
      '--smtp-host', '::', '--max-connections-per-ip', '10', '--max-connections-per-ipv6-64', '2', '--max-connections-per-ipv4-24', '3', '--shutdown-timeout', '1s',
    ], ['smtp']);
  });
  afterAll(async () => {
    await dual?.close();
  });

  const connect = async (host: string, localAddress?: string) => {
    const { client, greeting } = await SmtpLineClient.connect(dual.smtpPort!, undefined, { host, ...(localAddress ? { localAddress } : {}) });
    lingering.push(client);
    return { client, greeting };
  };

  it('counts ::1 under its /64 (421 4.7.0 past 2), and an IPv4 client, seen as ::ffff:127.0.6.x, under its IPv4 /24', async () => {
    const v6 = [await connect('::1'), await connect('::1'), await connect('::1')];
    expect(v6.map((c) => c.greeting.slice(0, 4))).toEqual(['220 ', '220 ', '421 ']);
    expect(v6[2].greeting).toMatch(/^421 4\.7\.0 Too many connections from your network/);

    // Three from one IPv4 /24 get in although the IPv6 /64 limit is 2: mapped addresses are IPv4.
    const v4 = [];
    for (const host of [1, 2, 3, 4]) v4.push(await connect('127.0.0.1', `127.0.6.${host}`));
    expect(v4.map((c) => c.greeting.slice(0, 4))).toEqual(['220 ', '220 ', '220 ', '421 ']);
    expect(v4[3].greeting).toMatch(/^421 4\.7\.0 Too many connections from your network/);

    // A closed connection gives its network's slot back.
    v4[0].client.close();
    await v4[0].client.closed;
    await expect.poll(async () => (await connect('127.0.0.1', '127.0.6.5')).greeting, { timeout: 5_000, interval: 50 }).toMatch(/^220 /);
  });
});
