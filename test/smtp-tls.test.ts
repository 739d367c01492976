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
import tls from 'node:tls';

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
    // OpenSSL 3 refuses TLS 1.0/1.1 on the client side unless the security level is 0; without
    // that the client fails by itself (ERR_SSL_NO_PROTOCOLS_AVAILABLE) and the server is never asked.
    const tls11 = { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' } as const;
    // Control: this client really completes a TLS 1.1 handshake with a server that allows it.
    expect(await tls11HandshakeWithPermissiveServer(tls11)).toBe('TLSv1.1');
    // The server answers the TLS 1.1 ClientHello with a protocol_version alert (70).
    expect(await handshakeOutcome(mx.smtpPort!, tls11)).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');

    // The server's OpenSSL default security level (1 in OpenSSL 3) refuses TLS 1.0/1.1 by itself,
    // which would hide a missing protocol floor (smtp-server's own default is TLSv1). OpenSSL 1.1.1,
    // or a system openssl.cnf at level 0, does not: start a server with level-0 default ciphers so
    // only mxhook's floor stands between the client and TLS 1.1.
    const defaultCiphers = tls.DEFAULT_CIPHERS;
    let permissive: TestMxhook;
    tls.DEFAULT_CIPHERS = 'DEFAULT@SECLEVEL=0';
    try {
      permissive = await start(['--tls-cert', certFile(), '--tls-key', keyFile(), '--tls-watch-interval', '0']);
    } finally {
      tls.DEFAULT_CIPHERS = defaultCiphers;
    }
    expect(await handshakeOutcome(permissive.smtpPort!, tls11)).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    // ...while TLS 1.2 still works on that server (the refusal above is the version, not the ciphers).
    const modern = await startTls(permissive.smtpPort!, { ciphers: 'DEFAULT@SECLEVEL=0', minVersion: 'TLSv1.2' });
    expect(modern.protocol).toMatch(/^TLSv1\.[23]$/);
    modern.socket.destroy();
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

/** STARTTLS with `options`: the protocol agreed, or the error code when the handshake fails. */
async function handshakeOutcome(port: number, options: tls.ConnectionOptions): Promise<string | null | undefined> {
  return startTls(port, options).then(
    (probe) => { probe.socket.destroy(); return probe.protocol; },
    (err: NodeJS.ErrnoException) => err.code ?? err.message,
  );
}

/** Handshakes with a local server that allows TLS 1.0 at security level 0; resolves to the protocol agreed. */
async function tls11HandshakeWithPermissiveServer(client: tls.ConnectionOptions): Promise<string | null> {
  const pem = await makeServerCert(ca, 'mx.test');
  const server = tls.createServer({ key: pem.key, cert: pem.cert, minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }, (s) => s.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const socket = tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: false, ...client });
    return await new Promise((resolve, reject) => {
      socket.once('secureConnect', () => { resolve(socket.getProtocol()); socket.destroy(); });
      socket.once('error', reject);
    });
  } finally {
    server.close();
  }
}
