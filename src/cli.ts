#!/usr/bin/env node
/** `mxhook` command: start the server (all roles or one), or manage routes. */
import path from 'node:path';
import { existsSync } from 'node:fs';
import { ConfigError, describeSettings, loadConfig } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { validateParseSetting } from './domain/route.ts';
import { normalizeHostname } from './domain/address.ts';
import { createLogger } from './app/logger.ts';
import { ALL_ROLES, startMxhook, type Role } from './app/start.ts';
import { createRouteRegistry } from './routes/registry.ts';
import { createKeySpace } from './store/keys.ts';
import { createRedis, waitForRedis } from './store/redis.ts';

const USAGE = `mxhook: a self-hosted, SendGrid-compatible Inbound Parse receiver.

Usage:
  mxhook start                 SMTP listener, HTTP API and delivery workers in one process
  mxhook smtp | worker | api   one role only, against a shared REDIS_URL (scale-out)
  mxhook routes add HOSTNAME URL [--raw] [--spam-check]
  mxhook routes list
  mxhook routes rm HOSTNAME
  mxhook --help

Options (flag, then env var; flags win):
${describeSettings()}
`;

async function main(argv: string[]): Promise<number> {
  let parsed: { config: Config; rest: string[] };
  const routeFlags = new Set(['--raw', '--spam-check']);
  try {
    parsed = loadConfig(argv.filter((a) => !routeFlags.has(a)), process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`mxhook: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const { config, rest } = parsed;
  const [command = 'help', ...operands] = rest;
  if (command === 'help' || command === '--help' || rest.includes('--help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === 'start' || command === 'smtp' || command === 'worker' || command === 'api') {
    const roles: readonly Role[] = command === 'start' ? ALL_ROLES : [command];
    if (command !== 'start' && !config.redisUrl) {
      process.stderr.write(`mxhook: running "${command}" alone needs a shared Redis: set REDIS_URL (--redis-url)\n`);
      return 2;
    }
    return runServer(config, roles);
  }
  if (command === 'routes') return runRoutes(config, operands, argv);
  process.stderr.write(`mxhook: unknown command "${command}"\n\n${USAGE}`);
  return 2;
}

async function runServer(config: Config, roles: readonly Role[]): Promise<number> {
  const logger = createLogger(config.logLevel);
  const running = await startMxhook(config, roles, logger);
  if (running.generatedApiKey) {
    // Printed once, outside the JSON log; only its hash is stored.
    process.stderr.write(`\nmxhook: generated API key (shown once, store it now):\n\n  ${running.generatedApiKey}\n\n`);
  }
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      logger.info({ event: 'stopping', signal });
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  await running.stop();
  logger.info({ event: 'stopped' });
  return 0;
}

/** Routes are managed straight in Redis: REDIS_URL, or the managed server's socket in the data dir. */
async function runRoutes(config: Config, operands: string[], argv: string[]): Promise<number> {
  const redisUrl = config.redisUrl ?? path.resolve(config.dataDir, 'redis', 'redis.sock');
  if (!config.redisUrl && !existsSync(redisUrl)) {
    process.stderr.write(`mxhook: no Redis at ${redisUrl}: start the server first (npm start), or set REDIS_URL\n`);
    return 1;
  }
  const redis = createRedis(redisUrl, 'fail-fast', 'mxhook-cli');
  redis.on('error', () => {});
  try {
    await waitForRedis(redis, 5000);
    const routes = createRouteRegistry(redis, createKeySpace(config.redisPrefix));
    const [sub, hostname, url] = operands;
    if (sub === 'list') {
      for (const r of await routes.list()) {
        process.stdout.write(`${r.hostname}\t${r.url.replace(/\/\/[^@/]*@/, '//***@')}\t${r.send_raw ? 'raw' : 'parsed'}${r.spam_check ? '\tspam_check' : ''}\n`);
      }
      return 0;
    }
    if (sub === 'add') {
      const checked = validateParseSetting({ hostname, url, send_raw: argv.includes('--raw'), spam_check: argv.includes('--spam-check') });
      if (checked.errors) {
        process.stderr.write(checked.errors.map((e) => `mxhook: ${e.field ?? 'route'}: ${e.message}\n`).join(''));
        return 2;
      }
      if (!(await routes.create(checked.setting))) {
        process.stderr.write(`mxhook: a route for ${checked.setting.hostname} already exists (rm it first)\n`);
        return 1;
      }
      process.stdout.write(`added ${checked.setting.hostname}\n`);
      return 0;
    }
    if (sub === 'rm' && hostname) {
      if (!(await routes.remove(normalizeHostname(hostname)))) {
        process.stderr.write(`mxhook: no route for ${hostname}\n`);
        return 1;
      }
      process.stdout.write(`removed ${normalizeHostname(hostname)}\n`);
      return 0;
    }
    process.stderr.write('usage: mxhook routes add HOSTNAME URL [--raw] [--spam-check] | list | rm HOSTNAME\n');
    return 2;
  } finally {
    redis.disconnect();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`mxhook: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
