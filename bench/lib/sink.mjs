#!/usr/bin/env node
/**
 * The benchmark's webhook sink: a minimal node:http server, run as its own process, that answers
 * every POST 200 and records which message it carried (the envelope recipient, unique per
 * message), when it arrived, and (in hash mode) the sha256 of `attachment1`. The orchestrator
 * talks to it over IPC. Kept as small as possible so the sink is never what is measured.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import busboy from 'busboy';

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
const now = () => performance.timeOrigin + performance.now();

let seen = new Map(); // id -> { count, at, sha256? }
let posts = 0;
let bytes = 0;
let hashMode = false;
let lastAt = 0;

const ENVELOPE = Buffer.from('name="envelope"');

/** The envelope field's recipient, found by scanning the raw body (cheaper than a multipart parse). */
function idFromBody(body) {
  const at = body.indexOf(ENVELOPE);
  if (at < 0) return undefined;
  const start = body.indexOf('\r\n\r\n', at) + 4;
  const end = body.indexOf('\r\n--', start);
  try {
    return JSON.parse(body.toString('utf8', start, end)).to[0];
  } catch {
    return undefined;
  }
}

function record(id, at, extra = {}) {
  posts += 1;
  lastAt = Math.max(lastAt, at);
  const entry = seen.get(id);
  if (entry) entry.count += 1;
  else seen.set(id, { count: 1, at, ...extra });
}

/** Hash mode: stream the multipart through busboy, hashing attachment1 without keeping it. */
function hashPost(req, res, at) {
  const fields = {};
  let sha256;
  let size = 0;
  const parser = busboy({ headers: req.headers, limits: { fieldSize: 1024 * 1024 } });
  parser.on('field', (name, value) => { fields[name] = value; });
  parser.on('file', (name, stream) => {
    if (name !== 'attachment1') return stream.resume();
    const hash = createHash('sha256');
    stream.on('data', (chunk) => { hash.update(chunk); size += chunk.length; });
    stream.on('end', () => { sha256 = hash.digest('hex'); });
  });
  parser.on('close', () => {
    let id;
    try { id = JSON.parse(fields.envelope).to[0]; } catch { id = undefined; }
    record(id ?? 'unknown', at, { sha256, size });
    res.writeHead(200).end('ok');
  });
  parser.on('error', (err) => res.writeHead(400).end(String(err)));
  req.on('data', (chunk) => { bytes += chunk.length; });
  req.pipe(parser);
}

const server = createServer((req, res) => {
  const at = now();
  if (hashMode) return hashPost(req, res, at);
  const chunks = [];
  req.on('data', (chunk) => { chunks.push(chunk); bytes += chunk.length; });
  req.on('end', () => {
    record(idFromBody(Buffer.concat(chunks)) ?? 'unknown', at);
    res.writeHead(200, { 'content-length': '2' }).end('ok');
  });
});
server.keepAliveTimeout = 60_000;

process.on('message', (msg) => {
  if (msg.cmd === 'reset') {
    seen = new Map();
    posts = 0;
    bytes = 0;
    lastAt = 0;
    hashMode = Boolean(msg.hash);
    process.send({ reply: 'reset' });
  } else if (msg.cmd === 'progress') {
    process.send({ reply: 'progress', posts, unique: seen.size, lastAt });
  } else if (msg.cmd === 'report') {
    // Arrival times and hashes only when asked (D and E): 20,000 entries are cheap, but not free.
    const entries = msg.detail ? Object.fromEntries([...seen].map(([id, e]) => [id, e])) : undefined;
    const duplicates = [...seen.values()].filter((e) => e.count > 1).length;
    process.send({ reply: 'report', posts, unique: seen.size, duplicates, bytes, lastAt, ids: msg.ids ? [...seen.keys()] : undefined, entries });
  } else if (msg.cmd === 'stop') {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  }
});

server.listen(0, '127.0.0.1', () => process.send({ reply: 'listening', port: server.address().port }));
