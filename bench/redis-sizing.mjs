#!/usr/bin/env node
/**
 * `npm run bench:sizing`: the Redis memory one message costs while it waits for an app that is
 * down, for the sizing section of the docs. Each run is its own deployment (bench/lib/deploy.mjs:
 * a private managed redis-server on a unix socket, mxhook all-in-one from dist/) with one route
 * whose URL is a loopback port nothing listens on: every delivery fails and is retried later, so
 * every message stays stored. Redis `INFO memory` used_memory is read after a settle before the
 * messages and again once all N were answered 250 and every delivery sits in the queue's delayed
 * set (its first run is over: it failed, or waited out the open circuit breaker). Bytes per
 * waiting message = delta / N.
 *
 * The delta is then taken apart: every key is read with `MEMORY USAGE key SAMPLES 0` (exact),
 * grouped by kind (the message's raw, meta and pending keys, the BullMQ job hash, the attempt
 * history, the message-log record, the shared sorted sets and streams), before and after. Two
 * streams are capped (the message log's event stream at 100,000 entries, BullMQ's at about 10,000):
 * they grow per message here but stop growing long before millions of messages, so the
 * extrapolation counts them at their cap, once.
 *
 * Runs: every size of --sizes, message log on and off (--logs), and the breaker as configured by
 * default (`default`: after 5 failures the destination's other deliveries wait out a cool-down
 * without an attempt, which is what an outage looks like) and out of the way (`off`:
 * --breaker-threshold 1000000, so every message has made its one failed attempt). Then, unless
 * --growth-attempts 0, the cost of each further failed attempt (retries every 2 s, breaker off,
 * until every delivery has made that many attempts; mxhook is stopped before the keys are read).
 *
 * Options: --count N (messages per run, default 2000)  --sizes "5000,50000" (bytes per message)
 *          --logs "on,off"  --breaker "default,off"  --sessions S (SMTP connections, default 10)
 *          --growth-attempts K (default 6; 0 skips)  --growth-count N (default 500)
 *          --out FILE (default bench-results/sizing.json)
 * The build under test: dist/, or MXHOOK_BENCH_BUILD=path/to/dist (bench/lib/procs.mjs).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { HOSTNAME, deploy } from './lib/deploy.mjs';
import { DIST, ROOT, sleep, stopProcess, versionOf, which } from './lib/procs.mjs';
import { describeMachine } from './lib/report.mjs';
import { SmtpConnection, plainMessage } from './lib/smtp-client.mjs';

const { values: opts } = parseArgs({
  options: {
    count: { type: 'string', default: '2000' },
    sizes: { type: 'string', default: '5000,50000' },
    logs: { type: 'string', default: 'on,off' },
    breaker: { type: 'string', default: 'default,off' },
    sessions: { type: 'string', default: '10' },
    'growth-attempts': { type: 'string', default: '6' },
    'growth-count': { type: 'string', default: '500' },
    out: { type: 'string', default: path.join(ROOT, 'bench-results/sizing.json') },
  },
});
const COUNT = Number(opts.count);
const SIZES = opts.sizes.split(',').map((s) => Number(s.trim())).filter((n) => n > 0);
const LOGS = opts.logs.split(',').map((s) => s.trim()).filter((s) => s === 'on' || s === 'off');
const BREAKERS = opts.breaker.split(',').map((s) => s.trim()).filter((s) => s === 'default' || s === 'off');
const SESSIONS = Math.max(1, Number(opts.sessions));
const GROWTH_ATTEMPTS = Number(opts['growth-attempts']);
const GROWTH_COUNT = Number(opts['growth-count']);
const PREFIX = 'mxhook';
/** 10 messages/s for 72 h: the figure the docs size for. */
const HELD_72H = 10 * 72 * 3600;
/** The caps of the two event streams (store/message-log*.ts: maxEvents; BullMQ's default maxLenEvents). */
const STREAM_CAPS = { 'log:events': 100_000, 'deliveries:events': 10_000 };
const BREAKER_OFF_ARGS = ['--breaker-threshold', '1000000'];
const work = path.join(ROOT, 'bench-results/sizing-run');
const log = (text) => process.stderr.write(`[sizing ${new Date().toISOString().slice(11, 19)}] ${text}\n`);

for (const tool of ['redis-server']) {
  if (!which(tool)) {
    process.stderr.write(`bench:sizing: cannot run, ${tool} is missing (apt-get install ${tool})\n`);
    process.exit(2);
  }
}

