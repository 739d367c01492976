#!/usr/bin/env node
/**
 * `npm run bench:log-scale`: the message log at scale. Starts its own redis-server (unix socket
 * in a temp dir, no TCP port, no persistence: memory is what is measured, not disk), fills it with
 * N records (default 1,000,000) through the store's own write functions (logAccepted,
 * logDeliveryState, logAttempt, logParsed, sent in big pipelines), then times page queries as the
 * API makes them (listLoggedMessages, getLoggedMessage; 50 per page, the API's default) and
 * counts the Redis commands each one issues. A table on stdout, JSON in --out.
 *
 * Code: src/ through Node's type stripping (no build needed), or MXHOOK_BENCH_BUILD=path/to/dist.
 * Options: --records N   --queries Q (per query kind, default 200)   --limit L (page size, 50)
 *          --out FILE (default bench-results/message-log-scale.json)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ROOT, sleep, which } from './lib/procs.mjs';
import { describeMachine } from './lib/report.mjs';
import { percentiles } from './lib/scenarios.mjs';

const { values: opts } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    queries: { type: 'string', default: '200' },
    limit: { type: 'string', default: '50' },
    out: { type: 'string', default: path.join(ROOT, 'bench-results/message-log-scale.json') },
  },
});
const N = Number(opts.records);
const Q = Number(opts.queries);
const LIMIT = Number(opts.limit);
const log = (text) => process.stderr.write(`[log-scale ${new Date().toISOString().slice(11, 19)}] ${text}\n`);

const build = process.env.MXHOOK_BENCH_BUILD ? path.resolve(process.env.MXHOOK_BENCH_BUILD) : undefined;
const load = (module) => import(pathToFileURL(build ? path.join(build, `${module}.js`) : path.join(ROOT, 'src', `${module}.ts`)).href);
const { logAccepted, logAttempt, logDeliveryState, logParsed, getLoggedMessage, logKeys } = await load('store/message-log');
const { listLoggedMessages } = await load('store/message-log-query');
const { createKeySpace } = await load('store/keys');
const { LOG_FRIENDLY_REDIS_SETTINGS } = await load('store/managed-redis');
const { createRedis } = await load('store/redis');

if (!which('redis-server')) {
  process.stderr.write('log-scale: cannot run, missing redis-server (Debian/Ubuntu: apt-get install redis-server)\n');
  process.exit(2);
}

// --- redis-server of its own ------------------------------------------------------------------
const dir = mkdtempSync(path.join(os.tmpdir(), 'mxhook-log-scale-'));
const socketPath = path.join(dir, 'redis.sock');
const server = spawn('redis-server', ['--port', '0', '--unixsocket', socketPath, '--unixsocketperm', '700', '--dir', dir,
  '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction', '--logfile', path.join(dir, 'redis.log'),
  // As the managed Redis runs: the log's records in Redis's compact hash encoding.
  ...Object.entries(LOG_FRIENDLY_REDIS_SETTINGS).flatMap(([name, value]) => [`--${name}`, value])], { stdio: 'ignore' });
const redis = createRedis(socketPath, 'patient', 'log-scale');
redis.on('error', () => {});
const stopServer = async () => {
  redis.disconnect();
  if (server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
};
process.once('SIGINT', () => stopServer().then(() => process.exit(130)));

const info = async (section) => Object.fromEntries((await redis.info(section)).split('\r\n').filter((l) => l.includes(':')).map((l) => l.split(/:(.*)/s).slice(0, 2)));
/** Calls per command since the start (commands scripts run count too). */
const commandCalls = async () => {
  const calls = {};
  for (const [k, v] of Object.entries(await info('commandstats'))) calls[k.replace('cmdstat_', '')] = Number(/calls=(\d+)/.exec(v)[1]);
  return calls;
};

// --- realistic records ------------------------------------------------------------------------
const HOSTS = [['in.shop.example', 40], ['parse.app.example', 20], ['support.example', 12], ['billing.example', 10],
  ['inbound.crm.example', 8], ['replies.news.example', 5], ['tickets.dev.example', 4], ['mx.tiny.example', 1]];
