/**
 * The certificate the SMTP listeners present (STARTTLS and the implicit-TLS port): read from PEM
 * files and reloaded on SIGHUP or when the files change, or, with none configured, a self-signed
 * one generated at start (opportunistic TLS: senders encrypt but cannot verify who we are).
 */
import { watchFile, unwatchFile, type Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';

/** TLS 1.0 and 1.1 are deprecated (RFC 8996). */
export const MIN_TLS_VERSION = 'TLSv1.2';

export interface SmtpTlsMaterial {
  readonly key: string;
  readonly cert: string;
  readonly source: 'files' | 'self-signed';
  /** SHA-256 fingerprint of the leaf certificate, as `AA:BB:...`. */
  readonly fingerprint256: string;
  readonly certPath?: string | undefined;
  readonly keyPath?: string | undefined;
}

export interface LoadTlsOptions {
  readonly certPath?: string | undefined;
  readonly keyPath?: string | undefined;
  /** Without files: generate a self-signed certificate (true) or offer no TLS (false). */
  readonly selfSigned: boolean;
  /** Name for the self-signed certificate (the configured hostname). */
  readonly hostname: string;
}

/** Resolves to undefined when TLS is off (no files and self-signed disabled). Says which at start. */
export async function loadSmtpTls(options: LoadTlsOptions, logger: Logger): Promise<SmtpTlsMaterial | undefined> {
  if (Boolean(options.certPath) !== Boolean(options.keyPath)) {
    throw new Error('MXHOOK_TLS_CERT (--tls-cert) and MXHOOK_TLS_KEY (--tls-key) must be set together');
  }
  if (options.certPath && options.keyPath) {
    const material = await readTlsFiles(options.certPath, options.keyPath);
    logger.info({ event: 'tls_certificate_loaded', cert: options.certPath, fingerprint256: material.fingerprint256, ...describe(material.cert) });
    return material;
  }
  if (!options.selfSigned) {
    logger.warn({ event: 'tls_off', message: 'no TLS certificate configured (MXHOOK_TLS_CERT, MXHOOK_TLS_KEY) and self-signed TLS disabled: STARTTLS is not offered, mail arrives unencrypted' });
    return undefined;
  }
  // Loaded only when needed: the module takes a while to import, and CLI commands never use it.
  const { generate } = await import('selfsigned');
  const generated = await generate([{ name: 'commonName', value: options.hostname }], {
    keySize: 2048, algorithm: 'sha256', notAfterDate: new Date(Date.now() + 365 * 86_400_000),
  });
  const material: SmtpTlsMaterial = { key: generated.private, cert: generated.cert, source: 'self-signed', fingerprint256: fingerprintOf(generated.cert) };
  logger.warn({
    event: 'tls_self_signed', fingerprint256: material.fingerprint256,
    message: 'no TLS certificate configured (MXHOOK_TLS_CERT, MXHOOK_TLS_KEY): STARTTLS uses a self-signed certificate generated at start; senders encrypt but cannot verify it',
  });
  return material;
}

/** Reads and checks a certificate/key pair; throws when they are unreadable or do not match. */
async function readTlsFiles(certPath: string, keyPath: string): Promise<SmtpTlsMaterial> {
  const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
  try {
    createSecureContext({ key, cert, minVersion: MIN_TLS_VERSION });
  } catch (err) {
    throw new Error(`TLS certificate ${certPath} / key ${keyPath} unusable: ${(err as Error).message}`);
  }
  return { key, cert, source: 'files', certPath, keyPath, fingerprint256: fingerprintOf(cert) };
}

function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

function describe(certPem: string): Record<string, string> {
  const x509 = new X509Certificate(certPem);
  return { subject: x509.subject.replace(/\n/g, ', '), validTo: x509.validTo };
}

export interface TlsReloadOptions {
  /** How often the files are polled for changes, ms; 0 leaves only SIGHUP. */
  readonly watchIntervalMs: number;
  /** Applies new material to every listener (smtp-server's updateSecureContext). */
  readonly apply: (material: SmtpTlsMaterial) => void;
  readonly logger: Logger;
}

/**
 * Reloads the certificate on SIGHUP and when either file changes. A pair that does not load (a
 * half-written renewal, a key that does not match) is logged and the current one stays in use.
 * Returns a function that stops watching. SIGHUP is handled (not fatal) while the listener runs.
 */
export function watchTlsFiles(current: SmtpTlsMaterial | undefined, options: TlsReloadOptions): () => void {
  const { logger } = options;
  const certPath = current?.certPath;
  const keyPath = current?.keyPath;
  let fingerprint = current?.fingerprint256;
  let reloading: Promise<void> = Promise.resolve();
  const reload = (trigger: string) => {
    if (!certPath || !keyPath) {
      logger.info({ event: 'tls_reload_skipped', trigger, reason: 'no certificate files configured' });
      return;
    }
    // One at a time, in order: a SIGHUP during a file-change reload runs after it.
    reloading = reloading.then(async () => {
      try {
        const material = await readTlsFiles(certPath, keyPath);
        options.apply(material);
        logger.info({ event: 'tls_reloaded', trigger, fingerprint256: material.fingerprint256, changed: material.fingerprint256 !== fingerprint, ...describe(material.cert) });
        fingerprint = material.fingerprint256;
      } catch (err) {
        logger.error({ event: 'tls_reload_failed', trigger, err: String((err as Error).message ?? err), message: 'keeping the certificate in use' });
      }
    });
  };
  const onSighup = () => reload('SIGHUP');
  process.on('SIGHUP', onSighup);
  const onChange = (curr: Stats, prev: Stats) => {
    if (curr.mtimeMs !== prev.mtimeMs || curr.size !== prev.size || curr.ino !== prev.ino) reload('file-change');
  };
  const watched = certPath && keyPath && options.watchIntervalMs > 0 ? [certPath, keyPath] : [];
  for (const file of watched) watchFile(file, { interval: options.watchIntervalMs, persistent: false }, onChange);
  return () => {
    process.off('SIGHUP', onSighup);
    for (const file of watched) unwatchFile(file, onChange);
  };
}
