/**
 * SPF, DKIM, DMARC and ARC at SMTP time (docs/smtp.md, "Authentication results"), end to end: real SMTP clients, messages
 * DKIM-signed by nodemailer, DNS answered by a fixture resolver (keys and policies published
 * there), the verdicts read from real POSTs.
 */
import { generateKeyPairSync } from 'node:crypto';
import { authenticate } from 'mailauth';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFixtureResolver } from './helpers/dns.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver, type ReceivedPost } from './helpers/receiver.ts';
import { sendRaw } from './helpers/smtp.ts';

const keyPair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), dns: `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}` };
};
const senderKey = keyPair();
const secondKey = keyPair();

const resolver = createFixtureResolver({
  'sender.test': { TXT: ['v=spf1 ip4:127.0.0.1 -all'] },
  's1._domainkey.sender.test': { TXT: [senderKey.dns] },
  '_dmarc.sender.test': { TXT: ['v=DMARC1; p=reject'] },
  's2._domainkey.second.test': { TXT: [secondKey.dns] },
  'fail.test': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] },
  'soft.test': { TXT: ['v=spf1 ip4:192.0.2.1 ~all'] },
  'neutral.test': { TXT: ['v=spf1 ?all'] },
  'perm.test': { TXT: ['v=spf1 ip4:192.0.2.1 bogus:x -all'] },
  'nospf.test': { A: ['192.0.2.7'] },
}, { 'broken.test': 'ESERVFAIL' });
// A name whose lookups never come back: only the whole-check deadline ends the wait.
const hanging = Object.assign(
  (name: string, rrtype: string) => (name.toLowerCase().endsWith('hang.test') ? new Promise(() => {}) : resolver(name, rrtype)),
  { queries: resolver.queries },
);

let redis: TestRedis;
let mx: TestMxhook;
let app: Receiver;
let rawApp: Receiver;

beforeAll(async () => {
  redis = await startTestRedis();
  mx = await startTestMxhook(redis.socketPath, ['--auth-timeout', '1s'], ['smtp', 'worker'], { dnsResolver: hanging });
  app = await startReceiver();
  rawApp = await startReceiver();
  await mx.addRoute('parse.example.com', app.url);
  await mx.addRoute('raw.example.com', rawApp.url, { send_raw: true });
});
afterAll(async () => {
  await mx?.close();
  await Promise.all([app, rawApp].map((r) => r?.close()));
  await redis?.cleanup();
});

/** A message built and DKIM-signed by nodemailer, as bytes. */
async function signedMessage(subject: string, from: string, keys: { domainName: string; keySelector: string; privateKey: string }[]): Promise<Buffer> {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  const info = await transport.sendMail({ from, to: 'inbox@parse.example.com', subject, text: `Body of ${subject}\n`, dkim: { keys } });
  return info.message as Buffer;
}

const plainMessage = (subject: string, from = 'a@sender.test') =>
  `From: ${from}\r\nTo: inbox@parse.example.com\r\nSubject: ${subject}\r\nDate: Tue, 1 Jan 2030 00:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@sender.test>\r\n\r\nhello\r\n`;

async function deliver(receiver: Receiver, mailFrom: string, raw: Buffer | string, subject: string): Promise<ReceivedPost> {
  await sendRaw(mx.smtpPort!, { from: mailFrom, to: [receiver === rawApp ? 'inbox@raw.example.com' : 'inbox@parse.example.com'] }, raw);
  let post: ReceivedPost | undefined;
  await expect.poll(() => (post = receiver.posts.find((p) => p.fields.subject === subject)), { timeout: 10_000 }).toBeDefined();
  return post!;
}

const S1 = { domainName: 'sender.test', keySelector: 's1', privateKey: senderKey.privateKey };
const S2 = { domainName: 'second.test', keySelector: 's2', privateKey: secondKey.privateKey };

describe('DKIM (the dkim field, SendGrid format)', () => {
  it('a valid signature: {@sender.test : pass}, with SPF and DMARC pass and our Authentication-Results after Received', async () => {
    const post = await deliver(app, 'bounce@sender.test', await signedMessage('dkim pass', 'a@sender.test', [S1]), 'dkim pass');
    const f = post.fields;
    expect(f.dkim).toBe('{@sender.test : pass}');
    expect(f.SPF).toBe('pass');
    const lines = f.headers.split('\n');
    expect(lines[0]).toMatch(/^Received: from .*\sby mx\.test \(mxhook\)/);
    expect(lines[1]).toMatch(/^Authentication-Results: mx\.test; dkim=pass header\.i=@sender\.test header\.s=s1 /);
    expect(lines[1]).toContain('spf=pass');
    expect(lines[1]).toContain('dmarc=pass');
    expect(lines.filter((l) => l.startsWith('Authentication-Results:'))).toHaveLength(1);
    const auth = JSON.parse(f.auth);
    expect(auth.dkim).toEqual([expect.objectContaining({ domain: 'sender.test', selector: 's1', result: 'pass', aligned: true })]);
    expect(auth.dmarc).toMatchObject({ result: 'pass', domain: 'sender.test', policy: 'reject' });
    expect(auth.spf).toMatchObject({ result: 'pass', domain: 'sender.test', clientIp: '127.0.0.1', helo: expect.any(String), mailFrom: 'bounce@sender.test' });
    expect(auth.arc).toEqual({ result: 'none' });
  });

  it('a body changed after signing: {@sender.test : fail}', async () => {
    const signed = (await signedMessage('dkim tampered', 'a@sender.test', [S1])).toString('latin1').replace('Body of dkim tampered', 'Body of dkim TAMPERED');
    const f = (await deliver(app, 'bounce@sender.test', signed, 'dkim tampered')).fields;
    expect(f.dkim).toBe('{@sender.test : fail}');
    expect(f.headers).toMatch(/^Authentication-Results: mx\.test; dkim=fail \(body hash did not verify\)/m);
  });

  it('two signatures: {@sender.test : pass, @second.test : pass}', async () => {
    const f = (await deliver(app, 'bounce@sender.test', await signedMessage('dkim two', 'a@sender.test', [S1, S2]), 'dkim two')).fields;
    expect(f.dkim).toBe('{@sender.test : pass, @second.test : pass}');
  });

  it('no signature: none', async () => {
    const f = (await deliver(app, 'bounce@sender.test', plainMessage('dkim none'), 'dkim none')).fields;
    expect(f.dkim).toBe('none');
    expect(JSON.parse(f.auth).dkim).toEqual([]);
  });
});

