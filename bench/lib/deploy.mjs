/**
 * One mxhook deployment for a scenario: its own redis-server (started with mxhook's managed-redis
 * module, `appendfsync always` unless told otherwise, as in production), the route to the sink,
 * and mxhook from dist/ either all-in-one (`mxhook start`) or split (`mxhook smtp` plus N
 * `mxhook worker` processes).
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CLI, DIST, ROOT, cpuMs, peakRss, runTimed, startMxhook, stopProcess } from './procs.mjs';

export const HOSTNAME = 'parse.bench';

async function load(relative) {
  return import(pathToFileURL(path.join(DIST, relative)).href);
}

/**
 * `layout`: 'all' or 'split'; `workers`: worker processes when split. `args`: extra mxhook flags.
 * The SMTP listener allows many connections from 127.0.0.1 (the load comes from one IP) and the
 * SPF/DKIM/DMARC checks are off: they wait on DNS, which this machine does not have.
 */
export async function deploy({ name, layout, workers = 1, fsync = 'always', dir, sinkUrl, args = [], nodeArgs = [] }) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const { startManagedRedis } = await load('store/managed-redis.js');
  const redis = await startManagedRedis({ dir: path.join(dir, 'redis'), appendfsync: fsync, supervise: false });
  const env = { REDIS_URL: redis.socketPath, MXHOOK_API_KEY: 'bench-api-key' };
  const added = await runTimed(process.execPath, [CLI, 'routes', 'add', HOSTNAME, sinkUrl], { env: { ...process.env, ...env } });
  if (added.code !== 0) throw new Error(`routes add failed: ${added.output}`);
  const common = [
    '--smtp-host', '127.0.0.1', '--smtp-port', '0', '--api-host', '127.0.0.1', '--api-port', '0', '--hostname', 'mx.bench',
    '--max-connections-per-ip', '1000', '--max-connections-per-ipv4-24', '1000', '--auth-checks', 'false', '--data-dir', path.join(dir, 'data'), ...args,
  ];
  const procs = [];
  const start = (role, procName, ready) => startMxhook({ name: `${name}-${procName}`, args: [role, ...common], env, logDir: dir, ready, nodeArgs });
  try {
    if (layout === 'all') procs.push(await start('start', 'all', ['smtp_listening', 'worker_started', 'api_listening']));
    else {
      procs.push(await start('smtp', 'smtp', ['smtp_listening']));
      for (let i = 0; i < workers; i++) procs.push(await start('worker', `worker${i + 1}`, ['worker_started']));
    }
  } catch (err) {
    for (const p of procs) await stopProcess(p.child);
    await redis.stop();
    throw err;
  }
  const { Redis } = await import(pathToFileURL(path.join(ROOT, 'node_modules/ioredis/built/index.js')).href);
  const client = new Redis({ path: redis.socketPath, lazyConnect: true });
  await client.connect();
  return {
    name,
    layout,
    smtpPort: procs[0].lines.smtp_listening.port,
    apiPort: procs[0].lines.api_listening?.port,
    procs,
    /** CPU ms used so far by each mxhook process and by redis-server. */
    async cpu() {
      const info = Object.fromEntries((await client.info('cpu')).split('\r\n').filter((l) => l.includes(':')).map((l) => l.split(':')));
      return { ...Object.fromEntries(procs.map((p) => [p.name, cpuMs(p.pid)])), redis: (Number(info.used_cpu_sys) + Number(info.used_cpu_user)) * 1000 };
    },
    /** Redis commands run so far (INFO commandstats, those scripts call included), all kinds together. */
    async commands() {
      let calls = 0;
      for (const [, n] of (await client.info('commandstats')).matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) calls += Number(n);
      return calls;
    },
    /** Peak RSS of each mxhook process, bytes, and redis-server's peak memory. */
    async memory() {
      const info = Object.fromEntries((await client.info('memory')).split('\r\n').filter((l) => l.includes(':')).map((l) => l.split(':')));
      return { ...Object.fromEntries(procs.map((p) => [p.name, peakRss(p.pid)])), redis: Number(info.used_memory_peak) };
    },
    /** Deliveries not finished yet (waiting, active, delayed), and failed ones, straight from Redis. */
    async queue() {
      const prefix = 'mxhook:deliveries';
      const [wait, active, delayed, failed] = await Promise.all([
        client.llen(`${prefix}:wait`), client.llen(`${prefix}:active`), client.zcard(`${prefix}:delayed`), client.zcard(`${prefix}:failed`),
      ]);
      return { wait, active, delayed, failed };
    },
    async stop() {
      // SIGTERM drains: workers finish, SMTP closes; then redis-server goes.
      for (const p of procs) await stopProcess(p.child);
      client.disconnect();
      await redis.stop();
    },
  };
}
