/**
 * A small SMTP client on a raw socket, for the scenarios smtp-source cannot drive: paced sends
 * with the end-of-DATA time of each message (D) and very large messages (E). One connection,
 * one message at a time, kept open between messages; no pipelining, like smtp-source.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export const wallNow = () => performance.timeOrigin + performance.now();

export class SmtpConnection {
  #socket;
  #buffer = '';
  #waiting;

  static async open(port, helo = 'bench.client') {
    const connection = new SmtpConnection();
    connection.#socket = net.connect(port, '127.0.0.1');
    connection.#socket.setNoDelay(true);
    connection.#socket.setEncoding('latin1');
    connection.#socket.on('data', (chunk) => connection.#onData(chunk));
    connection.#socket.on('error', (err) => connection.#fail(err));
    connection.#socket.on('close', () => connection.#fail(new Error('connection closed')));
    await connection.#expect(220);
    await connection.command(`EHLO ${helo}`, 250);
    return connection;
  }

  #onData(chunk) {
    this.#buffer += chunk;
    // A complete reply ends with a line "NNN text" (a space after the code, not a dash).
    const match = /(?:^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(this.#buffer);
    if (!match || !this.#waiting) return;
    const reply = this.#buffer.slice(0, match.index + match[0].length);
    this.#buffer = this.#buffer.slice(match.index + match[0].length);
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting.resolve({ code: Number(match[1]), text: reply.trim() });
  }

  #fail(err) {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.reject(err);
  }

  async #expect(code) {
    const reply = await new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.#onData('');
    });
    if (reply.code !== code) throw new Error(`expected ${code}, got: ${reply.text}`);
    return reply;
  }

  command(line, code) {
    this.#socket.write(`${line}\r\n`);
    return this.#expect(code);
  }

  /**
   * Sends one message (CRLF lines ending with CRLF, no line starting with a dot). Returns when DATA ended and when the
   * 250 came, as wall-clock ms. `body` may be a Buffer or an array of Buffers (large messages).
   */
  async send({ from, to, body }) {
    await this.command(`MAIL FROM:<${from}>`, 250);
    await this.command(`RCPT TO:<${to}>`, 250);
    await this.command('DATA', 354);
    for (const chunk of Array.isArray(body) ? body : [body]) {
      if (!this.#socket.write(chunk)) await new Promise((resolve) => this.#socket.once('drain', resolve));
    }
    const reply = new Promise((resolve, reject) => { this.#waiting = { resolve, reject }; });
    // Every body here ends with CRLF, so the terminator is just ".\r\n".
    this.#socket.write('.\r\n');
    const endOfData = wallNow();
    const { code, text } = await reply;
    if (code !== 250) throw new Error(`message to ${to} refused: ${text}`);
    return { endOfData, acceptedAt: wallNow() };
  }

  async close() {
    try {
      await this.command('QUIT', 221);
    } catch {
      // closing anyway
    }
    this.#socket.destroy();
  }
}

/** A plain message of about `size` bytes whose lines never start with a dot. */
export function plainMessage({ from, to, subject, size }) {
  const line = `${'x'.repeat(76)}\r\n`;
  const lines = Math.max(1, Math.ceil(size / line.length));
  return Buffer.from(`From: <${from}>\r\nTo: <${to}>\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@bench>\r\n` +
    `Date: ${new Date().toUTCString()}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n${line.repeat(lines)}`);
}

/** A multipart message with one base64 attachment (`attachment`, a Buffer), as an array of chunks. */
export function messageWithAttachment({ from, to, subject, attachment }) {
  const boundary = `bench-${Math.random().toString(36).slice(2)}`;
  const head = `From: <${from}>\r\nTo: <${to}>\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@bench>\r\n` +
    `Date: ${new Date().toUTCString()}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${boundary}"\r\n\r\n` +
    `--${boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee the attachment.\r\n` +
    `--${boundary}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n` +
    `Content-Disposition: attachment; filename="data.bin"\r\n\r\n`;
  const base64 = attachment.toString('base64');
  const chunks = [Buffer.from(head)];
  // 76-character lines, in chunks of about 1 MB so the message is never one giant string.
  const perChunk = 76 * 13_000;
  for (let i = 0; i < base64.length; i += perChunk) {
    chunks.push(Buffer.from(base64.slice(i, i + perChunk).replace(/.{1,76}/g, '$&\r\n'), 'latin1'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return chunks;
}
