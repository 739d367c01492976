/**
 * Fidelity corpus (fixtures/corpus, README there): every message goes end to end through the real
 * server, SMTP -> Redis -> worker -> multipart POST, and the POST is read by busboy (as the test
 * receiver and with busboy's defaults), multer plus @sendgrid/inbound-mail-parser, and Python's
 * standard library. The expectations are what a person reading each message sees.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWithBusboy, readWithPython, startMulterReader, type MulterReader, type ReadForm } from './helpers/form-readers.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type ReceivedPost, type Receiver } from './helpers/receiver.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { sendExact } from './helpers/smtp-exact.ts';

interface TextExpectation { includes?: string[]; excludes?: string[] }
interface Expected {
  file: string;
  rcpt: string;
  mailFrom: string;
  subject: string;
  from?: string;
  to?: string;
  cc?: string;
  toIncludes?: string[];
  /** null: the field must be absent. */
  text?: TextExpectation | null;
  html?: TextExpectation | null;
  attachments?: { filename: string; type: string; sha256: string; contentId?: string }[];
  attachmentCount?: number;
  headers?: TextExpectation;
  /** A piece of the parse_error field; without it the field must be absent. */
  parseError?: string;
}

const corpusDir = new URL('../fixtures/corpus/', import.meta.url);
const corpus: Expected[] = JSON.parse(await readFile(new URL('expectations.json', corpusDir), 'utf8'));
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

let redis: TestRedis;
let mx: TestMxhook;
let app: Receiver;
let multer: MulterReader;
const posts = new Map<string, ReceivedPost>();
/** Each POST as the other receivers read it, by recipient. */
const readers = new Map<string, { busboy: ReadForm; python: ReadForm; multer: Awaited<ReturnType<MulterReader['read']>> }>();

beforeAll(async () => {
  redis = await startTestRedis();
  mx = await startTestMxhook(redis.socketPath, ['--worker-concurrency', '16']);
  app = await startReceiver();
  multer = await startMulterReader();
  await mx.addRoute('parse.example.com', app.url);
  // Sent concurrently through the one server, a few connections at a time.
  const queue = [...corpus];
  await Promise.all(Array.from({ length: 6 }, async () => {
    for (let e = queue.shift(); e; e = queue.shift()) {
      await sendExact(mx.smtpPort!, { from: e.mailFrom, to: [e.rcpt] }, await readFile(new URL(e.file, corpusDir)));
    }
  }));
  for (const post of await app.waitFor(corpus.length, 45_000)) posts.set(JSON.parse(post.fields.envelope).to[0], post);
  const all = [...posts.entries()].map(([rcpt, p]) => ({ rcpt, body: p.rawBody, contentType: String(p.headers['content-type']) }));
  const python = await readWithPython(all);
  await Promise.all(all.map(async ({ rcpt, body, contentType }, i) => {
    readers.set(rcpt, { busboy: await readWithBusboy(body, contentType), python: python[i], multer: await multer.read(body, contentType) });
  }));
}, 90_000);

afterAll(async () => {
  await mx?.close();
  await Promise.all([app?.close(), multer?.close()]);
  await redis?.cleanup();
});

function checkText(value: string | undefined, expected: TextExpectation | null | undefined) {
  if (expected === undefined) return;
  if (expected === null) return expect(value).toBeUndefined();
  expect(value).toBeTypeOf('string');
  for (const piece of expected.includes ?? []) expect(value).toContain(piece);
  for (const piece of expected.excludes ?? []) expect(value).not.toContain(piece);
}

/** The attachments as the expectations write them, from one reader's files. */
function filesOf(form: ReadForm, count: number) {
  return Array.from({ length: count }, (_, i) => {
    const f = form.files[`attachment${i + 1}`];
    return f && { filename: f.filename, type: f.type, sha256: f.sha256 };
  });
}

