/**
 * Starting and watching the processes a scenario needs: redis-server (through mxhook's own
 * managed-redis module, so it runs exactly as in production), mxhook roles from dist/, the sink,
 * and Postfix's tools. Logs go to files under bench-results/logs, never through this process.
 */
import { fork, spawn, spawnSync } from 'node:child_process';
import { openSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The build under test: this checkout's dist/, or MXHOOK_BENCH_BUILD (another checkout's dist/, to compare). */
export const DIST = process.env.MXHOOK_BENCH_BUILD ? path.resolve(process.env.MXHOOK_BENCH_BUILD) : path.join(ROOT, 'dist');
export const CLI = path.join(DIST, 'cli.js');

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Absolute path of a program on PATH (or in /usr/sbin, where Debian puts Postfix's tools). */
export function which(program) {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin']) {
    const file = path.join(dir, program);
    if (dir && existsSync(file)) return file;
  }
  return undefined;
}

/** What is missing to run the bench, each with how to get it; the bench installs nothing itself. */
export function missingPrerequisites() {
  const missing = [];
  if (!which('redis-server')) missing.push('redis-server (Debian/Ubuntu: apt-get install redis-server)');
  if (!which('smtp-source') || !which('smtp-sink')) {
    missing.push('smtp-source and smtp-sink from Postfix (Debian/Ubuntu: echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; apt-get install postfix)');
  }
  if (!existsSync(CLI)) missing.push('dist/ (the production build: npm run build, which `npm run bench` runs first)');
  if (!existsSync(path.join(ROOT, 'node_modules/busboy'))) missing.push('node_modules (npm ci)');
  return missing;
}

/** Peak resident memory of a process so far (VmHWM), in bytes; undefined once it has exited. */
export function peakRss(pid) {
  try {
    const kb = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Total CPU time (user + system) a process has used, ms, from /proc. */
export function cpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks of 10 ms
  } catch {
    return undefined;
  }
}

/** Waits until a log file has a JSON line whose event is `event`; returns that line. */
export async function waitForLogEvent(file, event, child, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${path.basename(file)}: process exited (${child.exitCode}); see ${file}`);
    const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n') : [];
    for (const line of lines) {
      if (!line.includes(`"${event}"`)) continue;
      try {
        return JSON.parse(line);
      } catch {
        // a line being written
      }
    }
    await sleep(100);
  }
  throw new Error(`${path.basename(file)}: no "${event}" within ${timeoutMs} ms; see ${file}`);
}

/** Spawns `node dist/cli.js <args>` with its output in a log file; `ready` is the log event to wait for. */
/** The node flags dist/cli.js's `#!/usr/bin/env -S node ...` line names: mxhook runs as installed. */
export function shippedNodeFlags() {
  const first = readFileSync(CLI, 'utf8').split('\n', 1)[0];
  const match = /^#!\S*env (?:-S )?node(.*)$/.exec(first);
  return match ? match[1].trim().split(/\s+/).filter(Boolean) : [];
}

export async function startMxhook({ name, args, env, logDir, ready, nodeArgs = [] }) {
  const log = path.join(logDir, `${name}.log`);
  const fd = openSync(log, 'w');
  const child = spawn(process.execPath, [...shippedNodeFlags(), ...nodeArgs, CLI, ...args], {
    cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', fd, fd],
  });
  const lines = {};
  for (const event of ready) lines[event] = await waitForLogEvent(log, event, child);
  return { name, child, pid: child.pid, log, lines };
}

/** SIGTERM and wait for the exit (SIGKILL after `graceMs`). */
export async function stopProcess(child, graceMs = 20_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** The sink as a child process, with a request/reply helper over IPC. */
export async function startSink() {
  const child = fork(path.join(ROOT, 'bench/lib/sink.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = [];
  child.on('message', (msg) => {
    const i = pending.findIndex((p) => p.reply === msg.reply);
    if (i >= 0) pending.splice(i, 1)[0].resolve(msg);
  });
  const ask = (reply, msg) => new Promise((resolve) => {
    pending.push({ reply, resolve });
    if (msg) child.send(msg);
  });
  const { port } = await ask('listening');
  return {
    child,
    pid: child.pid,
    url: `http://127.0.0.1:${port}/inbound`,
    reset: (hash = false) => ask('reset', { cmd: 'reset', hash }),
    progress: () => ask('progress', { cmd: 'progress' }),
    report: (opts = {}) => ask('report', { cmd: 'report', ...opts }),
    async stop() {
      child.send({ cmd: 'stop' });
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

/** Runs a command to completion, returning its exit code, output and wall time (ms). */
export function runTimed(command, args, options = {}) {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    child.on('exit', (code) => resolve({ code, output, ms: performance.now() - started }));
  });
}

export function versionOf(command, args) {
  const run = spawnSync(command, args, { encoding: 'utf8' });
  return (run.stdout || run.stderr || '').trim().split('\n')[0];
}
