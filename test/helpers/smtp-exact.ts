/**
 * Sends a message's bytes exactly as given (bare LF line endings, NUL bytes, 8-bit headers stay as
 * they are), which nodemailer does not: it rewrites line endings to CRLF. Only dot-stuffing is
 * applied, as SMTP requires, and `BODY=8BITMIME` / `SMTPUTF8` are asked for when needed.
 */
import { SmtpLineClient } from './smtp.ts';

export async function sendExact(port: number, envelope: { from: string; to: string[] }, raw: Buffer): Promise<string> {
  const { client } = await SmtpLineClient.connect(port);
  try {
    const expect = async (line: string, code: RegExp) => {
      const reply = await client.command(line);
      if (!code.test(reply)) throw new Error(`${line} -> ${reply}`);
      return reply;
    };
    await expect('EHLO sender.test', /^250/);
    const utf8 = [envelope.from, ...envelope.to].some((a) => /[^\x00-\x7f]/.test(a));
    await expect(`MAIL FROM:<${envelope.from}> BODY=8BITMIME${utf8 ? ' SMTPUTF8' : ''}`, /^250/);
    for (const to of envelope.to) await expect(`RCPT TO:<${to}>`, /^250/);
    await expect('DATA', /^354/);
    // A line starting with "." gets another "." (RFC 5321 4.5.2), at the start and after any LF.
    const parts: Buffer[] = [];
    let start = 0;
    for (let i = 0; i <= raw.length; i++) {
      if (i === raw.length || raw[i] === 0x0a) {
        const line = raw.subarray(start, i + 1);
        parts.push(line[0] === 0x2e ? Buffer.concat([Buffer.from('.'), line]) : line);
        start = i + 1;
      }
    }
    const body = Buffer.concat(parts);
    // The end of data is CRLF "." CRLF; a message not ending in CRLF gets one more line break.
    const tail = body.subarray(-2).toString('latin1') === '\r\n' ? '.\r\n' : '\r\n.\r\n';
    client.write(Buffer.concat([body, Buffer.from(tail)]));
    const reply = await client.nextReply(30_000);
    if (!/^250/.test(reply)) throw new Error(`DATA -> ${reply}`);
    await client.command('QUIT').catch(() => '');
    return reply;
  } finally {
    client.close();
  }
}
