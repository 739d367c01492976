/** The `mxhook` command (entered through src/cli.ts, after its runtime check): start the server (all roles or one), manage routes, or list, show, replay and purge dead letters. */
import { ConfigError, describeSettings, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { createLogger } from './logger.ts';
import { ALL_ROLES, startMxhook, type Role } from './start.ts';
import { runDeadCommand } from './commands/dead.ts';
import { runDoctorCommand } from './commands/doctor.ts';
import { runHealthCommand } from './commands/health.ts';
import { runInspectCommand } from './commands/inspect.ts';
import { runRoutesCommand } from './commands/routes.ts';
import { runMessagesCommand } from './commands/messages.ts';
import { runEventsCommand } from './commands/events.ts';

const USAGE = `mxhook: a self-hosted, SendGrid-compatible Inbound Parse receiver.

Usage:
  mxhook start                 SMTP listener, HTTP API and delivery workers in one process
  mxhook smtp | worker | api   one role only, against a shared REDIS_URL (scale-out)
  mxhook routes add HOSTNAME URL [--raw] [--spam-check] [--json] [--strip-replies] [--raw-8bit keep|encode]
                                         --json: POST application/json; --strip-replies: add stripped_text,
                                         stripped_signature, stripped_html; --raw-8bit encode: raw mode's 8-bit
                                         parts as quoted-printable/base64 (docs/payload.md)
  mxhook routes add HOSTNAME --inspect   POST to the built-in inspector, to try mxhook without an app
  mxhook routes update HOSTNAME [--raw | --parsed] [--json | --multipart] [--strip-replies | --no-strip-replies]
                      [--raw-8bit keep|encode]   change only the options given
  mxhook routes list
  mxhook routes rm HOSTNAME
  mxhook routes rules HOSTNAME           a route's address rules, in the order they are tried
  mxhook routes rule add HOSTNAME MATCH URL | --drop   e.g. support, support-*, reply+* (see docs/payload.md)
  mxhook routes rule rm HOSTNAME MATCH
  mxhook inspect HOSTNAME [--wait] [--full]   the last POSTs the inspector kept, field by field
  mxhook dead list [HOSTNAME]            dead letters, newest first
  mxhook dead show ID                    why it failed, every attempt
  mxhook dead replay ID | --route HOST   deliver the kept message again
  mxhook dead purge ID | --route HOST
  mxhook messages list [HOSTNAME] [STATE] [--limit N] [--cursor C]
                                            the message log, newest first, a page at a time
  mxhook messages show ID | raw ID | redeliver ID
  mxhook events add URL [EVENT,...]      an event-webhook destination (default: every event); prints its secret once
  mxhook events list | show ID | enable ID | disable ID | rm ID
  mxhook doctor                          check DNS (MX, A/AAAA, PTR), TLS, Redis, the SMTP port and route URLs
  mxhook health                          exit 0 when this machine's API answers /healthz (healthchecks)
  mxhook --help

Options (flag, then env var; flags win):
${describeSettings()}
`;

async function main(argv: string[]): Promise<number> {
  let parsed: { config: Config; rest: string[] };
  const commandFlags = new Set(['--raw', '--spam-check', '--route', '--inspect', '--wait', '--full', '--limit', '--cursor', '--drop', '--json',
    '--parsed', '--multipart', '--strip-replies', '--no-strip-replies', '--raw-8bit']);
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
    if (command !== 'start' && !config.redisUrl && !config.redisCluster) {
      process.stderr.write(`mxhook: running "${command}" alone needs a shared Redis: set REDIS_URL (--redis-url) or MXHOOK_REDIS_CLUSTER (--redis-cluster)\n`);
      return 2;
    }
    return runServer(config, roles);
  }
  const output = { out: (t: string) => process.stdout.write(t), err: (t: string) => process.stderr.write(t) };
  const flags = new Set(operands.filter((a) => commandFlags.has(a)));
  // Flags with a value stay in place, for the command to read with it.
  const positional = operands.filter((a) => !commandFlags.has(a) || ['--route', '--limit', '--cursor', '--raw-8bit'].includes(a));
  if (command === 'routes') return runRoutesCommand(config, positional, flags, output);
  if (command === 'dead') return runDeadCommand(config, positional, output);
  if (command === 'messages') return runMessagesCommand(config, positional, output);
  if (command === 'events') return runEventsCommand(config, positional, output);
  if (command === 'doctor') return runDoctorCommand(config, output);
  if (command === 'health') return runHealthCommand(config, output);
  if (command === 'inspect') return runInspectCommand(config, positional, flags, output);
  process.stderr.write(`mxhook: unknown command "${command}"\n\n${USAGE}`);
  return 2;
}

async function runServer(config: Config, roles: readonly Role[]): Promise<number> {
  const logger = createLogger(config.logLevel);
  // Installed before anything starts: a SIGTERM during start-up (managed redis-server already
  // spawned, listeners not yet up) must still end in the drain, not kill the process and orphan Redis.
  let stopSignal: string | undefined;
  let wake: (() => void) | undefined;
  const onSignal = (signal: string) => {
    if (stopSignal) return logger.info({ event: 'already_stopping', signal });
    stopSignal = signal;
    logger.info({ event: 'stopping', signal });
    wake?.();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const running = await startMxhook(config, roles, logger);
  if (running.generatedApiKey) {
    // Printed once, outside the JSON log; only its hash is stored.
    process.stderr.write(`\nmxhook: generated API key (shown once, store it now):\n\n  ${running.generatedApiKey}\n\n`);
  }
  if (!stopSignal) await new Promise<void>((resolve) => (wake = resolve));
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
