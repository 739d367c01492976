import { describe, expect, it } from 'vitest';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { assertSmtpServerInternals, SMTP_SERVER_PINNED_VERSION, smtpServerProblems } from './smtp-server-check.ts';

/** A stand-in shaped like the smtp-server connection class the patches were written for. */
function standIn(): { new (): unknown; prototype: Record<string, unknown> } {
  class Connection {
    declare _server: unknown;
    declare _ready: boolean;
    declare _upgrading: boolean;
    declare _closing: boolean;
    constructor() {
      this._server = {};
      this._ready = false;
      this._upgrading = false;
      this._closing = false;
    }
    send(_code: number, _data: unknown, _context?: unknown) {}
    _onCommand(_command: unknown, _callback: unknown) {}
    _getEnhancedStatusCode(_code: number, context: unknown) {
      if (context === false) return '';
      return '2.0.0';
    }
  }
  return Connection as never;
}

describe('smtp-server self-check', () => {
  it('passes on the installed, pinned smtp-server', () => {
    expect(smtpServerProblems(SMTPConnection, SMTP_SERVER_PINNED_VERSION)).toEqual([]);
    expect(() => assertSmtpServerInternals()).not.toThrow();
  });

  it('passes on a stand-in with every patched method and private field', () => {
    expect(smtpServerProblems(standIn(), SMTP_SERVER_PINNED_VERSION)).toEqual([]);
  });

  it('fails loudly, naming the package, version and part, when a patched method is missing', () => {
    const broken = standIn();
    delete broken.prototype._onCommand;
    expect(() => assertSmtpServerInternals(broken, SMTP_SERVER_PINNED_VERSION))
      .toThrow(/^smtp-server 3\.21\.6 does not match what mxhook patches .*SMTPConnection\.prototype\._onCommand is missing/);
  });

  it('fails when send changed shape, a private field is no longer set, or another version is installed', () => {
    const changed = standIn();
    changed.prototype.send = function send(_code: number) {};
    expect(smtpServerProblems(changed, SMTP_SERVER_PINNED_VERSION)).toEqual(['SMTPConnection.prototype.send takes 1 arguments, expected 3']);
    class NoUpgrading {
      declare _server: unknown;
      declare _ready: boolean;
      declare _closing: boolean;
      constructor() {
        this._server = {};
        this._ready = false;
        this._closing = false;
      }
    }
    for (const name of ['send', '_onCommand', '_getEnhancedStatusCode']) Object.defineProperty(NoUpgrading.prototype, name, { value: standIn().prototype[name] });
    const problems = smtpServerProblems(NoUpgrading, SMTP_SERVER_PINNED_VERSION);
    expect(problems).toContain('SMTPConnection no longer sets this._upgrading');
    expect(() => assertSmtpServerInternals(standIn(), '3.22.0')).toThrow(/smtp-server 3\.22\.0 .*version 3\.22\.0 is installed, the patches are written for 3\.21\.6/);
    expect(smtpServerProblems(undefined, SMTP_SERVER_PINNED_VERSION)).toContain('SMTPConnection is not exported from smtp-server/lib/smtp-connection.js');
  });
});
