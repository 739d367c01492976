/**
 * A real webhook receiver: an HTTP server on port 0 that parses multipart/form-data with busboy,
 * the way Express/multer apps do (and application/json with JSON.parse), and answers as each test scripts it.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import busboy from 'busboy';

export interface ReceivedFile {
  readonly filename: string;
  readonly mimeType: string;
  readonly data: Buffer;
}

export interface ReceivedPost {
  /** Date.now() when the request arrived. */
  readonly receivedAt: number;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawBody: Buffer;
  readonly fields: Record<string, string>;
  readonly files: Record<string, ReceivedFile>;
  /**
   * An application/json POST, read with JSON.parse as Node apps do (an object for payload_format
   * "json", an array for event-webhook batches); fields and files are then empty.
   */
  readonly json?: unknown;
}

export type Responder = (post: ReceivedPost, index: number) => { status: number; headers?: Record<string, string>; body?: string } | Promise<{ status: number; headers?: Record<string, string>; body?: string }>;

export interface Receiver {
  readonly url: string;
  readonly posts: ReceivedPost[];
  /** Resolves once `count` POSTs have arrived (rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedPost[]>;
  respondWith(responder: Responder): void;
  close(): Promise<void>;
}

export async function startReceiver(responder: Responder = () => ({ status: 200 })): Promise<Receiver> {
  const posts: ReceivedPost[] = [];
  const waiters: { count: number; resolve: (p: ReceivedPost[]) => void }[] = [];
  let respond = responder;
  const server: Server = createServer((req, res) => {
    parseMultipart(req).then(
      async (post) => {
        const index = posts.length;
        posts.push(post);
        // Waiters learn of a POST when it arrives, before it is answered (a test may hold the answer).
        for (const w of waiters.filter((w) => posts.length >= w.count)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(posts.slice());
        }
        const answer = await respond(post, index);
        res.writeHead(answer.status, answer.headers ?? {});
        res.end(answer.body ?? '');
      },
      (err: Error) => {
        res.writeHead(400);
        res.end(`bad multipart: ${err.message}`);
      },
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/inbound`,
    posts,
    waitFor(count, timeoutMs = 20_000) {
      if (posts.length >= count) return Promise.resolve(posts.slice());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`expected ${count} POSTs, got ${posts.length} within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({ count, resolve: (p) => { clearTimeout(timer); resolve(p); } });
      });
    },
    respondWith(next) {
      respond = next;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function parseMultipart(req: IncomingMessage): Promise<ReceivedPost> {
  const receivedAt = Date.now();
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const rawBody = Buffer.concat(chunks);
  // JSON bodies (payload_format "json", event-webhook batches): parsed, and kept as they came in rawBody.
  if (/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
    return { receivedAt, path: req.url ?? '', headers: req.headers, rawBody, fields: {}, files: {}, json: JSON.parse(rawBody.toString('utf8')) as unknown };
  }
  const fields: Record<string, string> = {};
  const files: Record<string, ReceivedFile> = {};
  await new Promise<void>((resolve, reject) => {
    // defParamCharset utf8: filenames are UTF-8, as browsers and mxhook send them.
    const parser = busboy({ headers: req.headers, defParamCharset: 'utf8', limits: { fieldSize: 64 * 1024 * 1024 } });
    parser.on('field', (name, value) => { fields[name] = value; });
    parser.on('file', (name, stream, info) => {
      const parts: Buffer[] = [];
      stream.on('data', (d: Buffer) => parts.push(d));
      stream.on('end', () => { files[name] = { filename: info.filename, mimeType: info.mimeType, data: Buffer.concat(parts) }; });
    });
    parser.on('close', () => resolve());
    parser.on('error', reject);
    parser.end(rawBody);
  });
  return { receivedAt, path: req.url ?? '', headers: req.headers, rawBody, fields, files };
}
