#!/usr/bin/env -S node --max-semi-space-size=16
/** `mxhook` command: start the server (all roles or one), manage routes, or list, show, replay and purge dead letters. */
import { ConfigError, describeSettings, loadConfig } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { createLogger } from './app/logger.ts';
import { ALL_ROLES, startMxhook, type Role } from './app/start.ts';
import { runDeadCommand } from './app/commands/dead.ts';
import { runRoutesCommand } from './app/commands/routes.ts';
import { runMessagesCommand } from './app/commands/messages.ts';

const USAGE = `mxhook: a self-hosted, SendGrid-compatible Inbound Parse receiver.

Usage:
  mxhook start                 SMTP listener, HTTP API and delivery workers in one process
  mxhook smtp | worker | api   one role only, against a shared REDIS_URL (scale-out)
  mxhook routes add HOSTNAME URL [--raw] [--spam-check]
  mxhook routes list
  mxhook routes rm HOSTNAME
  mxhook dead list [HOSTNAME]            dead letters, newest first
  mxhook dead show ID                    why it failed, every attempt
  mxhook dead replay ID | --route HOST   deliver the kept message again
  mxhook dead purge ID | --route HOST
  mxhook messages list [HOSTNAME] [STATE]   the message log, newest first
  mxhook messages show ID | raw ID | redeliver ID
  mxhook --help

Options (flag, then env var; flags win):
${describeSettings()}
`;

async function main(argv: string[]): Promise<number> {
  let parsed: { config: Config; rest: string[] };
  const commandFlags = new Set(['--raw', '--spam-check', '--route']);
  try {
    parsed = loadConfig(argv, process.env, commandFlags);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`mxhook: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const { config, rest } = parsed;
  const [command = 'help', ...operands] = rest;
  if (command === 'help' || rest.includes('--help')) {
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
  const output = { out: (t: string) => process.stdout.write(t), err: (t: string) => process.stderr.write(t) };
  const flags = new Set(operands.filter((a) => commandFlags.has(a)));
  const positional = operands.filter((a) => !commandFlags.has(a) || a === '--route');
  if (command === 'routes') return runRoutesCommand(config, positional, flags, output);
  if (command === 'dead') return runDeadCommand(config, positional, output);
  if (command === 'messages') return runMessagesCommand(config, positional, output);
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

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`mxhook: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
