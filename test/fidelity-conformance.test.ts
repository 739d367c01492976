/**
 * Conformance with real SendGrid POSTs (fixtures/sendgrid/parsed-*.txt): comparable mail sent
 * through mxhook must give the same field names, JSON shapes and value formats as SendGrid's,
 * read by the same receiver (busboy). Values differ (other messages, other hosts); shapes may not.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWithBusboy, type ReadForm } from './helpers/form-readers.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { startReceiver, type Receiver } from './helpers/receiver.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';
import { sendExact } from './helpers/smtp-exact.ts';

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url);

/**
 * The captures were printed by the receiving app, so their framing lines end in LF and their binary
 * parts lost bytes; the framing is put back to CRLF (as sent) so a real parser reads them. Only the
 * structure and the text fields are used.
 */
async function readCapture(name: string): Promise<ReadForm> {
  const text = (await readFile(fixture(`sendgrid/${name}`))).toString('latin1');
  const parts = text.split(/\n?--xYzZY(?:--)?\n?/).filter((p) => p.trim());
  const body = parts.map((p) => {
    const end = p.indexOf('\n\n');
    return `--xYzZY\r\n${p.slice(0, end).replace(/\n/g, '\r\n')}\r\n\r\n${p.slice(end + 2)}\r\n`;
  }).join('') + '--xYzZY--\r\n';
  return readWithBusboy(Buffer.from(body, 'latin1'), 'multipart/form-data; boundary=xYzZY');
}

/** The distinct values of `shapes`, in a stable order. */
const distinct = (shapes: unknown[]): unknown[] => [...new Set(shapes.map((x) => JSON.stringify(x)))].sort().map((x) => JSON.parse(x));

/** The shape of a value: JSON structure with strings replaced by their format. */
function shapeOf(field: string, value: string): unknown {
  switch (field) {
    case 'envelope': {
      const v = JSON.parse(value);
      return { keys: Object.keys(v).sort(), to: Array.isArray(v.to) && v.to.every((t: unknown) => typeof t === 'string'), from: typeof v.from };
    }
    case 'charsets': {
      const v = JSON.parse(value) as Record<string, unknown>;
      return Object.values(v).every((c) => typeof c === 'string' && /^[\w-]+$/.test(c as string));
    }
    // Every entry's shape; the distinct shapes are compared, so the number of entries may differ
    // but each entry on either side must have a shape the other side has too.
    case 'attachment-info':
      return distinct(Object.entries(JSON.parse(value) as Record<string, Record<string, unknown>>).map(([k, a]) => ({
        field: /^attachment\d+$/.test(k),
        keys: Object.keys(a).filter((x) => x !== 'content-id').sort(),
        strings: Object.values(a).every((x) => typeof x === 'string'),
      })));
    case 'content-ids':
      return distinct(Object.entries(JSON.parse(value)).map(([cid, f]) => ({ cid: typeof cid === 'string' && !cid.startsWith('<'), field: /^attachment\d+$/.test(String(f)) })));
    case 'attachments':
      return /^\d+$/.test(value);
    case 'headers':
      return { lines: value.trimEnd().split('\n').every((l) => /^[\x21-\x39\x3b-\x7e]+:/.test(l)), endsWithNewline: value.endsWith('\n') };
    case 'sender_ip':
      return /^[\d.]+$|^[\da-f:]+$/i.test(value);
    case 'from':
    case 'to':
      return /^(?:"?[^"<]*"? ?<[^<>@\s]+@[^<>\s]+>|[^<>@\s]+@[^<>\s]+)(?:, .*)?$/.test(value);
    case 'SPF':
      return ['pass', 'fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror'].includes(value);
    case 'dkim':
      return /^\{@[^ ]+ : \w+(?:, @[^ ]+ : \w+)*\}$|^none$/.test(value);
    default:
      return typeof value;
  }
}

let redis: TestRedis;
let mx: TestMxhook;
let app: Receiver;
const ours: Record<string, ReadForm & { contentTypes: Record<string, string> }> = {};

