/** SMTP clients for tests: nodemailer for whole messages, a line-level client for exact replies. */
import net from 'node:net';
import nodemailer from 'nodemailer';
import type Mail from 'nodemailer/lib/mailer';

export async function sendMail(port: number, message: Mail.Options & { envelope?: { from: string; to: string[] } }) {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, tls: { rejectUnauthorized: false } });
  try {
    return await transport.sendMail(message);
  } finally {
    transport.close();
  }
}

/** Sends raw MIME bytes with a given envelope. */
export async function sendRaw(port: number, envelope: { from: string; to: string[] }, raw: Buffer | string) {
  return sendMail(port, { envelope, raw });
}

/**
 * Talks SMTP line by line: each command gets its full reply back, so tests can assert the exact
 * code and enhanced status the server sent.
 */
export class SmtpLineClient {
  private buffer = '';
  private waiting: ((reply: string) => void) | undefined;
  /** Resolves when the connection is closed (by either side). */
  readonly closed: Promise<void>;
  private constructor(private readonly socket: net.Socket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.flush();
    });
  }

  /**
   * `preamble` is written first, before the greeting (a PROXY protocol header). `from.localAddress`
   * binds the client end (any 127.x.y.z on Linux), `from.host` is the server address (default 127.0.0.1).
   */
  static async connect(port: number, preamble?: string, from: { localAddress?: string; host?: string } = {}): Promise<{ client: SmtpLineClient; greeting: string }> {
    const socket = net.connect({ port, host: from.host ?? '127.0.0.1', ...(from.localAddress ? { localAddress: from.localAddress } : {}) });
    if (preamble) socket.write(preamble);
    const client = new SmtpLineClient(socket);
    const greeting = await client.nextReply();
    return { client, greeting };
  }

  private flush(): void {
    // A complete reply ends with a line "NNN text" (space after the code, not a dash).
    const match = /(^|\r\n)\d{3} [^\r\n]*\r\n/.exec(this.buffer);
    if (!match || !this.waiting) return;
    const end = match.index + match[0].length;
    const reply = this.buffer.slice(0, end).trim();
    this.buffer = this.buffer.slice(end);
    const resolve = this.waiting;
    this.waiting = undefined;
    resolve(reply);
  }

  nextReply(timeoutMs = 10_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no SMTP reply within ${timeoutMs} ms (buffer: ${this.buffer})`)), timeoutMs);
      this.waiting = (reply) => {
        clearTimeout(timer);
        resolve(reply);
      };
      this.flush();
    });
  }

  async command(line: string): Promise<string> {
    this.socket.write(`${line}\r\n`);
    return this.nextReply();
  }

  /** Writes bytes without waiting for a reply (message bodies). */
  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  close(): void {
    this.socket.destroy();
  }
}