const HOST_WEIGHT = HOSTS.reduce((n, [, w]) => n + w, 0);
const WORDS = ['order', 'invoice', 'reply', 'ticket', 'password', 'reset', 'shipping', 'update', 'welcome', 'receipt', 'meeting', 'report'];
let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const pickHost = () => {
  let r = rand() * HOST_WEIGHT;
  for (const [h, w] of HOSTS) if ((r -= w) < 0) return h;
  return HOSTS[0][0];
};
const SPAN_MS = 3 * 86_400_000; // the default retention: the records span it
const now = Date.now();
const start = now - SPAN_MS;
const keys = createKeySpace('mxhook');
const options = { retentionMs: SPAN_MS + 86_400_000, maxRecords: Math.max(N, 1_000_000) };
const stateCounts = {};

/** Appends the writes of message `i` (accept, then each delivery's life so far) to `pipe`. */
function writeMessage(pipe, i) {
  const at = Math.floor(start + (i * SPAN_MS) / N);
  const id = `${at.toString(36)}${randomBytes(8).toString('hex')}`;
  const hosts = rand() < 0.05 ? [...new Set([pickHost(), pickHost()])] : [pickHost()];
  const sender = Math.floor(rand() * 5000);
  const recipients = Object.fromEntries(hosts.map((h) => [h, [`user${Math.floor(rand() * 20_000)}@${h}`]]));
  const subject = `${WORDS[Math.floor(rand() * WORDS.length)]} ${WORDS[Math.floor(rand() * WORDS.length)]} #${i}`;
  logAccepted(pipe, keys, options, {
    id, receivedAt: at, clientIp: `198.51.100.${sender % 250}`, helo: `mail${sender % 40}.sender.example`, mailFrom: `s${sender}@sender${sender % 200}.example`,
    recipients, from: `"Sender ${sender}" <s${sender}@sender${sender % 200}.example>`, subject, messageIdHeader: `<${id}@sender${sender % 200}.example>`,
    size: 2000 + Math.floor(rand() * 48_000), auth: { spf: 'pass', dkim: rand() < 0.9 ? 'pass' : 'none', dmarc: 'pass' },
  });
  const recent = i > N * 0.998; // only the newest are still queued or being delivered
  hosts.forEach((hostname, n) => {
    const delivery = `${id}.${n + 1}`;
    const r = rand();
    const state = recent ? (r < 0.5 ? 'queued' : 'delivering') : r < 0.03 ? 'retrying' : r < 0.04 ? 'dead-lettered' : r < 0.045 ? 'replayed' : 'delivered';
    stateCounts[state] = (stateCounts[state] ?? 0) + 1;
    if (state === 'queued') return;
    let t = at + 5;
    logDeliveryState(pipe, keys, delivery, hostname, at, { kind: 'attempt-started' }, t);
    if (state === 'delivering') return;
    const failures = state === 'retrying' ? 1 + Math.floor(rand() * 3) : state === 'dead-lettered' ? 6 : 0;
    for (let a = 0; a < failures; a++) {
      logAttempt(pipe, keys, delivery, hostname, { at: t, durationMs: 30, outcome: 'retry', status: 503, response: '<html><body><h1>503 Service Unavailable</h1>No server is available to handle this request.</body></html>', bytesSent: 6000 });
      t += 60_000 * 2 ** a;
    }
    if (state === 'retrying') logDeliveryState(pipe, keys, delivery, hostname, at, { kind: 'retry-scheduled', nextAttemptAt: t + 600_000 }, t);
    else if (state === 'dead-lettered') logDeliveryState(pipe, keys, delivery, hostname, at, { kind: 'dead-lettered' }, t);
    else {
      logAttempt(pipe, keys, delivery, hostname, { at: t, durationMs: 12, outcome: 'delivered', status: 200, response: 'ok', bytesSent: 6000 });
      logDeliveryState(pipe, keys, delivery, hostname, at, { kind: 'delivered' }, t + 12);
      if (state === 'replayed') logDeliveryState(pipe, keys, delivery, hostname, at, { kind: 'replayed', replayedAs: `${id}r.${n + 1}` }, t + 3_600_000);
    }
  });
  logParsed(pipe, keys, id, { attachments: rand() < 0.2 ? 1 : 0 });
}

async function fill() {
  const batch = 1000;
  let next = 0;
  let done = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < N) {
      const from = next;
      const to = Math.min(N, from + batch);
      next = to;
      const pipe = redis.pipeline();
      for (let i = from; i < to; i++) writeMessage(pipe, i);
      const replies = await pipe.exec();
      const failed = replies.find(([err, value]) => err || value === 0);
      if (failed && failed[0]) throw failed[0];
      done += to - from;
      if (done % 100_000 < batch) log(`${done.toLocaleString('en')} records (${Math.round((done * 1000) / (performance.now() - started))}/s)`);
    }
  };
  await Promise.all([worker(), worker()]);
  return (performance.now() - started) / 1000;
}

