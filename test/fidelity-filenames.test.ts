/**
 * File names in the POST (encode-form.ts) reach every receiver apps use intact: busboy with its
 * defaults and as the test receiver sets it up (UTF-8), multer + @sendgrid/inbound-mail-parser, and
 * Python's standard library. Names come already made safe (attachment-names.ts: no path separators
 * or control characters); everything else a mail can carry must survive.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeForm } from '../src/deliver/encode-form.ts';
import { readWithBusboy, readWithPython, startMulterReader, type MulterReader } from './helpers/form-readers.ts';

const NAMES = [
  'plain.txt', 'say "hi".txt', 'résumé "final".pdf', 'naïve;name=x.txt', '日本語ファイル.txt', '😀 smile.png',
  "it's here (1).txt", 'percent 100% done.txt', 'comma, and = sign.txt', 'ÅNGSTRÖM.TXT', 'e\u0301-decomposed.txt', 'tab\there.txt',
];
/** What arrives: control characters cannot travel in a header, so the tab is dropped. */
const ARRIVES = NAMES.map((n) => n.replace('\t', ''));

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
let multer: MulterReader;
let body: Buffer;
let contentType: string;

beforeAll(async () => {
  multer = await startMulterReader();
  const encoded = encodeForm({
    parts: NAMES.map((filename, i) => {
      const data = Buffer.from(`file ${i}`);
      return { name: `attachment${i + 1}`, filename, contentType: 'text/plain', file: { kind: 'memory' as const, data, size: data.length } };
    }),
  });
  const chunks: Buffer[] = [];
  for await (const chunk of encoded.body as Readable) chunks.push(chunk as Buffer);
  body = Buffer.concat(chunks);
  contentType = encoded.contentType;
});
afterAll(() => multer?.close());

const expected = () => Object.fromEntries(ARRIVES.map((filename, i) => [`attachment${i + 1}`, filename]));
const names = (files: Record<string, { filename: string }>) => Object.fromEntries(Object.entries(files).map(([k, f]) => [k, f.filename]));

describe('file names through every receiver', () => {
  it('busboy with its defaults (latin1 filename=, paths stripped)', async () => {
    expect(names((await readWithBusboy(body, contentType)).files)).toEqual(expected());
  });

  it('busboy with defParamCharset utf8', async () => {
    const files: Record<string, { filename: string }> = {};
    await new Promise<void>((resolve, reject) => {
      const parser = busboy({ headers: { 'content-type': contentType }, defParamCharset: 'utf8' });
      parser.on('file', (name, stream, info) => { files[name] = { filename: info.filename }; stream.resume(); });
      parser.on('close', resolve).on('error', reject);
      parser.end(body);
    });
    expect(names(files)).toEqual(expected());
  });

  it('multer, and the SendGrid helper on multer\'s files', async () => {
    const read = await multer.read(body, contentType);
    expect(names(read.files)).toEqual(expected());
    expect(read.sendgridHelper.map((a) => a.filename).sort()).toEqual([...ARRIVES].sort());
    const byName = Object.fromEntries(read.sendgridHelper.map((a) => [a.filename, a.sha256]));
    expect(ARRIVES.map((n) => byName[n])).toEqual(NAMES.map((_, i) => sha256(Buffer.from(`file ${i}`))));
  });

  it('Python\'s email parser', async () => {
    const [read] = await readWithPython([{ body, contentType }]);
    expect(names(read.files)).toEqual(expected());
    expect(Object.values(read.files).map((f) => f.sha256)).toEqual(NAMES.map((_, i) => sha256(Buffer.from(`file ${i}`))));
  });
});
