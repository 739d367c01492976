/**
 * A sending MTA for fault tests: one connection per try, exact replies read off the socket, and
 * the retry rule real MTAs follow: a 4xx reply, or a connection lost before the final reply, means
 * "try the same message again later"; a 5xx is final. Every try is recorded, so a test can tell
 * which try of a message produced a POST and whether the sender ever saw its 250.
 */
import net from 'node:net';

/** How one try ended. `lost`: the connection died (or timed out) before the reply to it was read. */
export type TryEnd =
  | { readonly kind: 'reply'; readonly stage: 'greeting' | 'ehlo' | 'mail' | 'rcpt' | 'data' | 'end-of-data'; readonly reply: string }
  | { readonly kind: 'lost'; readonly stage: 'greeting' | 'ehlo' | 'mail' | 'rcpt' | 'data' | 'end-of-data'; readonly error: string };

export interface TryRecord {
  /** 1, 2, ... in the order the sender made them. */
  readonly n: number;
  readonly end: TryEnd;
  /** The id in `250 Ok: queued as ID`, when the try got its 250. */
  readonly queuedAs?: string;
}

export interface OutgoingMessage {
  readonly from: string;
  readonly to: string;
  /** The message for try `n` (a test may stamp the try number into a header). */
  build(n: number): string;
}

export interface SendResult {
  readonly tries: TryRecord[];
  /** The last try's end. */
  readonly final: TryEnd;
  readonly got250: boolean;
}

export interface MtaOptions {
  readonly port: number;
  /** Most tries per message before the sender gives up. */
  readonly maxTries: number;
  /** Wait before try n+1 is `retryDelayMs(n)`. */
  readonly retryDelayMs: (n: number) => number;
  /** A reply not read within this long counts as a lost connection. */
  readonly replyTimeoutMs: number;
  /** Called after every try (for tests that act on the sender's progress). */
  readonly onTry?: (record: TryRecord) => void;
}

const is250 = (end: TryEnd) => end.kind === 'reply' && end.stage === 'end-of-data' && /^250[ -]/.test(end.reply);
const isTransient = (end: TryEnd) => end.kind === 'lost' || /^4\d\d/.test(end.reply);

/** Sends one message until it gets 250, a 5xx, or the sender runs out of tries. */
export async function sendLikeAnMta(message: OutgoingMessage, options: MtaOptions): Promise<SendResult> {
  const tries: TryRecord[] = [];
  for (let n = 1; ; n++) {
    const end = await tryOnce(message, n, options);
    const queuedAs = is250(end) && end.kind === 'reply' ? /queued as (\S+)/.exec(end.reply)?.[1] : undefined;
    const record: TryRecord = { n, end, ...(queuedAs ? { queuedAs } : {}) };
    tries.push(record);
    options.onTry?.(record);
    if (is250(end) || !isTransient(end) || n >= options.maxTries) return { tries, final: end, got250: is250(end) };
    await new Promise((resolve) => setTimeout(resolve, options.retryDelayMs(n)));
  }
}

async function tryOnce(message: OutgoingMessage, n: number, options: MtaOptions): Promise<TryEnd> {
  const conn = new ReplyReader(net.connect(options.port, '127.0.0.1'), options.replyTimeoutMs);
  type Stage = TryEnd['stage'];
  let stage: Stage = 'greeting';
  const expect = async (next: Stage, code: RegExp, line?: string): Promise<TryEnd | undefined> => {
    stage = next;
    if (line !== undefined) conn.write(line);
    const reply = await conn.reply();
    return code.test(reply) ? undefined : { kind: 'reply', stage, reply };
  };
  try {
    const failed =
      (await expect('greeting', /^220/)) ??
      (await expect('ehlo', /^250/, 'EHLO mta.soak.test\r\n')) ??
      (await expect('mail', /^250/, `MAIL FROM:<${message.from}>\r\n`)) ??
      (await expect('rcpt', /^250/, `RCPT TO:<${message.to}>\r\n`)) ??
      (await expect('data', /^354/, 'DATA\r\n'));
    if (failed) return failed;
    stage = 'end-of-data';
    conn.write(`${dotStuff(message.build(n))}\r\n.\r\n`);
    const reply = await conn.reply();
    conn.write('QUIT\r\n');
    return { kind: 'reply', stage, reply };
  } catch (err) {
    return { kind: 'lost', stage, error: (err as Error).message };
  } finally {
    conn.close();
  }
}

function dotStuff(text: string): string {
  return text.replace(/\r?\n/g, '\r\n').replace(/^\./gm, '..');
}

/** Reads whole SMTP replies; a pending read fails at once when the connection closes. */
class ReplyReader {
  private buffer = '';
  private pending: { resolve: (reply: string) => void; reject: (err: Error) => void } | undefined;
  private closedWith: Error | undefined;
  constructor(private readonly socket: net.Socket, private readonly timeoutMs: number) {
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.flush();
    });
    socket.on('error', (err) => this.fail(new Error(`connection error: ${err.message}`)));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  private fail(err: Error): void {
    this.closedWith ??= err;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(this.closedWith);
  }

  private flush(): void {
    const match = /(^|\r\n)\d{3} [^\r\n]*\r\n/.exec(this.buffer);
    if (!match || !this.pending) return;
    const end = match.index + match[0].length;
    const reply = this.buffer.slice(0, end).trim();
    this.buffer = this.buffer.slice(end);
    const p = this.pending;
    this.pending = undefined;
    p.resolve(reply);
  }

  reply(): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`no reply within ${this.timeoutMs} ms`)), this.timeoutMs);
      const done = <T>(f: (v: T) => void) => (v: T) => { clearTimeout(timer); f(v); };
      this.pending = { resolve: done(resolve), reject: done(reject) };
      this.flush();
      if (this.pending && this.closedWith) this.fail(this.closedWith);
    });
  }

  write(data: string): void {
    if (!this.closedWith) this.socket.write(data);
  }

  close(): void {
    this.socket.destroy();
  }
}