// --- queries ----------------------------------------------------------------------------------
const k = logKeys(keys);
/** The time index's entry at `rank` from the newest: [id, score]. */
const entryAt = async (rank) => redis.zrevrange(k.index, rank, rank, 'WITHSCORES');
const randomRank = (total) => Math.floor(rand() * total);

/** Times Q queries made by `makeQuery(i)` (set-up outside the clock) and counts their Redis commands. */
async function measure(name, makeQuery) {
  const queries = [];
  for (let i = 0; i < Q; i++) queries.push(await makeQuery(i));
  const before = await commandCalls();
  const ms = [];
  let returned = 0;
  let withCursor = 0;
  for (const run of queries) {
    const t = performance.now();
    const out = await run();
    ms.push(performance.now() - t);
    returned += out.count;
    if (out.next) withCursor++;
  }
  const after = await commandCalls();
  const commands = {};
  let total = 0;
  for (const [cmd, calls] of Object.entries(after)) {
    const delta = calls - (before[cmd] ?? 0) - (cmd === 'info' ? 1 : 0);
    if (delta > 0) {
      commands[cmd] = Math.round((delta / Q) * 10) / 10;
      total += delta / Q;
    }
  }
  const p = percentiles(ms);
  const row = { name, queries: Q, p50Ms: p.p50, p99Ms: p.p99, maxMs: p.max, meanReturned: returned / Q, withNextCursor: withCursor, commandsPerQuery: Math.round(total * 10) / 10, commands };
  log(`${name}: p50 ${p.p50.toFixed(2)} ms, p99 ${p.p99.toFixed(2)} ms, ${row.meanReturned.toFixed(1)} per page, ${row.commandsPerQuery} Redis commands`);
  return row;
}

const page = (filter, cursor) => async () => {
  const r = await listLoggedMessages(redis, keys, filter, { limit: LIMIT, cursor });
  return { count: r.result.length, next: r.nextCursor };
};

async function queries(total) {
  const rows = [];
  rows.push(await measure('first page, newest', () => page({})));
  rows.push(await measure('deep page (cursor at a random depth)', async () => {
    const [id, score] = await entryAt(randomRank(total));
    return page({}, `${score}:${id}`);
  }));
  // Q pages in a row from the newest, each from the cursor the one before handed back.
  let cursor;
  rows.push(await measure('next page, following next_cursor', async () => async () => {
    const r = await listLoggedMessages(redis, keys, {}, { limit: LIMIT, cursor });
    cursor = r.nextCursor ?? undefined;
    return { count: r.result.length, next: r.nextCursor };
  }));
  rows.push(await measure('hostname (each of 8, 1%-40% of mail)', (i) => page({ hostname: HOSTS[i % HOSTS.length][0] })));
  rows.push(await measure('hostname, deep page', async (i) => {
    const [id, score] = await entryAt(randomRank(total));
    return page({ hostname: HOSTS[i % HOSTS.length][0] }, `${score}:${id}`);
  }));
  rows.push(await measure('state=retrying (indexed)', () => page({ state: 'retrying' })));
  rows.push(await measure('state=dead-lettered (indexed)', () => page({ state: 'dead-lettered' })));
  rows.push(await measure('state=delivered (time index, filtered)', () => page({ state: 'delivered' })));
  rows.push(await measure('time range, 1 h at a random time', async () => {
    const since = start + Math.floor(rand() * (SPAN_MS - 3_600_000));
    return page({ since, until: since + 3_600_000 });
  }));
  rows.push(await measure('recipient (unindexed, rare: scans 1,000)', (i) => page({ recipient: `user${i * 97}@mx.tiny` })));
  rows.push(await measure('subject words (unindexed, common)', (i) => page({ subjectWords: [WORDS[i % WORDS.length], WORDS[(i * 7 + 3) % WORDS.length]] })));
  rows.push(await measure('recipient + hostname', (i) => page({ hostname: 'in.shop.example', recipient: `user${i * 13}@` })));
  rows.push(await measure('get one message', async () => {
    const [id] = await entryAt(randomRank(total));
    return async () => ({ count: (await getLoggedMessage(redis, keys, id)) ? 1 : 0 });
  }));
  return rows;
}

