/**
 * A SpamAssassin `spamd` client speaking its TCP protocol directly (SPAMC/1.5, the REPORT
 * command): the score and the report SendGrid puts in `spam_score` and `spam_report`.
 */
import net from 'node:net';

export interface SpamdOptions {
  readonly host: string;
  readonly port: number;
  /** Whole exchange (connect, send, scan, answer), ms. */
  readonly timeoutMs: number;
}

export interface SpamdVerdict {
  /** The score as spamd wrote it, e.g. "2.7". */
  readonly score: string;
  /** The score needed to count as spam (spamd's required_score, usually 5.0). */
  readonly threshold: string;
  readonly isSpam: boolean;
  /** The "Content analysis details" report. */
  readonly report: string;
}

/** Messages bigger than this are not scanned, as SendGrid does. */
export const SPAM_SCAN_LIMIT_BYTES = 2.5 * 1024 * 1024;

/** Sends the message to spamd with REPORT; rejects on a connection error, a timeout or a spamd error. */
export function spamdReport(message: Buffer, options: SpamdOptions): Promise<SpamdVerdict> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (err: Error | undefined, verdict?: SpamdVerdict) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(verdict!);
    };
    const socket = net.connect({ host: options.host, port: options.port });
    const timer = setTimeout(() => finish(new Error(`spamd at ${options.host}:${options.port} did not answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    socket.on('connect', () => {
      socket.end(Buffer.concat([
        Buffer.from(`REPORT SPAMC/1.5\r\nContent-length: ${message.length}\r\nUser: mxhook\r\n\r\n`, 'latin1'),
        message,
      ]));
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (err) => finish(new Error(`spamd at ${options.host}:${options.port}: ${err.message}`)));
    socket.on('end', () => {
      try {
        finish(undefined, parseSpamdResponse(Buffer.concat(chunks)));
      } catch (err) {
        finish(err as Error);
      }
    });
  });
}

/**
 * `SPAMD/1.1 0 EX_OK`, headers (`Spam: True ; 1003.3 / 5.0`, `Content-length: n`), a blank line,
 * then the report. A non-zero status (EX_USAGE, EX_NOPERM, ...) is an error.
 */
export function parseSpamdResponse(response: Buffer): SpamdVerdict {
  const text = response.toString('utf8');
  const headerEnd = text.indexOf('\r\n\r\n');
  const head = headerEnd >= 0 ? text.slice(0, headerEnd) : text;
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const status = /^SPAMD\/\d+\.\d+ (\d+) (.*)$/.exec(statusLine.trim());
  if (!status) throw new Error(`spamd answered something else than SPAMD/x.y: ${JSON.stringify(statusLine.slice(0, 80))}`);
  if (status[1] !== '0') throw new Error(`spamd error ${status[1]} ${status[2]}`);
  const spam = headerLines.map((l) => /^Spam:\s*(\w+)\s*;\s*(-?[\d.]+)\s*\/\s*(-?[\d.]+)\s*$/i.exec(l)).find(Boolean);
  if (!spam) throw new Error('spamd answer has no Spam: header');
  return {
    isSpam: /^(true|yes)$/i.test(spam[1]),
    score: spam[2],
    threshold: spam[3],
    report: headerEnd >= 0 ? text.slice(headerEnd + 4) : '',
  };
}