const { Redis } = await import(pathToFileURL(path.join(ROOT, 'node_modules/ioredis/built/index.js')).href);

/** A loopback port nothing listens on (taken from the kernel, then let go), checked to refuse. */
async function deadUrl() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  const refused = await new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(false); });
    socket.once('error', (err) => resolve(err.code === 'ECONNREFUSED'));
  });
  if (!refused) throw new Error(`port ${port} answers: not a down app`);
  return `http://127.0.0.1:${port}/inbound`;
}

/** INFO memory as numbers (the fields that are numbers). */
async function memoryInfo(client) {
  const info = {};
  for (const line of (await client.info('memory')).split('\r\n')) {
    const [k, v] = line.split(':');
    if (v !== undefined && /^-?\d+(\.\d+)?$/.test(v)) info[k] = Number(v);
  }
  return info;
}

/** MEMORY STATS flattened (`db.0.overhead.hashtable.main` and so on), numbers only. */
async function memoryStats(client) {
  const flat = {};
  const walk = (list, prefix) => {
    for (let i = 0; i + 1 < list.length; i += 2) {
      const [k, v] = [String(list[i]), list[i + 1]];
      if (Array.isArray(v)) walk(v, `${prefix}${k}.`);
      else if (v !== null && !Number.isNaN(Number(v))) flat[`${prefix}${k}`] = Number(v);
    }
  };
  walk(await client.call('MEMORY', 'STATS'), '');
  return flat;
}

/** used_memory once two reads a second apart agree within 0.2% (or after 10 s), with MEMORY STATS of the same moment. */
async function settledMemory(client) {
  await sleep(2_000);
  let last = await memoryInfo(client);
  for (let i = 0; i < 10; i++) {
    await sleep(1_000);
    const now = await memoryInfo(client);
    const stable = Math.abs(now.used_memory - last.used_memory) <= last.used_memory * 0.002;
    last = now;
    if (stable) break;
  }
  return { ...last, stats: await memoryStats(client) };
}

const BULL_FIXED = new Set(['meta', 'id', 'events', 'delayed', 'wait', 'active', 'paused', 'completed', 'failed', 'stalled-check',
  'marker', 'prioritized', 'pc', 'limiter', 'stalled', 'de', 'repeat', 'metrics']);

/** The kind of a key: per-message kinds end in a name the docs use; shared keys keep their own name. */
function kindOf(key) {
  const k = key.startsWith(`${PREFIX}:`) ? key.slice(PREFIX.length + 1) : key;
  let m;
  if ((m = /^msg:[^:]+:(raw|meta|pending|staging)$/.exec(k))) return `msg:<id>:${m[1]}`;
  if ((m = /^deliveries:([^:]+)$/.exec(k))) return BULL_FIXED.has(m[1]) ? `deliveries:${m[1]}` : 'deliveries:<jobid>';
  if ((m = /^deliveries:[^:]+:(logs|lock|dependencies|processed)$/.exec(k))) return `deliveries:<jobid>:${m[1]}`;
  if ((m = /^delivery:[^:]+:(attempts|retrying)$/.exec(k))) return `delivery:<jobid>:${m[1]}`;
  if (/^log:m:[^:]+$/.test(k)) return 'log:m:<id>';
  if (/^log:min:\d+$/.test(k)) return 'log:min:<minute>';
  if (/^log:refusals:/.test(k)) return 'log:refusals:*';
  if (/^stats:received:/.test(k)) return 'stats:received:<day>';
  if (/^breaker:/.test(k)) return 'breaker:<origin>';
  return k;
}

/** Every key's MEMORY USAGE (SAMPLES 0: every element counted), summed by kind; plus one sample message's keys. */
async function keyBreakdown(client) {
  const keys = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  const byKind = {};
  for (let i = 0; i < keys.length; i += 1000) {
    const slice = keys.slice(i, i + 1000);
    const pipe = client.pipeline();
    for (const key of slice) pipe.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
    const replies = await pipe.exec();
    slice.forEach((key, j) => {
      const bytes = Number(replies[j][1] ?? 0);
      const kind = kindOf(key);
      const entry = (byKind[kind] ??= { keys: 0, bytes: 0 });
      entry.keys++;
      entry.bytes += bytes;
    });
  }
  const lengths = {};
  for (const name of Object.keys(STREAM_CAPS)) lengths[name] = await client.xlen(`${PREFIX}:${name}`).catch(() => 0);
  return { totalKeys: keys.length, byKind, streamLengths: lengths, keys };
}

