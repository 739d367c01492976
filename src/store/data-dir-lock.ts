/**
 * One mxhook per data directory: `mxhook.pid` in it, created exclusively (O_EXCL), holds the pid of
 * the process that runs the managed redis-server there. A second start finds it and is refused
 * before it spawns or deletes anything; a lock whose process is gone (crash, SIGKILL) is taken over.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const LOCK_FILE = 'mxhook.pid';

export interface DataDirLock {
  readonly path: string;
  /** Removes the lock file, when it still names this process. */
  release(): Promise<void>;
}

export class DataDirBusyError extends Error {
  readonly holderPid: number;
  constructor(dir: string, lockPath: string, holderPid: number) {
    super(`data directory ${dir} is in use by another mxhook (pid ${holderPid}): stop it first, or use another --data-dir ` +
      `(if no mxhook runs there, delete ${lockPath})`);
    this.name = 'DataDirBusyError';
    this.holderPid = holderPid;
  }
}

export async function lockDataDir(dir: string, pid: number = process.pid): Promise<DataDirLock> {
  const resolved = path.resolve(dir);
  const lockPath = path.join(resolved, LOCK_FILE);
  await mkdir(resolved, { recursive: true, mode: 0o700 });
  // Two rounds: the first may find a stale lock and remove it, the second takes it.
  for (let round = 0; round < 2; round++) {
    try {
      await writeFile(lockPath, `${pid}\n`, { flag: 'wx', mode: 0o600 });
      return {
        path: lockPath,
        async release() {
          if (await readHolder(lockPath) === pid) await rm(lockPath, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await readHolder(lockPath);
    // Our own pid in the file is stale too: a container restarted gives mxhook the same pid again.
    if (holder !== undefined && holder !== pid && isAlive(holder)) throw new DataDirBusyError(resolved, lockPath, holder);
    await rm(lockPath, { force: true });
  }
  throw new Error(`could not take the lock ${lockPath}: another process keeps creating it`);
}

async function readHolder(lockPath: string): Promise<number | undefined> {
  const text = await readFile(lockPath, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user, still a live holder.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
