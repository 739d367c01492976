/**
 * smtp-server has no public hook for two things we need (enhanced-codes.ts, command-hook.ts), so
 * they patch its connection class and read private fields. The package is pinned to the exact
 * version below (package.json); this check, run when the SMTP role starts, refuses to start on
 * anything else, or when a patched method or private field is not where the patches expect it.
 */
import { createRequire } from 'node:module';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/** Keep equal to package.json's exact "smtp-server" version. */
export const SMTP_SERVER_PINNED_VERSION = '3.21.6';

/** What the patches rely on, checked on a class (the real one, or a stand-in in tests). */
export function smtpServerProblems(connectionClass: unknown, installedVersion: string): string[] {
  const problems: string[] = [];
  if (installedVersion !== SMTP_SERVER_PINNED_VERSION) problems.push(`version ${installedVersion} is installed, the patches are written for ${SMTP_SERVER_PINNED_VERSION}`);
  if (typeof connectionClass !== 'function') return [...problems, 'SMTPConnection is not exported from smtp-server/lib/smtp-connection.js'];
  const proto = (connectionClass as { prototype: Record<string, unknown> }).prototype;
  const method = (name: string, arity: number) => {
    const fn = proto[name];
    if (typeof fn !== 'function') problems.push(`SMTPConnection.prototype.${name} is missing`);
    else if (fn.length !== arity) problems.push(`SMTPConnection.prototype.${name} takes ${fn.length} arguments, expected ${arity}`);
  };
  method('send', 3); // enhanced-codes.ts: (code, data, context), context false = no enhanced code
  method('_onCommand', 2); // command-hook.ts: (command, callback)
  const enhanced = proto._getEnhancedStatusCode;
  if (typeof enhanced !== 'function' || !/context === false/.test(String(enhanced))) {
    problems.push('SMTPConnection.prototype._getEnhancedStatusCode no longer skips the code for context === false');
  }
  // Instance fields the command hook reads, all set in the constructor.
  const source = Function.prototype.toString.call(connectionClass);
  for (const field of ['_server', '_ready', '_upgrading', '_closing']) {
    if (!new RegExp(`this\\.${field}\\s*=`).test(source)) problems.push(`SMTPConnection no longer sets this.${field}`);
  }
  return problems;
}

/** Throws, naming the package and version, when smtpServerProblems finds any. */
export function assertSmtpServerInternals(connectionClass: unknown = SMTPConnection, installedVersion = installedSmtpServerVersion()): void {
  const problems = smtpServerProblems(connectionClass, installedVersion);
  if (problems.length) {
    throw new Error(`smtp-server ${installedVersion} does not match what mxhook patches (src/smtp/enhanced-codes.ts, command-hook.ts; pinned ${SMTP_SERVER_PINNED_VERSION}): ${problems.join('; ')}`);
  }
}

function installedSmtpServerVersion(): string {
  return (createRequire(import.meta.url)('smtp-server/package.json') as { version: string }).version;
}
