/**
 * smtp-server has no hook that sees every command (EHLO, NOOP, RSET, VRFY, garbage...), only
 * MAIL/RCPT/DATA handlers, so a client could send commands forever. This lets a server's options
 * carry a hook that is asked before each command line; a reply it returns is sent as `421 <reply>`
 * and the connection is closed. Patched once on the library's connection class, like
 * enhanced-codes.ts (there is no per-server hook for it).
 */
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { SMTPServerOptions, SMTPServerSession } from 'smtp-server';

const PATCHED = Symbol.for('mxhook.commandHook.patched');
const HOOK = Symbol.for('mxhook.commandHook');

/** Returns the 421 reply text (starting with an enhanced code) to refuse the command, or undefined. */
export type CommandHook = (session: SMTPServerSession, commandName: string) => string | undefined;

interface ConnectionInternals {
  _server: { options: { [HOOK]?: CommandHook } };
  _upgrading?: boolean;
  _ready?: boolean;
  _closing?: boolean;
  session: SMTPServerSession;
  send(code: number, data: string): void;
}
type OnCommand = (this: ConnectionInternals, command: Buffer | string, callback?: () => void) => unknown;

/** Puts the hook on a server's options (before `new SMTPServer(options)` or after). */
export function withCommandHook<T extends SMTPServerOptions>(options: T, hook: CommandHook): T {
  installCommandHookPatch();
  return Object.assign(options, { [HOOK]: hook });
}

function installCommandHookPatch(): void {
  const proto = SMTPConnection.prototype as unknown as { _onCommand: OnCommand; [PATCHED]?: boolean };
  if (proto[PATCHED]) return;
  const original = proto._onCommand;
  if (typeof original !== 'function') throw new Error('smtp-server changed: SMTPConnection._onCommand is gone (see src/smtp/command-hook.ts)');
  proto._onCommand = function onCommand(command, callback) {
    const hook = this._server.options[HOOK];
    // Lines buffered during a TLS handshake, before the greeting or after close are the library's business.
    if (hook && !this._upgrading && this._ready && !this._closing) {
      const name = String(command ?? '').split(' ')[0].toUpperCase();
      const refusal = hook(this.session, name);
      if (refusal) return this.send(421, refusal);
    }
    return original.call(this, command, callback);
  };
  proto[PATCHED] = true;
}
