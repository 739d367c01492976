/**
 * What the Docker image and compose.yaml promise, read from the files themselves: Redis as mxhook
 * needs it (append-only, noeviction), a stop grace period longer than the drain, a healthcheck that
 * follows the real API port, `mxhook` on PATH. And that healthcheck, `mxhook health`, for real.
 * (The image itself is not built here: no registry to pull the base image from.)
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseDuration } from '../src/config/units.ts';
import { settingsSchema } from '../src/config/schema.ts';
import { startTestMxhook, type TestMxhook } from './helpers/mxhook.ts';
import { startTestRedis, type TestRedis } from './helpers/redis.ts';

const exec = promisify(execFile);
const drainMs = parseDuration(settingsSchema.shutdownTimeout.default!);

describe('compose.yaml', async () => {
  const compose = parse(await readFile('compose.yaml', 'utf8'));
  const { mxhook, redis, spamd } = compose.services;

  it('runs Redis with the append-only file on and noeviction, as mxhook requires', () => {
    const args: string[] = redis.command;
    expect(args[0]).toBe('redis-server');
    expect(args[args.indexOf('--appendonly') + 1]).toBe('yes');
    expect(args[args.indexOf('--maxmemory-policy') + 1]).toBe('noeviction');
    expect(redis.volumes.some((v: string) => v.endsWith(':/data'))).toBe(true);
    expect(mxhook.environment.REDIS_URL).toBe('redis://redis:6379');
    expect(mxhook.depends_on.redis.condition).toBe('service_healthy');
  });

  it('gives mxhook a stop grace period longer than its drain', () => {
    expect(parseDuration(mxhook.stop_grace_period)).toBeGreaterThan(drainMs + 5000);
  });

  it('checks health with `mxhook health`, and keeps the API on loopback', () => {
    expect(mxhook.healthcheck.test).toEqual(['CMD', 'mxhook', 'health']);
    expect(mxhook.ports).toContain('127.0.0.1:8080:8080');
  });

  it('has spamd as an optional profile, where MXHOOK_SPAMD_HOST points', () => {
    expect(spamd.profiles).toEqual(['spamd']);
    expect(mxhook.environment.MXHOOK_SPAMD_HOST).toBe('spamd');
  });
});

describe('Dockerfile', async () => {
  const dockerfile = await readFile('Dockerfile', 'utf8');
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

  it('health-checks with `mxhook health` (the real port), stops with SIGTERM, has mxhook on PATH', () => {
    expect(runtime).toMatch(/^HEALTHCHECK .*CMD \["mxhook", "health"\]$/m);
    expect(runtime).toMatch(/^STOPSIGNAL SIGTERM$/m);
    expect(runtime).toMatch(/ln -s \/app\/dist\/cli\.js \/usr\/local\/bin\/mxhook/);
    // The drain outlasts docker stop's 10 s default: the file says what to set.
    expect(runtime).toContain('--stop-timeout 45');
  });

  it('runs on the Node the runtime check accepts', () => {
    expect(dockerfile).toMatch(/^FROM node:24-/m);
  });
});

describe('mxhook health', () => {
  let redis: TestRedis;
  let server: TestMxhook;
  beforeAll(async () => {
    redis = await startTestRedis();
    server = await startTestMxhook(redis.socketPath, [], ['api']);
  });
  afterAll(async () => {
    await redis?.cleanup();
  });

  const health = (dataDir: string, extra: string[] = []) =>
    exec(process.execPath, [path.resolve('src/cli.ts'), 'health', '--data-dir', dataDir, ...extra]).then(
      (r) => ({ code: 0, out: r.stdout }), (err) => ({ code: err.code as number, out: `${err.stdout}${err.stderr}` }));

  it('follows the port the API really bound, not the configured default, and fails once it is gone', async () => {
    // The API listens on a random port (--api-port 0); the health command is told nothing of it.
    const up = await health(server.config.dataDir);
    expect(up).toEqual({ code: 0, out: `ok: http://127.0.0.1:${server.apiPort}/healthz\n` });
    await server.close();
    const down = await health(server.config.dataDir, ['--api-port', String(server.apiPort)]);
    expect(down.code).toBe(1);
    expect(down.out).toContain(`http://127.0.0.1:${server.apiPort}/healthz`);
  });
});
