/**
 * "Send a test mail" (console and API): a sample message with a text part, an HTML part and a
 * small attachment, sent through mxhook's own SMTP listener like any sender's mail, so the test
 * goes through the whole pipeline. Answers with the message id the listener's 250 names.
 */
import net from 'node:net';

export interface TestMailTarget {
  /** Where the SMTP listener is reached from this process (the bind address, or loopback for 0.0.0.0/::). */
  readonly host: string;
  readonly port: number;
}

export function buildTestMessage(hostname: string, now = new Date()): { from: string; to: string; data: string } {
  const from = 'mxhook-test@localhost';
  const to = `test@${hostname}`;
  const boundary = `mxhook-test-${now.getTime().toString(36)}`;
  const attachment = Buffer.from('This small file shows how attachments reach your app.\n').toString('base64');
  const data = [
    `From: mxhook test <${from}>`, `To: <${to}>`, `Subject: mxhook test mail`, `Date: ${now.toUTCString()}`,
    `Message-ID: <test-${now.getTime()}@mxhook.localhost>`, 'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`, '',
    `--${boundary}`, `Content-Type: multipart/alternative; boundary="${boundary}-alt"`, '',
    `--${boundary}-alt`, 'Content-Type: text/plain; charset=utf-8', '',
    'This is a test mail sent by the mxhook console.', '',
    `--${boundary}-alt`, 'Content-Type: text/html; charset=utf-8', '',
    '<p>This is a <b>test mail</b> sent by the mxhook console.</p>', '',
    `--${boundary}-alt--`,
    `--${boundary}`, 'Content-Type: text/plain; name="hello.txt"', 'Content-Disposition: attachment; filename="hello.txt"',
    'Content-Transfer-Encoding: base64', '', attachment, `--${boundary}--`, '',
  ].join('\r\n');
  return { from, to, data };
}

/**
 * A minimal SMTP client for our own listener (plain, loopback): EHLO, MAIL, RCPT, DATA, QUIT.
 * Rejects with the server's reply when a step is refused.
 */
export async function sendTestMail(target: TestMailTarget, hostname: string, timeoutMs = 15_000): Promise<{ messageId: string; reply: string }> {
  const { from, to, data } = buildTestMessage(hostname);
  const socket = net.connect({ host: target.host, port: target.port });
  socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`SMTP listener at ${target.host}:${target.port} did not answer in time`)));
  let buffer = '';
  const waiters: ((reply: string) => void)[] = [];
  let failure: Error | undefined;
  const failed: ((err: Error) => void)[] = [];
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    // A reply ends with a line "NNN text" (a space after the code); "NNN-" lines continue it.
    for (let m = /(^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(buffer); m; m = /(^|\r\n)(\d{3}) [^\r\n]*\r\n/.exec(buffer)) {
      const end = m.index + m[0].length;
      const reply = buffer.slice(0, end).trim();
      buffer = buffer.slice(end);
      waiters.shift()?.(reply);
    }
  });
  socket.on('error', (err) => {
    failure = err;
    for (const f of failed.splice(0)) f(err);
  });
  const next = () => new Promise<string>((resolve, reject) => {
    if (failure) return reject(failure);
    waiters.push(resolve);
    failed.push(reject);
  });
  const step = async (line: string | undefined, expect: number) => {
    const reply = next();
    if (line !== undefined) socket.write(`${line}\r\n`);
    const text = await reply;
    if (!text.startsWith(String(expect))) throw new Error(`SMTP ${line?.split(' ')[0] ?? 'greeting'} refused: ${text}`);
    return text;
  };
  try {
    await step(undefined, 220);
    await step('EHLO mxhook-console.localhost', 250);
    await step(`MAIL FROM:<${from}>`, 250);
    await step(`RCPT TO:<${to}>`, 250);
    await step('DATA', 354);
    const reply = await step(`${data.replace(/^\./gm, '..')}\r\n.`, 250);
    socket.end('QUIT\r\n');
    const messageId = /queued as (\S+)/.exec(reply)?.[1];
    if (!messageId) throw new Error(`SMTP accepted the test mail without naming it: ${reply}`);
    return { messageId, reply };
  } finally {
    socket.destroy();
  }
}

/** The address to reach a listener bound to `bindHost` from this machine. */
export function reachableHost(bindHost: string): string {
  if (bindHost === '0.0.0.0' || bindHost === '') return '127.0.0.1';
  if (bindHost === '::' || bindHost === '[::]') return '::1';
  return bindHost;
}
