#!/usr/bin/env node
/**
 * `npm run bench:budget`: what one message costs on each path, measured one path at a time on
 * mxhook's split layout (an SMTP process, then a worker process, each on its own): CPU per
 * message of the process doing the work and of redis-server, Redis commands per message (INFO
 * commandstats; commands a Lua script calls count as well as the EVALSHA itself) and fsync turns
 * per message (fdatasync calls of redis-server under `appendfsync always`, counted with strace).
 *
 * Paths: accept (SMTP in, stored, jobs added; no worker running), first attempt (a worker
 * delivers what was accepted, the app answers 200), retry (the app answers 503 once per message,
 * then 200: the extra cost over a first attempt), dead letter (the app answers 500 and the retry
 * window is over at once: one failed attempt that ends in the dead-letter store).
 *
 * Options: --messages N (default 2000; retry and dead letter use a quarter)  --size BYTES (5000)
 *          --mxhook-args "FLAGS"  --out FILE (default bench-results/budget.json)
 */
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { CLI, DIST, ROOT, cpuMs, runTimed, sleep, startMxhook, stopProcess, which } from './lib/procs.mjs';
import { SmtpConnection, plainMessage } from './lib/smtp-client.mjs';

const { values: opts } = parseArgs({
  options: {
    messages: { type: 'string', default: '2000' },
    size: { type: 'string', default: '5000' },
    'mxhook-args': { type: 'string', default: '' },
    out: { type: 'string', default: path.join(ROOT, 'bench-results/budget.json') },
  },
});
const COUNT = Number(opts.messages);
const SIZE = Number(opts.size);
const SESSIONS = 20;
const HOST = 'budget.bench';
const log = (text) => process.stderr.write(`[budget ${new Date().toISOString().slice(11, 19)}] ${text}\n`);

for (const tool of ['strace', 'redis-server']) {
  if (!which(tool)) {
    process.stderr.write(`bench:budget: cannot run, ${tool} is missing (apt-get install ${tool})\n`);
    process.exit(2);
  }
}

// ---- the app: answers by mode; `failFirst` fails each message's first POST once ----
let mode = 'ok';
const failedOnce = new Set();
let posts = 0;
let onPost;
const app = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    posts++;
    const delivery = String(req.headers['x-mxhook-delivery-id']);
    let status = 200;
    if (mode === 'fail') status = 500;
    else if (mode === 'fail-first' && !failedOnce.has(delivery)) {
      failedOnce.add(delivery);
      status = 503;
    }
    res.writeHead(status).end();
    onPost?.();
  });
});
await new Promise((resolve) => app.listen(0, '127.0.0.1', resolve));
const appUrl = `http://127.0.0.1:${app.address().port}/inbound`;

const dir = path.join(ROOT, 'bench-results/budget-run');
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const { startManagedRedis } = await import(pathToFileURL(path.join(DIST, 'store/managed-redis.js')).href);
const redis = await startManagedRedis({ dir: path.join(dir, 'redis'), appendfsync: 'always', supervise: false });
const { Redis } = await import(pathToFileURL(path.join(ROOT, 'node_modules/ioredis/built/index.js')).href);
const client = new Redis({ path: redis.socketPath });
const env = { REDIS_URL: redis.socketPath, MXHOOK_API_KEY: 'bench-api-key' };
const added = await runTimed(process.execPath, [CLI, 'routes', 'add', HOST, appUrl], { env: { ...process.env, ...env } });
if (added.code !== 0) throw new Error(`routes add failed: ${added.output}`);
// No circuit breaker: a phase of failing POSTs would open it and measure its cool-down instead.
const common = ['--smtp-host', '127.0.0.1', '--smtp-port', '0', '--hostname', 'mx.bench', '--max-connections-per-ip', '1000', '--breaker-threshold', '1000000',
  '--auth-checks', 'false', '--data-dir', path.join(dir, 'data'), ...opts['mxhook-args'].split(' ').filter(Boolean)];
// The queue is paused while a worker starts, so a phase measures deliveries, not a process start.
const { Queue } = await import('bullmq');
const controlConnection = new Redis({ path: redis.socketPath, maxRetriesPerRequest: null });
const control = new Queue('deliveries', { connection: controlConnection, prefix: 'mxhook' });
const redisPid = Number(/^process_id:(\d+)/m.exec(await client.info('server'))[1]);

