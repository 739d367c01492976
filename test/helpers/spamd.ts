/**
 * A real SpamAssassin `spamd` per test file, on a free loopback port, in the foreground, local
 * tests only (-L: no DNS blocklists or other network tests), no per-user config. Debian package
 * `spamd` (with `spamassassin` for the rules); .ci/run installs them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface TestSpamd {
  readonly port: number;
  /** What spamd wrote (its log goes to stderr), for failure messages. */
  readonly log: () => string;
  stop(): Promise<void>;
}

const SPAMD_PATHS = ['/usr/sbin/spamd', '/usr/bin/spamd'];

/**
 * Whether the spamd tests run: always in CI (.ci/run installs spamd, so a missing one fails
 * loudly), elsewhere only when spamd is installed (docs/development.md: `apt-get install spamd`).
 */
export const runSpamdTests = Boolean(process.env.CI) || SPAMD_PATHS.some((p) => existsSync(p));

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startTestSpamd(): Promise<TestSpamd> {
  const binary = SPAMD_PATHS.find((p) => existsSync(p)) ?? 'spamd';
  const home = await mkdtemp(path.join(os.tmpdir(), 'mxhook-spamd-'));
  const port = await freePort();
  let output = '';
  const child: ChildProcess = spawn(binary, [
    `--listen=127.0.0.1:${port}`, '--allowed-ips=127.0.0.1', '--max-children=2', '--min-children=1',
    '--local', '--nouser-config', '--syslog=stderr', `--helper-home-dir=${home}`, `--pidfile=${path.join(home, 'spamd.pid')}`,
  ], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', (err) => { output += `\n${String(err)} (install spamd: apt-get install spamd spamassassin)`; });
  const stop = async () => {
    // spamd forks its scanning children into its process group: end the group we started.
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        child.kill('SIGTERM');
      }
      await exited;
    }
    await rm(home, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  while (!(await ping(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`spamd did not start on port ${port}:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { port, log: () => output, stop };
}

/** SPAMC/1.5 PING -> "SPAMD/1.5 0 PONG". */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d: Buffer) => { answer += d.toString(); });
    socket.on('connect', () => socket.end('PING SPAMC/1.5\r\n\r\n'));
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(/PONG/.test(answer)));
  });
}
