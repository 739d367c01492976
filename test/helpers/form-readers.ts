/**
 * The same multipart/form-data body read by the receivers apps really use, each with its defaults:
 * busboy (as a bare Node app configures it), multer on a real HTTP server (Express apps), the
 * SendGrid helper `@sendgrid/inbound-mail-parser` on multer's result, and Python's standard library
 * (test/helpers/parse_form.py). Each gives back the same shape, so tests compare them directly.
 */
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import busboy from 'busboy';
import multer from 'multer';

export interface ReadFile {
  readonly filename: string;
  readonly type: string;
  readonly size: number;
  readonly sha256: string;
}

export interface ReadForm {
  readonly fields: Record<string, string>;
  readonly files: Record<string, ReadFile>;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const describe = (filename: string, type: string, data: Buffer): ReadFile => ({ filename, type, size: data.length, sha256: sha256(data) });

/** busboy with its defaults (filename="" read as latin1, paths stripped), as a plain Node app uses it. */
export function readWithBusboy(body: Buffer, contentType: string): Promise<ReadForm> {
  return new Promise((resolve, reject) => {
    const form: ReadForm = { fields: {}, files: {} };
    const pending: Promise<void>[] = [];
    const parser = busboy({ headers: { 'content-type': contentType }, limits: { fieldSize: 64 * 1024 * 1024 } });
    parser.on('field', (name, value) => { form.fields[name] = value; });
    parser.on('file', (name, stream, info) => {
      pending.push((async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        form.files[name] = describe(info.filename, info.mimeType, Buffer.concat(chunks));
      })());
    });
    parser.on('close', () => Promise.all(pending).then(() => resolve(form), reject));
    parser.on('error', reject);
    parser.end(body);
  });
}

/** Python's standard library (email.parser), in one child process for all the bodies. */
export async function readWithPython(bodies: readonly { body: Buffer; contentType: string }[]): Promise<ReadForm[]> {
  const script = new URL('./parse_form.py', import.meta.url).pathname;
  const child = spawn('python3', [script, '--batch'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  const length = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  child.stdin.end(Buffer.concat(bodies.flatMap(({ body, contentType }) => [length(contentType.length), Buffer.from(contentType), length(body.length), body])));
  const [code] = await once(child, 'close');
  if (code !== 0) throw new Error(`parse_form.py failed (${code}): ${Buffer.concat(err).toString()}`);
  return Buffer.concat(out).toString('utf8').trim().split('\n').map((line) => JSON.parse(line) as ReadForm);
}

export interface MulterReader {
  /** multer's req.body and req.files, and what @sendgrid/inbound-mail-parser makes of them. */
  read(body: Buffer, contentType: string): Promise<ReadForm & { sendgridHelper: { filename: string; type: string; sha256: string }[] }>;
  close(): Promise<void>;
}

/** An HTTP server running multer (disk storage, its defaults otherwise); bodies are POSTed to it. */
export async function startMulterReader(): Promise<MulterReader> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'multer-reader-'));
  const upload = multer({ dest: dir, limits: { fieldSize: 64 * 1024 * 1024 } }).any();
  const { default: Parse } = await import('@sendgrid/inbound-mail-parser');
  const server: Server = createServer((req, res) => {
    upload(req as never, res as never, (err?: unknown) => {
      if (err) {
        res.writeHead(500).end(String(err));
        return;
      }
      const request = req as unknown as { body: Record<string, string>; files: { fieldname: string; originalname: string; mimetype: string; path: string }[] };
      // The SendGrid helper reads the files multer wrote, as its README shows.
      const parser = new Parse({ keys: [] }, request);
      parser.attachments((attachments: { filename: string; type: string; content: string }[]) => {
        const files: Record<string, ReadFile> = {};
        for (const f of request.files) files[f.fieldname] = describe(f.originalname, f.mimetype, readFileSync(f.path));
        const sendgridHelper = attachments.map((a) => ({ filename: a.filename, type: a.type, sha256: sha256(Buffer.from(a.content, 'base64')) }));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ fields: { ...request.body }, files, sendgridHelper }));
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    async read(body, contentType) {
      const response = await fetch(url, { method: 'POST', body, headers: { 'content-type': contentType } });
      if (response.status !== 200) throw new Error(`multer failed: ${response.status} ${await response.text()}`);
      return response.json();
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