/** A few messages' own keys, each with its MEMORY USAGE, to show what one message holds. */
async function sampleMessages(client, keys, howMany = 3) {
  const ids = keys.map((k) => /^mxhook:msg:([^:]+):raw$/.exec(k)?.[1]).filter(Boolean).sort().slice(0, howMany);
  const samples = [];
  for (const id of ids) {
    const jobIds = await client.smembers(`${PREFIX}:msg:${id}:pending`);
    const names = [`msg:${id}:raw`, `msg:${id}:meta`, `msg:${id}:pending`, ...jobIds.flatMap((j) => [`deliveries:${j}`, `delivery:${j}:attempts`, `delivery:${j}:retrying`]), `log:m:${id}`];
    const entry = { messageId: id, deliveryIds: jobIds, keys: {} };
    for (const name of names) {
      const bytes = await client.call('MEMORY', 'USAGE', `${PREFIX}:${name}`, 'SAMPLES', '0');
      if (bytes !== null) entry.keys[name.replace(jobIds[0] ?? '\u0000', '<jobid>').replace(id, '<id>')] = Number(bytes);
    }
    entry.total = Object.values(entry.keys).reduce((a, b) => a + b, 0);
    samples.push(entry);
  }
  return samples;
}

function statsDelta(before, after) {
  const out = {};
  for (const k of Object.keys(after)) if (k in before && after[k] !== before[k] && !/percentage|ratio|bytes-per-key|^fragmentation$/.test(k)) out[k] = after[k] - before[k];
  return out;
}

/** The difference of two breakdowns by kind, with per-message figures. */
function diffKinds(before, after, n) {
  const kinds = new Set([...Object.keys(before.byKind), ...Object.keys(after.byKind)]);
  const out = {};
  for (const kind of kinds) {
    const b = before.byKind[kind] ?? { keys: 0, bytes: 0 };
    const a = after.byKind[kind] ?? { keys: 0, bytes: 0 };
    if (a.bytes === b.bytes && a.keys === b.keys) continue;
    out[kind] = { keys: a.keys - b.keys, bytes: a.bytes - b.bytes, bytesPerMessage: (a.bytes - b.bytes) / n };
  }
  return Object.fromEntries(Object.entries(out).sort((x, y) => y[1].bytes - x[1].bytes));
}

/** Sends `count` messages of about `size` bytes over `sessions` connections; every reply must be 250. */
async function sendAll(port, count, size, tag) {
  let next = 0;
  const refused = [];
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(SESSIONS, count) }, async () => {
    const connection = await SmtpConnection.open(port);
    try {
      while (next < count) {
        const i = ++next;
        const to = `${tag}${i}@${HOSTNAME}`;
        try {
          await connection.send({ from: 'bench@sender.example', to, body: plainMessage({ from: 'bench@sender.example', to, subject: `${tag}${i}`, size }) });
        } catch (err) {
          refused.push(`${to}: ${err.message}`);
          if (/connection closed/.test(err.message)) throw err;
        }
      }
    } finally {
      await connection.close();
    }
  }));
  const messageBytes = plainMessage({ from: 'bench@sender.example', to: `${tag}1@${HOSTNAME}`, subject: `${tag}1`, size }).length;
  return { accepted: count - refused.length, refused: refused.length, firstRefusal: refused[0], seconds: (performance.now() - started) / 1000, messageBytes };
}

/** Waits until every delivery is in the delayed set (wait and active empty, the accept journal too). */
async function waitForAllDelayed(deployment, client, count, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  let q;
  for (;;) {
    q = await deployment.queue();
    const journal = await client.zcard(`${PREFIX}:accept-journal`);
    if (q.delayed >= count && q.wait === 0 && q.active === 0 && journal === 0) return q;
    if (Date.now() > deadline) throw new Error(`not all ${count} deliveries delayed after ${timeoutMs} ms: ${JSON.stringify({ ...q, journal })}`);
    await sleep(200);
  }
}

