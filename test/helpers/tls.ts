/** Test certificates (a CA made per test run, server certificates it signs) and a STARTTLS probe. */
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { generate } from 'selfsigned';

export interface Pem {
  readonly cert: string;
  readonly key: string;
}

export async function makeTestCa(): Promise<Pem> {
  const ca = await generate([{ name: 'commonName', value: 'mxhook test CA' }], {
    keySize: 2048, algorithm: 'sha256',
    extensions: [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true }],
  });
  return { cert: ca.cert, key: ca.private };
}

/** A server certificate for `hostname` (in its SAN), signed by `ca`. */
export async function makeServerCert(ca: Pem, hostname: string): Promise<Pem> {
  const leaf = await generate([{ name: 'commonName', value: hostname }], { keySize: 2048, algorithm: 'sha256', ca: { key: ca.key, cert: ca.cert } });
  return { cert: leaf.cert, key: leaf.private };
}

export const fingerprint = (certPem: string): string => new X509Certificate(certPem).fingerprint256;

/** Reads one complete SMTP reply (last line "NNN text") from a plain socket. */
export function readReply(socket: net.Socket | tls.TLSSocket, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => done(new Error(`no SMTP reply within ${timeoutMs} ms (got ${JSON.stringify(buffer)})`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      if (/(^|\r\n)\d{3} [^\r\n]*\r\n$/.test(buffer)) done(undefined, buffer.trim());
    };
    const onEnd = () => done(new Error(`connection closed (got ${JSON.stringify(buffer)})`));
    const done = (err?: Error, reply?: string) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onEnd);
      if (err) reject(err);
      else resolve(reply!);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onEnd);
  });
}

export interface TlsProbe {
  readonly socket: tls.TLSSocket;
  readonly certificate: tls.PeerCertificate;
  readonly protocol: string | null;
  /** The EHLO reply before STARTTLS (plain port) or the greeting (implicit TLS). */
  readonly before: string;
}

/** Connects to the plain port, says EHLO and STARTTLS, and completes the handshake with `options`. */
export async function startTls(port: number, options: tls.ConnectionOptions = {}): Promise<TlsProbe> {
  const plain = net.connect(port, '127.0.0.1');
  await readReply(plain);
  plain.write('EHLO probe.test\r\n');
  const ehlo = await readReply(plain);
  plain.write('STARTTLS\r\n');
  const ready = await readReply(plain);
  if (!ready.startsWith('220')) throw new Error(`STARTTLS refused: ${ready}`);
  const socket = tls.connect({ socket: plain, servername: 'mx.test', rejectUnauthorized: false, ...options });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, certificate: socket.getPeerCertificate(), protocol: socket.getProtocol(), before: ehlo };
}

/** Connects to an implicit-TLS port and reads the greeting over TLS. */
export async function connectImplicitTls(port: number, options: tls.ConnectionOptions = {}): Promise<TlsProbe> {
  const socket = tls.connect({ port, host: '127.0.0.1', servername: 'mx.test', rejectUnauthorized: false, ...options });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  const greeting = await readReply(socket);
  return { socket, certificate: socket.getPeerCertificate(), protocol: socket.getProtocol(), before: greeting };
}
