/**
 * TLS on the SMTP side: STARTTLS and the implicit-TLS port present the configured certificate
 * (checked by fingerprint, and verified by real clients against a CA made here), TLS 1.2 at least,
 * reload on file change and on SIGHUP, and the self-signed fallback when no certificate is set.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { connectImplicitTls, fingerprint, makeServerCert, makeTestCa, readReply, startTls, type Pem } from './helpers/tls.ts';
import net from 'node:net';

let redis: TestRedis;
let dir: string;
let ca: Pem;
let first: Pem;
const certFile = () => path.join(dir, 'cert.pem');
const keyFile = () => path.join(dir, 'key.pem');
const writePair = (pem: Pem, files = { cert: certFile(), key: keyFile() }) => Promise.all([writeFile(files.cert, pem.cert), writeFile(files.key, pem.key)]);
const started: TestMxhook[] = [];

async function start(flags: string[]): Promise<TestMxhook> {
  const mx = await startTestMxhook(redis.socketPath, flags, ['smtp']);
  started.push(mx);
  await mx.addRoute('parse.example.com', 'http://127.0.0.1:9/unused');
  return mx;
}

beforeAll(async () => {
  redis = await startTestRedis();
  dir = await mkdtemp(path.join(os.tmpdir(), 'mxhook-tls-'));
  ca = await makeTestCa();
  first = await makeServerCert(ca, 'mx.test');
  await writePair(first);
});
afterAll(async () => {
  for (const mx of started) await mx.close();
  await redis?.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe('with a configured certificate', () => {
  let mx: TestMxhook;
  beforeAll(async () => {
    mx = await start(['--tls-cert', certFile(), '--tls-key', keyFile(), '--smtp-tls-port', '0', '--tls-watch-interval', '100ms']);
  });

  it('STARTTLS presents the configured certificate (same fingerprint), verified against the test CA, TLS 1.2 or newer', async () => {
    const probe = await startTls(mx.smtpPort!, { ca: [ca.cert], rejectUnauthorized: true });
    expect(probe.before).toMatch(/^250[- ]STARTTLS$/m);
    expect(probe.certificate.fingerprint256).toBe(fingerprint(first.cert));
    expect(['TLSv1.2', 'TLSv1.3']).toContain(probe.protocol);
    probe.socket.write('EHLO probe.test\r\n');
    const ehlo = await readReply(probe.socket);
    expect(ehlo).toMatch(/^250/);
    expect(ehlo).not.toMatch(/STARTTLS/);
    probe.socket.destroy();
  });

  it('refuses TLS 1.1 and older', async () => {
    await expect(startTls(mx.smtpPort!, { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' })).rejects.toThrow();
  });

  it('a real client (nodemailer, requireTLS, CA-verified) delivers over STARTTLS: Received says ESMTPS', async () => {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: mx.smtpPort!, requireTLS: true, tls: { ca: [ca.cert], servername: 'mx.test' } });
    const info = await transport.sendMail({ from: 'a@sender.test', to: 'inbox@parse.example.com', subject: 'over tls', text: 'secret' });
    transport.close();
    const id = /queued as ([0-9a-z]+)/.exec(info.response)![1];
    const raw = (await mx.redis.getBuffer(mx.keys.messageRaw(id)))!.toString();
    expect(raw).toMatch(/by mx\.test \(mxhook\) with ESMTPS id /);
  });

  it('the implicit-TLS port presents the same certificate and accepts mail (nodemailer secure: true)', async () => {
    expect(mx.smtpTlsPort).toBeGreaterThan(0);
    const probe = await connectImplicitTls(mx.smtpTlsPort!, { ca: [ca.cert], rejectUnauthorized: true });
    expect(probe.before).toMatch(/^220 mx\.test ESMTP/);
    expect(probe.certificate.fingerprint256).toBe(fingerprint(first.cert));
    probe.socket.destroy();
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: mx.smtpTlsPort!, secure: true, tls: { ca: [ca.cert], servername: 'mx.test' } });
    const info = await transport.sendMail({ from: 'a@sender.test', to: 'inbox@parse.example.com', subject: 'implicit', text: 'x' });
    transport.close();
    expect(info.response).toMatch(/^250 /);
  });

  it('reloads when the files change (both listeners); sessions keep working', async () => {
    const renewed = await makeServerCert(ca, 'mx.test');
    await writePair(renewed);
    await expect.poll(async () => {
      const probe = await startTls(mx.smtpPort!);
      probe.socket.destroy();
      return probe.certificate.fingerprint256;
    }, { timeout: 10_000, interval: 100 }).toBe(fingerprint(renewed.cert));
    const implicit = await connectImplicitTls(mx.smtpTlsPort!, { ca: [ca.cert], rejectUnauthorized: true });
    expect(implicit.certificate.fingerprint256).toBe(fingerprint(renewed.cert));
    implicit.socket.destroy();
  });
});

describe('reload on SIGHUP (file watching off)', () => {
  it('keeps the old certificate until SIGHUP, survives a broken pair, then serves the new one', async () => {
    const files = { cert: path.join(dir, 'hup-cert.pem'), key: path.join(dir, 'hup-key.pem') };
    await writePair(first, files);
    const mx = await start(['--tls-cert', files.cert, '--tls-key', files.key, '--tls-watch-interval', '0']);
    const presented = async () => {
      const probe = await startTls(mx.smtpPort!);
      probe.socket.destroy();
      return probe.certificate.fingerprint256;
    };
    const renewed = await makeServerCert(ca, 'mx.test');
    // A renewal written half-way (new certificate, old key) is refused at SIGHUP; the old pair stays.
    await writeFile(files.cert, renewed.cert);
    expect(await presented()).toBe(fingerprint(first.cert));
    process.kill(process.pid, 'SIGHUP');
    expect(await presented()).toBe(fingerprint(first.cert));
    await writeFile(files.key, renewed.key);
    process.kill(process.pid, 'SIGHUP');
    await expect.poll(presented, { timeout: 5_000, interval: 50 }).toBe(fingerprint(renewed.cert));
  });
});

describe('without a configured certificate', () => {
  it('offers STARTTLS with a self-signed certificate for the hostname (opportunistic TLS)', async () => {
    const mx = await start([]);
    const probe = await startTls(mx.smtpPort!);
    expect(probe.certificate.subject.CN).toBe('mx.test');
    expect(probe.certificate.issuer.CN).toBe('mx.test');
    expect(probe.certificate.fingerprint256).not.toBe(fingerprint(first.cert));
    probe.socket.destroy();
  });

  it('--tls-self-signed false: no STARTTLS at all', async () => {
    const mx = await start(['--tls-self-signed', 'false']);
    const socket = net.connect(mx.smtpPort!, '127.0.0.1');
    try {
      await readReply(socket);
      socket.write('EHLO probe.test\r\n');
      const ehlo = await readReply(socket);
      expect(ehlo).toMatch(/^250/);
      expect(ehlo).not.toMatch(/STARTTLS/);
      // Not even asked for directly (smtp-server would otherwise use its built-in, publicly known key).
      socket.write('STARTTLS\r\n');
      expect(await readReply(socket)).toMatch(/^5\d\d /);
    } finally {
      socket.destroy();
    }
  });

  it('refuses to start with only one of --tls-cert / --tls-key', async () => {
    await expect(startTestMxhook(redis.socketPath, ['--tls-cert', certFile()], ['smtp'])).rejects.toThrow(/must be set together/);
  });
});
