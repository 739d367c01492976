/**
 * raw_8bit: "encode" through the real pipeline (docs/payload.md, "Raw mode"): 8-bit ISO-8859-1 and
 * Shift_JIS messages sent over SMTP, posted in raw mode, and read by Django's and werkzeug's
 * multipart parsers (test/helpers/parse_form_frameworks.py), which decode the `email` field as UTF-8:
 * every part decodes back to the exact original text. The byte-exact default ("keep") is shown
 * losing those characters to U+FFFD in the same parsers, so the check can fail.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import iconv from 'iconv-lite';
import { beforeAll, describe, expect, it } from 'vitest';
import { redisPerFile } from './helpers/suite.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver, type ReceivedPost } from './helpers/receiver.ts';
import { sendRaw } from './helpers/smtp.ts';

const READER = fileURLToPath(new URL('./helpers/parse_form_frameworks.py', import.meta.url));
/** Debian's python3-django and python3-werkzeug are installed for Debian's interpreter (.ci/run), not a python3 earlier on PATH. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

interface Reading { replacement_chars: number; subject: string; parts: { type: string; charset: string | null; text?: string; sha256?: string }[] }

const LATIN1_TEXT = 'Grüße aus Köln: café, crème brûlée, Ærø, ½ Preis, £5, «déjà vu», ÿ.\r\nZweite Zeile mit = Zeichen und Leerzeichen am Ende   \r\n';
const LATIN1_HTML = '<p>Grüße aus Köln, <b>ça va</b> ? Señor Muñoz.</p>\r\n';
const LATIN1_UNDECLARED = 'Ohne Transfer-Encoding-Kopf: Übergrößenträger.\r\n';
const SJIS_TEXT = '日本語のメールです。半角ｶﾀｶﾅ、記号〒も含みます。\r\n二行目：ソ表能（0x5C を含む文字）。\r\n';
const BINARY = Buffer.from(Array.from({ length: 300 }, (_, i) => 0x80 + (i % 0x80)));

const latin1Message = (subject: string) => Buffer.concat([
  Buffer.from(`From: =?ISO-8859-1?Q?J=FCrgen?= <j@sender.test>\r\nTo: in@raw.example\r\nSubject: ${subject}\r\nMIME-Version: 1.0\r\n` +
    'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n--outer\r\nContent-Type: multipart/alternative; boundary="alt"\r\n\r\n' +
    '--alt\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'),
  iconv.encode(LATIN1_TEXT, 'latin1'),
  Buffer.from('\r\n--alt\r\nContent-Type: text/html; charset=ISO-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'),
  iconv.encode(LATIN1_HTML, 'latin1'),
  Buffer.from('\r\n--alt--\r\n\r\n--outer\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n'),
  iconv.encode(LATIN1_UNDECLARED, 'latin1'),
  Buffer.from('\r\n--outer\r\nContent-Type: application/octet-stream; name="data.bin"\r\nContent-Disposition: attachment; filename="data.bin"\r\nContent-Transfer-Encoding: binary\r\n\r\n'),
  BINARY,
  Buffer.from('\r\n--outer--\r\n'),
]);

const sjisMessage = (subject: string) => Buffer.concat([
  Buffer.from(`From: taro@sender.test\r\nTo: in@raw.example\r\nSubject: ${subject}\r\nMIME-Version: 1.0\r\n` +
    'Content-Type: text/plain; charset=Shift_JIS\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'),
  iconv.encode(SJIS_TEXT, 'Shift_JIS'),
]);

const suite = redisPerFile();
let mx: TestMxhook;
let app: Receiver;

beforeAll(async () => {
  mx = suite.later(await startTestMxhook(suite.redis.socketPath));
  app = suite.later(await startReceiver());
  await mx.addRoute('raw.example', app.url, { send_raw: true, raw_8bit: 'encode' });
  await mx.addRoute('keep.example', app.url, { send_raw: true });
});

async function deliver(to: string, subject: string, raw: Buffer): Promise<ReceivedPost> {
  await sendRaw(mx.smtpPort!, { from: 'x@sender.test', to: [to] }, raw);
  await expect.poll(() => app.posts.some((p) => p.fields.subject === subject), { timeout: 15_000 }).toBe(true);
  return app.posts.find((p) => p.fields.subject === subject)!;
}

/** Django's and werkzeug's readings of the POST, through the real parsers in a Python process. */
async function readWithFrameworks(post: ReceivedPost): Promise<{ django: Reading; werkzeug: Reading }> {
  const child = spawn(PYTHON, [READER, String(post.headers['content-type'])], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  child.stdin.end(post.rawBody);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`parse_form_frameworks.py failed: ${Buffer.concat(err).toString()}`);
  return JSON.parse(Buffer.concat(out).toString('utf8'));
}

