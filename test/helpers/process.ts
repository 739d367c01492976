/** Runs `mxhook` (src/cli.ts) as a child process and waits for log events, as an operator would. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

export interface MxhookProcess {
  readonly proc: ChildProcess;
  /** Every JSON log line so far. */
  readonly logs: Record<string, unknown>[];
  stderr(): string;
  /** Resolves with the first log entry (past or future) for which `match` is true. */
  waitForLog(match: (entry: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/** Runs src/cli.ts; a delivered message is freed at once (MXHOOK_RAW_RETENTION=0) unless `env` or a flag says otherwise. */
export function spawnMxhook(args: string[], env: Record<string, string> = {}): MxhookProcess {
  const proc = spawn(process.execPath, [path.resolve('src/cli.ts'), ...args], { env: { ...process.env, MXHOOK_LOG_LEVEL: 'info', MXHOOK_RAW_RETENTION: '0', ...env } });
  const logs: Record<string, unknown>[] = [];
  const waiters: { match: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }[] = [];
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line);
    } catch {
      return;
    }
    logs.push(entry);
    for (const w of waiters.filter((w) => w.match(entry))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(entry);
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc, logs, exited,
    stderr: () => stderr,
    waitForLog(match, timeoutMs = 20_000) {
      const seen = logs.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`log entry not seen within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
        waiters.push({ match, resolve: (e) => { clearTimeout(timer); resolve(e); } });
        void exited.then((code) => { clearTimeout(timer); reject(new Error(`mxhook exited (${code}) before the log entry; stderr: ${stderr}`)); });
      });
    },
  };
}