// ---- what a phase costs: CPU of the given processes and of Redis, commands, fsyncs ----
async function commandStats() {
  const stats = {};
  const usec = {};
  for (const [, name, calls, us] of (await client.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    stats[name] = Number(calls);
    usec[name] = Number(us);
  }
  return { stats, usec };
}
async function redisCpuMs() {
  const info = await client.info('cpu');
  const field = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)[1]);
  return (field('used_cpu_sys') + field('used_cpu_user')) * 1000;
}
/** Counts redis-server's fdatasync/fsync calls while `run` runs. */
async function countFsyncs(run) {
  const out = path.join(dir, `strace-${Date.now()}.txt`);
  const strace = spawn('strace', ['-f', '-c', '-e', 'trace=fdatasync,fsync', '-o', out, '-p', String(redisPid)], { stdio: 'ignore' });
  await sleep(500); // attached
  const result = await run();
  const exited = new Promise((resolve) => strace.once('exit', resolve));
  strace.kill('SIGINT');
  await exited;
  const { readFileSync } = await import('node:fs');
  const text = readFileSync(out, 'utf8');
  let fsyncs = 0;
  for (const [, calls] of text.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(?:fdatasync|fsync)\s*$/gm)) fsyncs += Number(calls);
  return { result, fsyncs };
}
/** The commands/fsyncs/CPU a phase used. The client's own INFO calls (a handful) are left out. */
async function measure(name, count, procs, run) {
  const before = { commands: await commandStats(), redis: await redisCpuMs(), procs: procs().map((p) => cpuMs(p.pid)) };
  const { fsyncs } = await countFsyncs(run);
  const after = { commands: await commandStats(), redis: await redisCpuMs(), procs: procs().map((p) => cpuMs(p.pid)) };
  const commands = {};
  const commandUs = {};
  for (const [cmd, calls] of Object.entries(after.commands.stats)) {
    const delta = calls - (before.commands.stats[cmd] ?? 0);
    if (delta && cmd !== 'info') commands[cmd] = delta / count;
    const us = after.commands.usec[cmd] - (before.commands.usec[cmd] ?? 0);
    if (us && cmd !== 'info') commandUs[cmd] = us / count;
  }
  const total = Object.values(commands).reduce((a, b) => a + b, 0);
  const row = {
    path: name, messages: count,
    cpuUsPerMessage: Object.fromEntries(procs().map((p, i) => [p.name.replace(/^budget-/, ''), Math.round(((after.procs[i] - before.procs[i]) * 1000) / count)])),
    redisCpuUsPerMessage: Math.round(((after.redis - before.redis) * 1000) / count),
    redisCommandsPerMessage: Number(total.toFixed(1)),
    scriptsPerMessage: Number((((commands.evalsha ?? 0) + (commands.eval ?? 0))).toFixed(2)),
    fsyncsPerMessage: Number((fsyncs / count).toFixed(2)),
    topCommands: Object.fromEntries(Object.entries(commands).sort((a, b) => b[1] - a[1]).slice(0, 10).map(([c, n]) => [c, Number(n.toFixed(2))])),
    // Redis's own time per command kind (INFO commandstats usec), per message: a script's (evalsha)
    // includes the commands it calls, which are listed too.
    topCommandUs: Object.fromEntries(Object.entries(commandUs).sort((a, b) => b[1] - a[1]).slice(0, 10).map(([c, us]) => [c, Number(us.toFixed(1))])),
  };
  log(`${name}: ${JSON.stringify(row)}`);
  return row;
}

// ---- senders ----
let sequence = 0;
async function sendAll(count) {
  let next = 0;
  const smtpPort = smtp.lines.smtp_listening.port;
  await Promise.all(Array.from({ length: Math.min(SESSIONS, count) }, async () => {
    const connection = await SmtpConnection.open(smtpPort);
    while (next < count) {
      next++;
      const n = ++sequence;
      await connection.send({ from: 'sender@bench.test', to: `m${n}@${HOST}`, body: plainMessage({ from: 'sender@bench.test', to: `m${n}@${HOST}`, subject: `budget ${n}`, size: SIZE }) });
    }
    await connection.close();
  }));
}
async function waitForPosts(total, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (posts < total) {
    if (Date.now() > deadline) throw new Error(`only ${posts} of ${total} POSTs arrived`);
    await new Promise((resolve) => { onPost = resolve; setTimeout(resolve, 200); });
  }
}
async function waitForQueueEmpty(timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [wait, active, delayed] = await Promise.all([client.llen('mxhook:deliveries:wait'), client.llen('mxhook:deliveries:active'), client.zcard('mxhook:deliveries:delayed')]);
    if (!wait && !active && !delayed) return;
    if (Date.now() > deadline) throw new Error(`queue not empty: ${JSON.stringify({ wait, active, delayed })}`);
    await sleep(100);
  }
}
const started = [];
const track = async (proc) => { started.push(await proc); return started.at(-1); };
/** A worker, started with the queue paused and settled; the phase resumes the queue. */
async function startWorker(extra = []) {
  await control.pause();
  const worker = await track(startMxhook({ name: 'budget-worker', args: ['worker', ...common, '--retry-fast-interval', '100ms-200ms', '--retry-slow-interval', '100ms-200ms', ...extra], env, logDir: dir, ready: ['worker_started'] }));
  await sleep(1000);
  return worker;
}