beforeAll(async () => {
  redis = await startTestRedis();
  mx = await startTestMxhook(redis.socketPath);
  app = await startReceiver();
  await mx.addRoute('parse.example.com', app.url);
  // Comparable mail: an Outlook message with an inline image and an attachment (as 2022), and a
  // text-only message (as 2025).
  const outlook = await readFile(fixture('corpus/73-outlook-two-attachments.eml'));
  const textOnly = await readFile(fixture('corpus/01-utf-8.eml'));
  await sendExact(mx.smtpPort!, { from: 'a@example.org', to: ['outlook@parse.example.com'] }, outlook);
  await sendExact(mx.smtpPort!, { from: 'b@example.org', to: ['text@parse.example.com'] }, textOnly);
  for (const post of await app.waitFor(2)) {
    const form = await readWithBusboy(post.rawBody, String(post.headers['content-type']));
    ours[JSON.parse(post.fields.envelope).to[0].split('@')[0]] = { ...form, contentTypes: Object.fromEntries(Object.entries(post.files).map(([k, f]) => [k, f.mimeType])) };
  }
});

afterAll(async () => {
  await mx?.close();
  await app?.close();
  await redis?.cleanup();
});

/** Fields only SendGrid's routes with spam_check send, or that need checks a test run does not make. */
const OPTIONAL = new Set(['SPF', 'dkim', 'spam_score', 'spam_report']);
/** mxhook's extensions (docs/payload.md): every verdict as JSON, and the parse error when parsing failed. */
const EXTENSIONS = new Set(['auth', 'parse_error']);

describe.each([
  ['parsed-2022-outlook-two-attachments.txt', 'outlook', 2],
  ['parsed-2025-gmail-text-only.txt', 'text', 0],
] as const)('%s', (capture, ourKey, fileCount) => {
  it('same field names (SendGrid\'s optional ones aside) and no others but our documented extensions', async () => {
    const theirs = await readCapture(capture);
    const mine = ours[ourKey];
    const names = (form: ReadForm) => [...Object.keys(form.fields), ...Object.keys(form.files)];
    expect(names(theirs).length).toBeGreaterThan(8);
    expect(names(mine).filter((n) => !OPTIONAL.has(n) && !EXTENSIONS.has(n)).sort()).toEqual(names(theirs).filter((n) => !OPTIONAL.has(n)).sort());
  });

  it('same JSON shapes and value formats', async () => {
    const theirs = await readCapture(capture);
    const mine = ours[ourKey];
    for (const [field, value] of Object.entries(theirs.fields)) {
      if (!(field in mine.fields)) continue;
      expect({ field, shape: shapeOf(field, mine.fields[field]) }).toEqual({ field, shape: shapeOf(field, value) });
    }
    // charsets: the same keys for the same fields (SendGrid adds filename when there are files).
    const keys = (form: ReadForm) => Object.keys(JSON.parse(form.fields.charsets)).sort();
    expect(keys(mine)).toEqual(keys(theirs));
    // attachment-info and content-ids point at file parts that exist, in both.
    for (const form of [theirs, mine]) {
      const info = JSON.parse(form.fields['attachment-info'] ?? '{}') as Record<string, unknown>;
      expect(Object.keys(info).sort()).toEqual(Object.keys(form.files).sort());
      expect(Number(form.fields.attachments)).toBe(Object.keys(form.files).length);
      for (const target of Object.values(JSON.parse(form.fields['content-ids'] ?? '{}'))) expect(Object.keys(info)).toContain(target);
    }
  });

  it('file parts carry filename= and their type, as SendGrid\'s do', async (ctx) => {
    const theirs = await readCapture(capture);
    const mine = ours[ourKey];
    // Both sides have the files the capture is known to have, so the loops below run for each.
    expect(Object.keys(theirs.files)).toHaveLength(fileCount);
    expect(Object.keys(mine.files)).toHaveLength(fileCount);
    if (fileCount === 0) ctx.skip('text-only capture: neither side has a file part to check');
    const info = JSON.parse(mine.fields['attachment-info']) as Record<string, { filename: string; type: string }>;
    let checked = 0;
    for (const [field, file] of Object.entries(mine.files)) {
      expect(file.filename).toBeTruthy();
      expect(file.filename).toBe(info[field].filename);
      expect(mine.contentTypes[field]).toBe(info[field].type);
      checked++;
    }
    const theirInfo = JSON.parse(theirs.fields['attachment-info']) as Record<string, { filename: string }>;
    for (const [field, file] of Object.entries(theirs.files)) {
      expect(file.filename).toBeTruthy();
      expect(file.filename).toBe(theirInfo[field].filename);
      checked++;
    }
    expect(checked).toBe(2 * fileCount);
  });
});
