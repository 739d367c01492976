/**
 * The `mxhook` command as users run it: a child process of src/cli.ts, with its own managed
 * redis-server (no REDIS_URL), routes added with `mxhook routes`, and a clean SIGTERM stop.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from './helpers/receiver.ts';
import { sendMail } from './helpers/smtp.ts';

const CLI = path.resolve('src/cli.ts');
const run = (args: string[], env: Record<string, string> = {}) =>
  promisify(execFile)(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );

describe('mxhook command line', () => {
  it('--help lists every setting with its env var and default', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    for (const text of ['mxhook start', 'routes add', 'routes update', '--strip-replies', '--raw-8bit keep|encode', '--smtp-port', 'MXHOOK_SMTP_PORT', 'REDIS_URL', '(default: 30MB)']) expect(stdout).toContain(text);
  });

  it('a bad setting is refused with a message naming it', async () => {
    const flag = await run(['start', '--smtp-port', 'abc']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/MXHOOK_SMTP_PORT \(--smtp-port\): expected a port number/);
    const env = await run(['start'], { MXHOOK_MAX_MESSAGE_SIZE: 'huge' });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('MXHOOK_MAX_MESSAGE_SIZE');
    expect((await run(['start', '--no-such-flag', '1'])).stderr).toContain('unknown option --no-such-flag');
  });

  it('a single role needs a shared REDIS_URL', async () => {
    const res = await run(['worker'], { REDIS_URL: '' });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('REDIS_URL');
  });
});

describe('mxhook start (all in one, managed redis-server)', () => {
  let dataDir: string;
  let child: ChildProcess | undefined;
  let receiver: Receiver;
  afterAll(async () => {
    child?.kill('SIGKILL');
    await receiver?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** Starts the server; resolves with the ports it logged and what it printed on stderr. */
  async function start(): Promise<{ smtpPort: number; apiPort: number; stderr: () => string; proc: ChildProcess }> {
    const proc = spawn(process.execPath, [CLI, 'start', '--data-dir', dataDir, '--smtp-port', '0', '--api-port', '0',
      '--smtp-host', '127.0.0.1', '--api-host', '127.0.0.1', '--retry-fast-interval', '100ms'], { env: { ...process.env, REDIS_URL: '', MXHOOK_API_KEY: '' } });
    child = proc;
    let stderr = '';
    proc.stderr!.on('data', (d) => (stderr += d));
    const ports: Record<string, number> = {};
    const lines = createInterface({ input: proc.stdout! });
    await new Promise<void>((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`mxhook exited with ${code}: ${stderr}`)));
      lines.on('line', (line) => {
        const entry = JSON.parse(line);
        if (entry.event === 'smtp_listening') ports.smtp = entry.port;
        if (entry.event === 'api_listening') ports.api = entry.port;
        if (ports.smtp && ports.api) resolve();
      });
    });
    return { smtpPort: ports.smtp, apiPort: ports.api, stderr: () => stderr, proc };
  }

  /** SIGTERM; resolves with the exit code once the process has exited and its stdout/stderr are read to the end. */
  async function stop(proc: ChildProcess): Promise<number | null> {
    const closed = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
    proc.kill('SIGTERM');
    return closed;
  }

  it('starts redis-server itself, prints a generated API key once, takes routes from the CLI, delivers, stops on SIGTERM', async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'mxhook-cli-'));
    receiver = await startReceiver();
    const first = await start();
    // The key is printed on stderr right after the listening lines on stdout: the pipes race.
    let key: string | undefined;
    await expect.poll(() => (key = /generated API key[^\n]*\n\n\s+(mxh_\S+)/.exec(first.stderr())?.[1]), { timeout: 5_000 }).toBeTruthy();

    const env = { MXHOOK_DATA_DIR: dataDir, REDIS_URL: '' };
    expect((await run(['routes', 'add', 'cli.example.com', receiver.url], env)).stdout).toContain('added cli.example.com');
    expect((await run(['routes', 'add', 'cli.example.com', receiver.url], env)).code).toBe(1);
    expect((await run(['routes', 'add', 'bad.example.com', 'ftp://x'], env)).stderr).toContain('url must use http or https');
    expect((await run(['routes', 'list'], env)).stdout).toContain(`cli.example.com\t${receiver.url}\tparsed`);
    // Address rules: appended in order, shown, refused precisely, removed.
    expect((await run(['routes', 'rule', 'add', 'cli.example.com', 'reply+*', receiver.url], env)).stdout).toContain('added rule 1 of cli.example.com: reply+* -> ');
    expect((await run(['routes', 'rule', 'add', 'cli.example.com', 'noreply', '--drop'], env)).code).toBe(0);
    const badRule = await run(['routes', 'rule', 'add', 'cli.example.com', 'no*reply', receiver.url], env);
    expect([badRule.code, badRule.stderr]).toEqual([2, expect.stringContaining('address_rules[2].match: invalid match pattern')]);
    expect((await run(['routes', 'rules', 'cli.example.com'], env)).stdout).toBe(`1\treply+*\tdeliver\t${receiver.url}\n2\tnoreply\tdrop\n`);
    expect((await run(['routes', 'list'], env)).stdout).toContain('\t2 address rules');
    expect((await run(['routes', 'rule', 'rm', 'cli.example.com', 'noreply'], env)).stdout).toContain('removed rule noreply');
    // Reply text and raw 8-bit encoding: set at creation, changed one by one, shown, refused by name.
    expect((await run(['routes', 'add', 'opts.example.com', receiver.url, '--raw', '--strip-replies', '--raw-8bit', 'encode'], env)).code).toBe(0);
    expect((await run(['routes', 'list'], env)).stdout).toContain(`opts.example.com\t${receiver.url}\traw\tstrip_replies\traw_8bit=encode\n`);
    expect((await run(['routes', 'update', 'opts.example.com', '--no-strip-replies', '--raw-8bit', 'keep', '--json'], env)).stdout)
      .toBe(`updated opts.example.com\t${receiver.url}\traw\tjson\n`);
    const bad8bit = await run(['routes', 'update', 'opts.example.com', '--raw-8bit', 'utf8'], env);
    expect([bad8bit.code, bad8bit.stderr]).toEqual([2, 'mxhook: raw_8bit: raw_8bit must be "keep" or "encode"\n']);
    expect((await run(['routes', 'update', 'opts.example.com'], env)).code).toBe(2);
    expect((await run(['routes', 'update', 'opts.example.com', '--parsed', '--multipart', '--strip-replies'], env)).stdout)
      .toBe(`updated opts.example.com\t${receiver.url}\tparsed\tstrip_replies\n`);
    expect((await run(['routes', 'rm', 'opts.example.com'], env)).code).toBe(0);

    // The generated key works against the API.
    const res = await fetch(`http://127.0.0.1:${first.apiPort}/v3/user/webhooks/parse/settings/cli.example.com`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);

    await sendMail(first.smtpPort, { from: 'a@sender.test', to: 'in@cli.example.com', subject: 'via cli', text: 'hi' });
    const [post] = await receiver.waitFor(1);
    expect(post.fields.subject).toBe('via cli');

    expect(await stop(first.proc)).toBe(0);

    // Second start: same data (append-only file), no new key printed, route still there.
    const second = await start();
    expect((await run(['routes', 'rm', 'cli.example.com'], env)).stdout).toContain('removed cli.example.com');
    expect((await run(['routes', 'list'], env)).stdout).toBe('');
    expect(await stop(second.proc)).toBe(0);
    // Only now is all of its stderr in (see the first start): a key printed late would be seen.
    expect(second.stderr()).not.toContain('generated API key');
  }, 60_000);
});
