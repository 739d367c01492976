/**
 * smtp-server, with ENHANCEDSTATUSCODES advertised, prefixes an application's error reply with its
 * own guess from the basic code (550 -> 5.1.1), so "550 5.7.1 relay denied" cannot be written.
 * This lets a reply whose text already starts with an enhanced code go out as written.
 * Patched once on the library's connection class (there is no per-server hook for it).
 */
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

const PATCHED = Symbol.for('mxhook.explicitEnhancedCodes');
const ENHANCED_PREFIX = /^[245]\.\d{1,3}\.\d{1,3} /;

type Send = (this: unknown, code: number, data: unknown, context?: unknown) => void;

export function allowExplicitEnhancedCodes(): void {
  const proto = SMTPConnection.prototype as unknown as { send: Send; [PATCHED]?: boolean };
  if (proto[PATCHED]) return;
  const original = proto.send;
  proto.send = function send(code, data, context) {
    if (context === undefined && typeof data === 'string' && ENHANCED_PREFIX.test(data)) {
      return original.call(this, code, data, false);
    }
    return original.call(this, code, data, context);
  };
  proto[PATCHED] = true;
}