describe(`fidelity corpus (${corpus.length} messages)`, () => {
  it('has at least 60 messages, each arriving as exactly one POST', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(60);
    expect(posts.size).toBe(corpus.length);
    expect(app.posts.length).toBe(corpus.length);
  });

  describe.each(corpus.map((e) => [e.file, e] as const))('%s', (_name, e) => {
    const post = () => {
      const p = posts.get(e.rcpt);
      if (!p) throw new Error(`no POST for ${e.rcpt}`);
      return p;
    };

    it('reads as the person sees it', () => {
      const f = post().fields;
      expect(f.subject).toBe(e.subject);
      if (e.from !== undefined) expect(f.from).toBe(e.from);
      if (e.to !== undefined) expect(f.to).toBe(e.to);
      if (e.cc !== undefined) expect(f.cc).toBe(e.cc);
      for (const piece of e.toIncludes ?? []) expect(f.to).toContain(piece);
      checkText(f.text, e.text);
      checkText(f.html, e.html);
      checkText(f.headers, e.headers);
      if (e.parseError) expect(f.parse_error).toContain(e.parseError);
      else expect(f.parse_error).toBeUndefined();
      expect(JSON.parse(f.envelope)).toEqual({ to: [e.rcpt], from: e.mailFrom });
      // Every text field is UTF-8 and says so.
      const charsets = JSON.parse(f.charsets) as Record<string, string>;
      expect(Object.keys(charsets)).toEqual(expect.arrayContaining(['to', 'from', 'subject']));
      expect(new Set(Object.values(charsets))).toEqual(new Set(['UTF-8']));
      expect(f.headers.startsWith('Received: ')).toBe(true);
    });

    it('has the attachments the person sees: names, types, bytes, content-ids', () => {
      const p = post();
      const f = p.fields;
      const expected = e.attachments;
      const count = expected?.length ?? e.attachmentCount;
      // Every entry says what files it has ([] for none), so this test always checks something.
      if (count === undefined) throw new Error(`${e.file}: expectations.json gives neither attachments nor attachmentCount`);
      expect(f.attachments).toBe(String(count));
      if (!expected) return;
      const info = JSON.parse(f['attachment-info'] ?? '{}') as Record<string, { filename: string; name: string; type: string; 'content-id'?: string }>;
      expect(Object.keys(info).sort()).toEqual(expected.map((_, i) => `attachment${i + 1}`).sort());
      expected.forEach((a, i) => {
        const field = `attachment${i + 1}`;
        expect(info[field]).toEqual({ filename: a.filename, name: a.filename, type: a.type, ...(a.contentId ? { 'content-id': a.contentId } : {}) });
        expect(p.files[field].filename).toBe(a.filename);
        expect(sha256(p.files[field].data)).toBe(a.sha256);
      });
      const cids = expected.flatMap((a, i) => (a.contentId ? [[a.contentId, `attachment${i + 1}`]] : []));
      if (cids.length) expect(JSON.parse(f['content-ids'])).toEqual(Object.fromEntries(cids));
      else expect(f['content-ids']).toBeUndefined();
    });

    it('reads the same in busboy (defaults), multer + the SendGrid helper, and Python', () => {
      const p = post();
      const count = Number(p.fields.attachments);
      const files = Object.fromEntries(Object.entries(p.files).map(([k, v]) => [k, { filename: v.filename, type: v.mimeType, size: v.data.length, sha256: sha256(v.data) }]));
      const received = { fields: p.fields, files: filesOf({ fields: {}, files }, count) };
      const read = readers.get(e.rcpt)!;
      for (const [reader, form] of Object.entries(read)) {
        expect({ reader, fields: form.fields }).toEqual({ reader, fields: received.fields });
        expect({ reader, files: filesOf(form, count) }).toEqual({ reader, files: received.files });
      }
      if (e.attachments) {
        // The file parts' own type; message/* files travel as application/octet-stream (encode-form.ts).
        const framed = (type: string) => (/^(message|multipart)\//.test(type) ? 'application/octet-stream' : type);
        expect(received.files).toEqual(e.attachments.map(({ filename, type, sha256: hash }) => ({ filename, type: framed(type), sha256: hash })));
        expect(read.multer.sendgridHelper).toEqual(expect.arrayContaining(received.files));
        expect(read.multer.sendgridHelper).toHaveLength(count);
      }
    });
  });
});