async function memoryPerRecord(total, usedBytes) {
  const sample = [];
  for (let i = 0; i < 1000; i++) sample.push((await entryAt(randomRank(total)))[0]);
  const pipe = redis.pipeline();
  for (const id of sample) pipe.memory('USAGE', k.record(id), 'SAMPLES', '0');
  const hashBytes = (await pipe.exec()).reduce((n, [, v]) => n + Number(v), 0) / sample.length;
  const index = async (key) => Number(await redis.memory('USAGE', key, 'SAMPLES', '0'));
  const indexes = { time: await index(k.index) };
  for (const [h] of HOSTS) indexes[`host:${h}`] = await index(k.hostIndex(h));
  for (const s of ['queued', 'delivering', 'retrying', 'dead-lettered', 'replayed']) indexes[`state:${s}`] = await index(k.stateIndex(s));
  const events = await index(k.events);
  const indexBytes = Object.values(indexes).reduce((n, v) => n + v, 0);
  return {
    usedMemoryBytes: usedBytes, usedMemoryPerRecord: usedBytes / total,
    // The event stream is capped (about 100,000 events), not per record.
    usedMemoryPerRecordWithoutEvents: (usedBytes - events) / total,
    recordHashBytes: hashBytes, indexBytesPerRecord: indexBytes / total, indexBytes: indexes,
    eventsStreamBytes: events, eventsStreamEntries: await redis.xlen(k.events),
  };
}

const ms = (v) => `${v.toFixed(2)} ms`;
function table(rows) {
  const cells = [['query', 'p50', 'p99', 'max', 'per page', 'next_cursor', 'Redis commands'],
    ...rows.map((r) => [r.name, ms(r.p50Ms), ms(r.p99Ms), ms(r.maxMs), r.meanReturned.toFixed(1), r.name.startsWith('get') ? '-' : `${r.withNextCursor}/${r.queries}`, String(r.commandsPerQuery)])];
  const widths = cells[0].map((_, i) => Math.max(...cells.map((c) => c[i].length)));
  return cells.map((c, n) => c.map((v, i) => v.padEnd(widths[i])).join('  ') + (n === 0 ? `\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : '')).join('\n');
}

let exitCode = 0;
try {
  for (let i = 0; ; i++) {
    try {
      if ((await redis.ping()) === 'PONG') break;
    } catch {
      if (i > 100) throw new Error('redis-server did not start');
      await sleep(50);
    }
  }
  const base = Number((await info('memory')).used_memory);
  log(`filling ${N.toLocaleString('en')} records...`);
  const fillSeconds = await fill();
  const total = await redis.zcard(k.index);
  const usedBytes = Number((await info('memory')).used_memory) - base;
  log(`filled ${total.toLocaleString('en')} records in ${fillSeconds.toFixed(0)} s; used_memory +${(usedBytes / 2 ** 20).toFixed(0)} MB`);
  const rows = await queries(total);
  const memory = await memoryPerRecord(total, usedBytes);
  const result = {
    date: new Date().toISOString(), machine: describeMachine(), records: total, deliveryStates: stateCounts, pageSize: LIMIT,
    fillSeconds, fillRate: total / fillSeconds, memory, queries: rows,
  };
  mkdirSync(path.dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);
  const m = result.machine;
  process.stdout.write(`\nmxhook message log at ${total.toLocaleString('en')} records, ${result.date}: ${m.cpuModel}, ${m.cores} cores, node ${m.node}, ${m.redis}\n`);
  process.stdout.write(`filled in ${fillSeconds.toFixed(0)} s (${Math.round(result.fillRate)} records/s); deliveries: ${Object.entries(stateCounts).map(([s, n]) => `${s} ${n}`).join(', ')}\n`);
  process.stdout.write(`Redis used_memory +${(usedBytes / 2 ** 20).toFixed(0)} MB: ${Math.round(memory.usedMemoryPerRecord)} bytes per record, ` +
    `${Math.round(memory.usedMemoryPerRecordWithoutEvents)} without the event stream (${(memory.eventsStreamBytes / 2 ** 20).toFixed(0)} MB for its ${memory.eventsStreamEntries} newest events, capped); ` +
    `MEMORY USAGE: record hash ~${Math.round(memory.recordHashBytes)}, indexes ~${Math.round(memory.indexBytesPerRecord)} per record\n\n`);
  process.stdout.write(`${table(rows)}\n\n${Q} queries each, ${LIMIT} per page. JSON: ${path.relative(process.cwd(), opts.out)}\n`);
} catch (err) {
  log(String(err?.stack ?? err));
  exitCode = 1;
} finally {
  await stopServer();
}
process.exit(exitCode);