/** How many attempts the deliveries have made (their attempt histories' lengths). */
async function attemptCounts(client, keys) {
  const lists = keys.filter((k) => /^mxhook:delivery:[^:]+:attempts$/.test(k));
  const pipe = client.pipeline();
  for (const k of lists) pipe.llen(k);
  const lens = (await pipe.exec()).map(([, n]) => Number(n));
  return { deliveriesWithAttempts: lens.length, attempts: lens.reduce((a, b) => a + b, 0), min: lens.length ? Math.min(...lens) : 0, max: lens.length ? Math.max(...lens) : 0 };
}

const MEMORY_FIELDS = ['used_memory', 'used_memory_dataset', 'used_memory_overhead', 'mem_clients_normal', 'mem_aof_buffer', 'used_memory_scripts', 'used_memory_rss'];
const pickMemory = (info) => Object.fromEntries(MEMORY_FIELDS.map((k) => [k, info[k]]));

async function deployRun(name, sinkUrl, args) {
  const dir = path.join(work, name);
  const deployment = await deploy({ name, layout: 'all', dir, sinkUrl, args });
  const client = new Redis({ path: path.join(dir, 'redis', 'redis.sock') });
  return { deployment, client };
}

/** One measured run: N messages of `size`, message log on/off, breaker default/off. */
async function measure({ size, logOn, breaker, count }) {
  const name = `${size}-log-${logOn ? 'on' : 'off'}-breaker-${breaker}`;
  const url = await deadUrl();
  const args = ['--message-log', logOn ? 'true' : 'false', ...(breaker === 'off' ? BREAKER_OFF_ARGS : [])];
  const { deployment, client } = await deployRun(name, url, args);
  try {
    const before = await settledMemory(client);
    const keysBefore = await keyBreakdown(client);
    const sent = await sendAll(deployment.smtpPort, count, size, 'm');
    if (sent.refused) throw new Error(`${sent.refused} of ${count} messages refused, first: ${sent.firstRefusal}`);
    const queue = await waitForAllDelayed(deployment, client, count);
    const after = await settledMemory(client);
    const keysAfter = await keyBreakdown(client);
    const attempts = await attemptCounts(client, keysAfter.keys);
    const samples = await sampleMessages(client, keysAfter.keys);
    return summarize({ name, size, logOn, breaker, count, sent, queue, before, after, keysBefore, keysAfter, attempts, samples, mxhookArgs: args });
  } finally {
    client.disconnect();
    await deployment.stop();
  }
}

function summarize({ name, size, logOn, breaker, count, sent, queue, before, after, keysBefore, keysAfter, attempts, samples, mxhookArgs }) {
  const delta = after.used_memory - before.used_memory;
  const byKind = diffKinds(keysBefore, keysAfter, count);
  const keyedBytes = Object.values(byKind).reduce((a, k) => a + k.bytes, 0);
  // The capped streams: their growth here, and what they hold at their cap (bytes per entry x cap).
  const capped = {};
  for (const [stream, cap] of Object.entries(STREAM_CAPS)) {
    const grown = byKind[stream]?.bytes ?? 0;
    const entries = keysAfter.streamLengths[stream] ?? 0;
    const bytes = keysAfter.byKind[stream]?.bytes ?? 0;
    capped[stream] = { grownBytes: grown, entries, cap, bytesAtCap: entries ? Math.round((bytes / entries) * Math.max(cap, entries)) : 0 };
  }
  const cappedGrowth = Object.values(capped).reduce((a, c) => a + c.grownBytes, 0);
  const cappedAtCap = Object.values(capped).reduce((a, c) => a + c.bytesAtCap, 0);
  const perMessage = delta / count;
  const perMessageUncapped = (delta - cappedGrowth) / count;
  return {
    name, messageBytes: sent.messageBytes, sizeOption: size, messageLog: logOn, breaker, mxhookArgs, count,
    accepted: sent.accepted, acceptSeconds: sent.seconds, queue, attempts,
    memoryBefore: pickMemory(before), memoryAfter: pickMemory(after),
    usedMemoryDelta: delta,
    bytesPerMessage: perMessage,
    /** The delta less what the two capped streams grew, per message: what each further message adds at scale. */
    bytesPerMessageUncapped: perMessageUncapped,
    clientsDelta: after.mem_clients_normal - before.mem_clients_normal,
    aofBufferDelta: after.mem_aof_buffer - before.mem_aof_buffer,
    scriptsDelta: after.used_memory_scripts - before.used_memory_scripts,
    /** MEMORY STATS after less before: where used_memory's delta went (keys' hashtables, clients, script caches, dataset). */
    memoryStatsDelta: statsDelta(before.stats, after.stats),
    keys: byKind,
    /** used_memory's delta that MEMORY USAGE of the keys does not account for (dict/expire tables, clients, scripts, allocator rounding). */
    unkeyedBytesPerMessage: (delta - keyedBytes) / count,
    cappedStreams: capped,
    samples,
    extrapolation72h: {
      messages: HELD_72H,
      simpleBytes: perMessage * HELD_72H,
      bytes: perMessageUncapped * HELD_72H + cappedAtCap,
    },
  };
}

