/**
 * The README's first hour, as a new user lives it: a fresh clone, the machine's own Node first on
 * PATH (Node 20 here), `npm ci && npm start`, `/healthz`, then the Quick start's try-it commands
 * read from the README itself (so the two cannot drift) ending in the inspector's view of the POST;
 * and `dist/cli.js` run directly on that old Node answering with one line. Slow (an install and a
 * build, about a minute and a half); it clones the committed HEAD, so commit before running it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_ENGINES, runtimeProblem } from '../src/domain/runtime.ts';

const exec = promisify(execFile);
const repo = path.resolve('.');
const isGitCheckout = existsSync(path.join(repo, '.git'));
/** The machine's own node and npm, first on PATH, as on a fresh machine. */
const SYSTEM_BIN = ['/usr/local/bin', '/usr/bin', '/bin'];
const systemNode = SYSTEM_BIN.map((d) => path.join(d, 'node')).find((p) => existsSync(p));

/** The user's environment: no npm_* variables from the `npm test` running this file. */
function userEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(npm_|NODE_|INIT_CWD$|VITEST)/i.test(k)) env[k] = v;
  const rest = (process.env.PATH ?? '').split(':').filter((d) => !d.includes('node_modules') && !d.includes('node24'));
  return { ...env, PATH: [...SYSTEM_BIN, ...rest].join(':'), ...extra };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe.skipIf(!isGitCheckout || !systemNode)('the first hour, from a fresh clone on the machine\'s own Node', () => {
  let clone: string;
  let server: ChildProcess | undefined;
  let exited: Promise<number | null>;
  let ports: { smtp: number; api: number };
  let env: NodeJS.ProcessEnv;
  let serverOutput = '';
  /** The mxhook process itself (under bash, npm and sh). */
  let mxhookPid = 0;

  beforeAll(async () => {
    clone = await mkdtemp(path.join(os.tmpdir(), 'mxhook-clone-'));
    await exec('git', ['clone', '--quiet', repo, clone]);
    ports = { smtp: await freePort(), api: await freePort() };
    env = userEnv({
      MXHOOK_SMTP_HOST: '127.0.0.1', MXHOOK_SMTP_PORT: String(ports.smtp), MXHOOK_API_HOST: '127.0.0.1', MXHOOK_API_PORT: String(ports.api),
      MXHOOK_AUTH_CHECKS: 'false', REDIS_URL: '', MXHOOK_API_KEY: '',
    });
  }, 60_000);

  afterAll(async () => {
    if (server && server.exitCode === null) {
      process.kill(-server.pid!, 'SIGKILL');
    }
    if (clone) await rm(clone, { recursive: true, force: true });
  });

  it('`npm ci && npm start`: /healthz answers', async () => {
    // The README's two commands, run by the shell as the user types them.
    server = spawn('bash', ['-c', 'npm ci --no-audit --no-fund --prefer-offline && npm start'], { cwd: clone, env, detached: true });
    exited = new Promise((resolve) => server!.once('exit', (code) => resolve(code)));
    server.stderr!.on('data', (d) => (serverOutput += d));
    const listening = new Promise<void>((resolve, reject) => {
      createInterface({ input: server!.stdout! }).on('line', (line) => {
        serverOutput += `${line}\n`;
        if (line.includes('"event":"api_listening"')) {
          mxhookPid = JSON.parse(line).pid;
          resolve();
        }
      });
      void exited.then((code) => reject(new Error(`npm ci && npm start exited (${code}):\n${serverOutput}`)));
    });
    await listening;
    const health = await fetch(`http://127.0.0.1:${ports.api}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    // It ran on the pinned Node, not the machine's.
    expect(serverOutput).toContain('generated API key');
  }, 240_000);

  it('the Quick start\'s try-it commands, read from the README, end in the POST the app would get', async () => {
    expect(server?.exitCode).toBeNull();
    const readme = await readFile(path.join(clone, 'README.md'), 'utf8');
    const block = /<!-- try-it:start -->\n```sh\n([\s\S]*?)```\n<!-- try-it:end -->/.exec(readme)?.[1];
    expect(block).toBeTruthy();
    const commands = block!.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(commands.length).toBeGreaterThanOrEqual(3);
    let last = { stdout: '', stderr: '' };
    for (const command of commands) {
      // Only the ports differ from what the README says: this machine may use 2525 and 8080 already.
      const local = command.replaceAll('localhost:2525', `localhost:${ports.smtp}`).replaceAll('localhost:8080', `localhost:${ports.api}`);
      last = await exec('bash', ['-c', local], { cwd: clone, env, timeout: 60_000 });
    }
    const shown = last.stdout;
    expect(shown).toMatch(/^POST #1 to test\.localhost at .*attempt 1, \d+ bytes, signature valid\)$/m);
    expect(shown).toMatch(/^ {2}subject +Invoice 42$/m);
    expect(shown).toMatch(/^ {2}from +Ann Example <ann@example\.com>$/m);
    expect(shown).toMatch(/^ {2}text +Hello from the mxhook quick start\. The invoice is attached\.\\n$/m);
    expect(shown).toMatch(/^ {2}attachments +1$/m);
    const pdf = await readFile(path.join(clone, 'fixtures/quickstart/invoice.pdf'));
    expect(shown).toMatch(new RegExp(`^ {2}attachment1 +file invoice\\.pdf \\(application/pdf, ${pdf.length} bytes`, 'm'));
  }, 120_000);

  it('stops cleanly on SIGTERM (and `npm start` exits 0 with it)', async () => {
    process.kill(mxhookPid, 'SIGTERM');
    expect(await exited).toBe(0);
    expect(serverOutput).toContain('"event":"stopped"');
  }, 60_000);

  it('dist/cli.js on a Node that is too old answers with one line', async () => {
    const { stdout: version } = await exec(systemNode!, ['-p', 'process.versions.node']);
    if (!runtimeProblem(version.trim())) return; // this machine's own Node is new enough: nothing to refuse
    const res = await exec(systemNode!, ['dist/cli.js', 'start'], { cwd: clone, env }).then(() => ({ code: 0, stderr: '' }), (err) => err);
    expect(res.code).toBe(1);
    // One line: the Node it needs, the one it found, how to get the right one; nothing from a dependency.
    expect(res.stderr).toMatch(new RegExp(`^mxhook: needs Node\\.js ${NODE_ENGINES.replace(/[.|^>=]/g, '\\$&')}, found ${version.trim().replaceAll('.', '\\.')}: [^\n]*npm start[^\n]*nodejs\\.org[^\n]*\n$`));
  }, 30_000);
});