const rows = [];
const smtp = await track(startMxhook({ name: 'budget-smtp', args: ['smtp', ...common], env, logDir: dir, ready: ['smtp_listening'] }));
try {
  log(`warm-up: 200 messages through SMTP and a worker`);
  let worker = await startWorker();
  await control.resume();
  await sendAll(200);
  await waitForPosts(200);
  await waitForQueueEmpty();
  await stopProcess(worker.child);

  log(`accept: ${COUNT} messages, no worker running`);
  rows.push(await measure('accept', COUNT, () => [smtp], () => sendAll(COUNT)));

  worker = await startWorker();
  const base = posts;
  log(`first attempt: the worker delivers the ${COUNT} accepted`);
  rows.push(await measure('first attempt (200)', COUNT, () => [worker], async () => { await control.resume(); await waitForPosts(base + COUNT); await waitForQueueEmpty(); }));
  await stopProcess(worker.child);

  const few = Math.max(50, Math.round(COUNT / 4));
  mode = 'fail-first';
  await sendAll(few);
  worker = await startWorker();
  const retryBase = posts;
  log(`first attempt 503 + retry 200: ${few} messages`);
  const both = await measure('503 then 200', few, () => [worker], async () => { await control.resume(); await waitForPosts(retryBase + 2 * few); await waitForQueueEmpty(); });
  rows.push(both);
  const first = rows[1];
  rows.push({
    path: 'retry (503 then 200, minus a first attempt)', messages: few, derived: true,
    cpuUsPerMessage: Object.fromEntries(Object.entries(both.cpuUsPerMessage).map(([k, v]) => [k, v - (first.cpuUsPerMessage[k] ?? 0)])),
    redisCpuUsPerMessage: both.redisCpuUsPerMessage - first.redisCpuUsPerMessage,
    redisCommandsPerMessage: Number((both.redisCommandsPerMessage - first.redisCommandsPerMessage).toFixed(1)),
    scriptsPerMessage: Number((both.scriptsPerMessage - first.scriptsPerMessage).toFixed(2)),
    fsyncsPerMessage: Number((both.fsyncsPerMessage - first.fsyncsPerMessage).toFixed(2)),
  });
  await stopProcess(worker.child);

  mode = 'fail';
  await sendAll(few);
  await sleep(50);
  // A retry window already over: the first failure is the last.
  worker = await startWorker(['--retry-max-age', '10ms']);
  const deadBase = posts;
  log(`dead letter: ${few} messages, the app answers 500`);
  rows.push(await measure('dead letter (500, window over)', few, () => [worker], async () => { await control.resume(); await waitForPosts(deadBase + few); await waitForQueueEmpty(); }));
  await stopProcess(worker.child);
} finally {
  // Every process this run started, also after a failure: none may outlive it (a left-over worker
  // would find the next run's Redis at the same socket path).
  for (const proc of started) await stopProcess(proc.child, 5_000);
  await control.close();
  controlConnection.disconnect();
  client.disconnect();
  await redis.stop();
  app.close();
}

const results = { date: new Date().toISOString(), messageBytes: SIZE, sessions: SESSIONS, appendfsync: 'always', mxhookArgs: opts['mxhook-args'], rows };
mkdirSync(path.dirname(opts.out), { recursive: true });
writeFileSync(opts.out, `${JSON.stringify(results, null, 2)}\n`);
const pad = (text, n) => String(text).padEnd(n);
process.stdout.write(`\nPer-message cost, ${SIZE}-byte messages, appendfsync always (${opts.out})\n\n`);
process.stdout.write(`${pad('path', 46)}${pad('mxhook CPU us', 16)}${pad('redis CPU us', 14)}${pad('commands', 10)}${pad('scripts', 9)}fsyncs\n`);
for (const r of rows) {
  process.stdout.write(`${pad(r.path, 46)}${pad(Object.values(r.cpuUsPerMessage).join(' + '), 16)}${pad(r.redisCpuUsPerMessage, 14)}${pad(r.redisCommandsPerMessage, 10)}${pad(r.scriptsPerMessage, 9)}${r.fsyncsPerMessage}\n`);
}
for (const r of rows.filter((row) => row.topCommands)) process.stdout.write(`\n${r.path}: ${Object.entries(r.topCommands).map(([c, n]) => `${c} ${n}`).join(', ')}`);
process.stdout.write('\n\nRedis time by command, us per message (a script\'s includes what it calls):');
for (const r of rows.filter((row) => row.topCommandUs)) process.stdout.write(`\n${r.path}: ${Object.entries(r.topCommandUs).map(([c, us]) => `${c} ${us}`).join(', ')}`);
process.stdout.write('\n');