/** Each further failed attempt: retries every 2 s until every delivery made `attempts`; mxhook is stopped, then the keys are read. */
async function measureGrowth({ size, logOn, count, attempts: target, baseline }) {
  const name = `growth-${size}-log-${logOn ? 'on' : 'off'}`;
  const url = await deadUrl();
  const args = ['--message-log', logOn ? 'true' : 'false', ...BREAKER_OFF_ARGS, '--retry-fast-interval', '2s'];
  const { deployment, client } = await deployRun(name, url, args);
  try {
    const before = await settledMemory(client);
    const keysBefore = await keyBreakdown(client);
    const sent = await sendAll(deployment.smtpPort, count, size, 'g');
    if (sent.refused) throw new Error(`${sent.refused} of ${count} messages refused, first: ${sent.firstRefusal}`);
    const deadline = Date.now() + 60_000 + target * 10_000;
    let made;
    for (;;) {
      const { keys } = await keyBreakdown(client);
      made = await attemptCounts(client, keys);
      if (made.deliveriesWithAttempts >= count && made.min >= target) break;
      if (Date.now() > deadline) throw new Error(`attempts did not reach ${target}: ${JSON.stringify(made)}`);
      await sleep(500);
    }
    for (const p of deployment.procs) await stopProcess(p.child);
    const after = await settledMemory(client);
    const keysAfter = await keyBreakdown(client);
    made = await attemptCounts(client, keysAfter.keys);
    const meanAttempts = made.attempts / made.deliveriesWithAttempts;
    const byKind = diffKinds(keysBefore, keysAfter, count);
    // Per further attempt: this run's per-message bytes of each kind that grows with attempts, less the baseline's (one attempt each).
    const growing = ['deliveries:<jobid>', 'delivery:<jobid>:attempts', 'log:m:<id>'];
    const perAttempt = {};
    for (const kind of growing) {
      if (!byKind[kind]) continue;
      const base = baseline?.keys[kind]?.bytesPerMessage ?? 0;
      perAttempt[kind] = (byKind[kind].bytesPerMessage - base) / (meanAttempts - 1);
    }
    const sample = await sampleMessages(client, keysAfter.keys, 1);
    const netDelta = (after.used_memory - after.mem_clients_normal) - (before.used_memory - before.mem_clients_normal);
    return {
      name, messageBytes: sent.messageBytes, messageLog: logOn, mxhookArgs: args, count, attempts: made, meanAttempts,
      baseline: baseline?.name,
      usedMemoryLessClientsDelta: netDelta,
      bytesPerMessageLessClients: netDelta / count,
      keys: byKind,
      bytesPerFurtherAttempt: { ...perAttempt, total: Object.values(perAttempt).reduce((a, b) => a + b, 0) },
      samples: sample,
    };
  } finally {
    client.disconnect();
    await deployment.stop();
  }
}

