/**
 * One mxhook per data directory, and a clean stop whenever SIGTERM comes: a second `mxhook start`
 * on the same directory is refused and leaves the first one's redis-server alone; a SIGTERM
 * during start-up still drains and takes the managed redis-server down.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnMxhook, type MxhookProcess } from './helpers/process.ts';

const started: MxhookProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const p of started.splice(0)) if (p.proc.exitCode === null && p.proc.signalCode === null) { p.proc.kill('SIGTERM'); await p.exited; }
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mxhook-one-'));
  dirs.push(dir);
  return dir;
}

function start(dir: string): MxhookProcess {
  const p = spawnMxhook(['start', '--data-dir', dir, '--smtp-host', '127.0.0.1', '--smtp-port', '0', '--api-host', '127.0.0.1', '--api-port', '0'],
    { REDIS_URL: '', MXHOOK_API_KEY: 'k' });
  started.push(p);
  return p;
}

async function redisAnswers(socket: string): Promise<boolean> {
  const probe = new Redis({ path: socket, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

describe('one mxhook per data directory', () => {
  it('refuses a second start with a clear message and touches nothing of the first', async () => {
    const dir = await dataDir();
    const first = start(dir);
    const api = await first.waitForLog((e) => e.event === 'api_listening');
    const socket = path.join(dir, 'redis', 'redis.sock');
    const lockBefore = await readFile(path.join(dir, 'mxhook.pid'), 'utf8');
    expect(lockBefore.trim()).toBe(String(first.proc.pid));

    const second = start(dir);
    expect(await second.exited).toBe(1);
    expect(second.stderr()).toContain(`data directory ${dir} is in use by another mxhook (pid ${first.proc.pid})`);
    expect(second.logs.some((e) => e.event === 'managed_redis_started')).toBe(false);

    // The first one's socket, lock and API are as they were.
    expect(await redisAnswers(socket)).toBe(true);
    expect(await readFile(path.join(dir, 'mxhook.pid'), 'utf8')).toBe(lockBefore);
    expect((await fetch(`http://127.0.0.1:${api.port}/healthz`)).status).toBe(200);

    first.proc.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    // Released on a clean stop, so the next start needs nothing removed by hand.
    await expect(readFile(path.join(dir, 'mxhook.pid'), 'utf8')).rejects.toThrow(/ENOENT/);
  }, 60_000);

  it('takes over a lock whose process is gone (killed mxhook)', async () => {
    const dir = await dataDir();
    // A pid that cannot be running: beyond the kernel's pid_max.
    await writeFile(path.join(dir, 'mxhook.pid'), '99999999\n');
    const p = start(dir);
    await p.waitForLog((e) => e.event === 'api_listening');
    expect((await readFile(path.join(dir, 'mxhook.pid'), 'utf8')).trim()).toBe(String(p.proc.pid));
  }, 60_000);

  it('refuses to start beside a redis-server left running on the socket', async () => {
    const dir = await dataDir();
    const first = start(dir);
    await first.waitForLog((e) => e.event === 'api_listening');
    // As after a SIGKILL of mxhook alone: its lock is stale but its redis-server still runs.
    await writeFile(path.join(dir, 'mxhook.pid'), '99999999\n');
    const second = start(dir);
    expect(await second.exited).toBe(1);
    expect(second.stderr()).toContain('a redis-server is already running on');
    expect(await redisAnswers(path.join(dir, 'redis', 'redis.sock'))).toBe(true);
  }, 60_000);
});

describe('SIGTERM during start-up', () => {
  it('still stops cleanly: exit 0, the managed redis-server gone', async () => {
    const dir = await dataDir();
    const p = start(dir);
    // Right after the managed redis-server is up, before the listeners: the old window.
    await p.waitForLog((e) => e.event === 'managed_redis_started');
    p.proc.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.logs.some((e) => e.event === 'stopped')).toBe(true);
    expect(await redisAnswers(path.join(dir, 'redis', 'redis.sock'))).toBe(false);
  }, 60_000);
});