/** Line breaks as Python hands them back, and the part's final line break, do not count. */
const same = (text: string | undefined) => text?.replace(/\r\n/g, '\n').replace(/\n+$/, '');

describe('raw_8bit: "encode", read by Django and werkzeug', () => {
  it('gives back every character of an 8-bit ISO-8859-1 message, and the 8-bit attachment\'s bytes', async () => {
    const post = await deliver('in@raw.example', 'latin-1 encoded', latin1Message('latin-1 encoded'));
    expect(post.fields.email).not.toMatch(/[^\x00-\x7f]/);
    const readings = await readWithFrameworks(post);
    for (const reading of [readings.django, readings.werkzeug]) {
      expect(reading.replacement_chars).toBe(0);
      expect(reading.parts.map((p) => [p.type, p.charset])).toEqual([
        ['text/plain', 'iso-8859-1'], ['text/html', 'iso-8859-1'], ['text/plain', 'iso-8859-1'], ['application/octet-stream', null],
      ]);
      expect(reading.parts.slice(0, 3).map((p) => same(p.text))).toEqual([LATIN1_TEXT, LATIN1_HTML, LATIN1_UNDECLARED].map(same));
      expect(reading.parts[3]!.sha256).toBe(createHash('sha256').update(BINARY).digest('hex'));
    }
    expect(post.fields.email).toMatch(/^Content-Transfer-Encoding: quoted-printable\r$/m);
    expect(post.fields.email).toMatch(/^Content-Transfer-Encoding: base64\r$/m);
  });

  it('gives back every character of an 8-bit Shift_JIS message', async () => {
    const post = await deliver('in@raw.example', 'shift_jis encoded', sjisMessage('shift_jis encoded'));
    const readings = await readWithFrameworks(post);
    for (const reading of [readings.django, readings.werkzeug]) {
      expect(reading.replacement_chars).toBe(0);
      expect(reading.parts).toHaveLength(1);
      expect(same(reading.parts[0]!.text)).toBe(same(SJIS_TEXT));
    }
  });

  it('streams a message too big to hold in memory (spooled) with the same result', async () => {
    const big = Buffer.from(Array.from({ length: 1024 * 1024 }, (_, i) => 0x80 | ((i * 37) & 0x7f)));
    const raw = Buffer.concat([
      Buffer.from('From: x@sender.test\r\nTo: in@raw.example\r\nSubject: big encoded\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n' +
        '--b\r\nContent-Type: text/plain; charset=Shift_JIS\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'),
      iconv.encode(SJIS_TEXT, 'Shift_JIS'),
      Buffer.from('\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n'),
      big,
      Buffer.from('\r\n--b--\r\n'),
    ]);
    const post = await deliver('in@raw.example', 'big encoded', raw);
    expect(post.fields.email!.length).toBeGreaterThan(big.length * 4 / 3);
    const readings = await readWithFrameworks(post);
    for (const reading of [readings.django, readings.werkzeug]) {
      expect(reading.replacement_chars).toBe(0);
      expect(same(reading.parts[0]!.text)).toBe(same(SJIS_TEXT));
      expect(reading.parts[1]!.sha256).toBe(createHash('sha256').update(big).digest('hex'));
    }
  });

  it('leaves the envelope fields as raw mode posts them', async () => {
    const post = await deliver('in@raw.example', 'fields kept', sjisMessage('fields kept'));
    expect(JSON.parse(post.fields.envelope!)).toEqual({ to: ['in@raw.example'], from: 'x@sender.test' });
    expect(post.fields.from).toBe('taro@sender.test');
  });
});

describe('raw_8bit default ("keep")', () => {
  it('posts the bytes as received, which those parsers garble: what "encode" is for', async () => {
    const raw = sjisMessage('shift_jis kept');
    const post = await deliver('in@keep.example', 'shift_jis kept', raw);
    expect(post.rawBody.includes(raw)).toBe(true);
    const readings = await readWithFrameworks(post);
    expect(readings.django.replacement_chars).toBeGreaterThan(0);
    expect(readings.werkzeug.replacement_chars).toBeGreaterThan(0);
    expect(same(readings.django.parts[0]!.text)).not.toBe(same(SJIS_TEXT));
  });
});