describe('SPF (client IP 127.0.0.1, MAIL FROM domain from the fixture resolver)', () => {
  const cases: [string, string][] = [
    ['bounce@sender.test', 'pass'], ['bounce@fail.test', 'fail'], ['bounce@soft.test', 'softfail'], ['bounce@neutral.test', 'neutral'],
    ['bounce@nospf.test', 'none'], ['bounce@unknown.test', 'none'], ['bounce@perm.test', 'permerror'], ['bounce@broken.test', 'temperror'],
  ];
  it.each(cases)('MAIL FROM %s gives SPF %s', async (mailFrom, expected) => {
    const subject = `spf ${mailFrom}`;
    const f = (await deliver(app, mailFrom, plainMessage(subject), subject)).fields;
    expect(f.SPF).toBe(expected);
    expect(f.headers).toMatch(new RegExp(`^Authentication-Results: mx\\.test; .*spf=${expected}`, 'm'));
  });
});

describe('DMARC', () => {
  it('From: at a p=reject domain, SPF failing for an unaligned MAIL FROM and no signature: dmarc=fail with policy reject (still delivered)', async () => {
    const f = (await deliver(app, 'bounce@fail.test', plainMessage('dmarc fail', 'ceo@sender.test'), 'dmarc fail')).fields;
    expect(JSON.parse(f.auth).dmarc).toMatchObject({ result: 'fail', domain: 'sender.test', policy: 'reject' });
    expect(f.headers).toMatch(/dmarc=fail .*header\.from=sender\.test/);
  });

  it('aligned DKIM passes DMARC although SPF fails', async () => {
    const f = (await deliver(app, 'bounce@fail.test', await signedMessage('dmarc via dkim', 'ceo@sender.test', [S1]), 'dmarc via dkim')).fields;
    expect(f.SPF).toBe('fail');
    expect(JSON.parse(f.auth).dmarc).toMatchObject({ result: 'pass', policy: 'reject' });
  });
});

describe('ARC', () => {
  it('a message sealed by a forwarder (ARC set from second.test) gives arc=pass', async () => {
    // The forwarder checks the original, seals it with its key and passes it on.
    const original = await signedMessage('arc sealed', 'a@sender.test', [S1]);
    const sealed = await authenticate(original, {
      ip: '127.0.0.1', helo: 'client.test', sender: 'bounce@sender.test', mta: 'forwarder.second.test', resolver: resolver as never,
      seal: { signingDomain: 'second.test', selector: 's2', privateKey: secondKey.privateKey },
    });
    expect(sealed.headers).toContain('ARC-Seal: i=1;');
    const f = (await deliver(app, 'bounce@sender.test', Buffer.concat([Buffer.from(sealed.headers), original]), 'arc sealed')).fields;
    expect(JSON.parse(f.auth).arc).toEqual({ result: 'pass' });
    expect(f.headers).toMatch(/^Authentication-Results: mx\.test; .*arc=pass/m);
  });
});

describe('raw mode and failures', () => {
  it('raw payloads carry SPF, dkim and auth, and the email field stays the original bytes (no Authentication-Results)', async () => {
    const signed = await signedMessage('raw auth', 'a@sender.test', [S1]);
    await sendRaw(mx.smtpPort!, { from: 'bounce@sender.test', to: ['inbox@raw.example.com'] }, signed);
    let post: ReceivedPost | undefined;
    await expect.poll(() => (post = rawApp.posts.find((p) => p.fields.subject === 'raw auth')), { timeout: 10_000 }).toBeDefined();
    const f = post!.fields;
    expect(f.SPF).toBe('pass');
    expect(f.dkim).toBe('{@sender.test : pass}');
    expect(JSON.parse(f.auth).dmarc.result).toBe('pass');
    expect(f.email).not.toContain('Authentication-Results');
    expect(f.email.endsWith(signed.toString('utf8'))).toBe(true);
    expect(f.headers).toBeUndefined();
  });

  it('DNS that never answers: accepted once the check deadline passes, every verdict temperror', async () => {
    const started = Date.now();
    const f = (await deliver(app, 'bounce@hang.test', plainMessage('dns hangs', 'a@hang.test'), 'dns hangs')).fields;
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(f.SPF).toBe('temperror');
    expect(f.dkim).toBe('temperror');
    expect(JSON.parse(f.auth)).toMatchObject({ spf: { result: 'temperror' }, dmarc: { result: 'temperror' }, error: expect.stringContaining('1000 ms') });
    expect(f.headers.split('\n')[1]).toMatch(/^Authentication-Results: mx\.test; spf=temperror/);
  });
});