// ---- the runs ----
const git = (...args) => {
  try {
    return execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
};
// The checkout's commit, and its src/ files changed since (dist/ is built from the work tree as it is).
const gitCommit = git('rev-parse', 'HEAD');
const srcChanged = git('status', '--porcelain', '--', 'src')?.split('\n').filter(Boolean).length;
const results = {
  date: new Date().toISOString(),
  machine: describeMachine(),
  redis: versionOf('redis-server', ['--version']),
  build: process.env.MXHOOK_BENCH_BUILD ? path.resolve(process.env.MXHOOK_BENCH_BUILD) : path.relative(ROOT, DIST),
  gitCommit,
  srcFilesChangedSinceCommit: srcChanged,
  settings: { count: COUNT, sizes: SIZES, logs: LOGS, breakers: BREAKERS, sessions: SESSIONS, growthAttempts: GROWTH_ATTEMPTS, growthCount: GROWTH_COUNT,
    appendfsync: 'always', layout: 'all-in-one', route: `${HOSTNAME} -> a loopback port nothing listens on`, heldMessages72h: HELD_72H },
  runs: [],
  growth: [],
};
const startedAt = Date.now();
for (const size of SIZES) {
  for (const logSetting of LOGS) {
    for (const breaker of BREAKERS) {
      log(`${size} B, message log ${logSetting}, breaker ${breaker}: ${COUNT} messages...`);
      const r = await measure({ size, logOn: logSetting === 'on', breaker, count: COUNT });
      results.runs.push(r);
      log(`  ${Math.round(r.bytesPerMessage)} B/message (${Math.round(r.bytesPerMessageUncapped)} less the capped streams), ` +
        `${r.attempts.deliveriesWithAttempts} deliveries made an attempt`);
    }
  }
}
if (GROWTH_ATTEMPTS > 1) {
  for (const logSetting of LOGS) {
    const size = SIZES[0];
    const baseline = results.runs.find((r) => r.sizeOption === size && r.messageLog === (logSetting === 'on') && r.breaker === 'off');
    log(`growth: ${size} B, message log ${logSetting}, ${GROWTH_COUNT} messages to ${GROWTH_ATTEMPTS} attempts each...`);
    const g = await measureGrowth({ size, logOn: logSetting === 'on', count: GROWTH_COUNT, attempts: GROWTH_ATTEMPTS, baseline });
    results.growth.push(g);
    log(`  ${Math.round(g.bytesPerFurtherAttempt.total)} B per further attempt (mean ${g.meanAttempts.toFixed(2)} attempts)`);
  }
}
results.durationSeconds = Math.round((Date.now() - startedAt) / 1000);
mkdirSync(path.dirname(opts.out), { recursive: true });
writeFileSync(opts.out, `${JSON.stringify(results, null, 2)}\n`);

// ---- the table ----
const kb = (b) => `${(b / 1024).toFixed(1)} KiB`;
const gb = (b) => `${(b / 1024 ** 3).toFixed(1)} GiB`;
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);
const lines = [];
lines.push(`mxhook Redis sizing, ${results.date}: ${results.machine.cpuModel}, node ${results.machine.node}, ${results.redis}`);
lines.push(`build ${results.build} (checkout at ${gitCommit?.slice(0, 7) ?? '?'}${srcChanged ? `, ${srcChanged} src files changed since` : ''}), ${COUNT} messages per run, all-in-one, app down (connection refused)`);
lines.push('');
lines.push(`${pad('message', 9)}${pad('log', 5)}${pad('breaker', 9)}${lpad('attempted', 10)}${lpad('B/message', 11)}${lpad('less capped', 13)}${lpad('72 h @ 10/s', 13)}  biggest kinds, bytes per message`);
for (const r of results.runs) {
  const top = Object.entries(r.keys).slice(0, 6).map(([k, v]) => `${k} ${Math.round(v.bytesPerMessage)}`).join(', ');
  lines.push(`${pad(kb(r.messageBytes), 9)}${pad(r.messageLog ? 'on' : 'off', 5)}${pad(r.breaker, 9)}${lpad(r.attempts.deliveriesWithAttempts, 10)}` +
    `${lpad(Math.round(r.bytesPerMessage), 11)}${lpad(Math.round(r.bytesPerMessageUncapped), 13)}${lpad(gb(r.extrapolation72h.bytes), 13)}  ${top}`);
}
if (results.growth.length) {
  lines.push('');
  lines.push('each further failed attempt (breaker off, retries every 2 s), bytes per delivery:');
  for (const g of results.growth) {
    const parts = Object.entries(g.bytesPerFurtherAttempt).filter(([k]) => k !== 'total').map(([k, v]) => `${k} ${Math.round(v)}`).join(', ');
    lines.push(`  ${kb(g.messageBytes)}, log ${g.messageLog ? 'on' : 'off'}: ${Math.round(g.bytesPerFurtherAttempt.total)} B (${parts}; mean ${g.meanAttempts.toFixed(2)} attempts)`);
  }
}
lines.push('');
lines.push(`"less capped": without what the two capped event streams grew by; "72 h @ 10/s": ${HELD_72H.toLocaleString('en')} messages x that, plus the streams at their caps.`);
lines.push('Each message counted as after its first run: the further failed attempts a message makes while held (the growth lines) are not in it.');
process.stdout.write(`${lines.join('\n')}\n\nTook ${results.durationSeconds} s. JSON: ${path.relative(process.cwd(), opts.out)}\n`);
