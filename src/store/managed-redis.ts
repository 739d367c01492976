/**
 * Runs and supervises a local `redis-server` on a unix socket in the data directory, with the
 * append-only file on, for the single-node setup (no REDIS_URL). Also used by the tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';

export interface ManagedRedisOptions {
  /** Directory for the socket, the append-only file and redis.log. */
  readonly dir: string;
  /** `always` fsyncs before Redis answers a write (nothing accepted is lost on power failure). Default `always`. */
  readonly appendfsync?: 'always' | 'everysec';
  /** Called with a line to log when the server exits unexpectedly or is restarted. */
  readonly onEvent?: (event: string, detail: Record<string, unknown>) => void;
  /** Restart redis-server when it exits unexpectedly. Default true. */
  readonly supervise?: boolean;
}

export interface ManagedRedis {
  /** Path of the unix socket; pass it as the Redis URL. */
  readonly socketPath: string;
  /** Stops the server cleanly (SIGTERM: Redis flushes the append-only file). */
  stop(): Promise<void>;
  /** Kills the server at once (tests of Redis outages). */
  kill(): Promise<void>;
  /** Starts it again after `kill` (same directory, so the append-only file is replayed). */
  restart(): Promise<void>;
}

export const REDIS_INSTALL_HINT =
  'redis-server was not found on PATH. Install Redis (Debian/Ubuntu: apt-get install redis-server; ' +
  'Fedora: dnf install redis; macOS: brew install redis) or set REDIS_URL to an existing Redis.';

/**
 * Redis settings the message log wants (also advised for a Redis of your own, docs/messages.md):
 * a record's hash holds JSON values of a few hundred bytes, over Redis's 64-byte limit for its
 * compact encoding (listpack), so each record would be a hash table: about 40% more memory and
 * more allocations per write. Named by the Redis 6 spelling, which Redis 7 still accepts.
 */
export const LOG_FRIENDLY_REDIS_SETTINGS = { 'hash-max-ziplist-value': '1024' } as const;

export async function startManagedRedis(options: ManagedRedisOptions): Promise<ManagedRedis> {
  const dir = path.resolve(options.dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const socketPath = path.join(dir, 'redis.sock');
  let child: ChildProcess | undefined;
  let stopping = false;
  let restarts = 0;

  const launch = async (): Promise<void> => {
    const args = [
      '--port', '0', '--unixsocket', socketPath, '--unixsocketperm', '700', '--dir', dir,
      '--appendonly', 'yes', '--appendfsync', options.appendfsync ?? 'always', '--save', '',
      // An AOF rewrite forks and writes the whole dataset: with every message, its log record and
      // (kept 24 h) its raw bytes in Redis, Redis's 64 MB default made one every few thousand
      // messages. Rewritten past 256 MB and twice the last rewrite's size instead: more disk and
      // a longer replay at restart (of at most that much), far fewer forks under load.
      '--auto-aof-rewrite-min-size', '256mb', '--auto-aof-rewrite-percentage', '200',
      '--maxmemory-policy', 'noeviction', '--logfile', path.join(dir, 'redis.log'), '--daemonize', 'no',
      ...Object.entries(LOG_FRIENDLY_REDIS_SETTINGS).flatMap(([name, value]) => [`--${name}`, value]),
    ];
    const proc = spawn('redis-server', args, { stdio: 'ignore' });
    child = proc;
    await new Promise<void>((resolve, reject) => {
      proc.once('error', (err: NodeJS.ErrnoException) => {
        reject(err.code === 'ENOENT' ? new Error(REDIS_INSTALL_HINT) : err);
      });
      proc.once('spawn', () => resolve());
    });
    proc.once('exit', (code, signal) => {
      if (stopping || child !== proc) return;
      child = undefined;
      options.onEvent?.('redis_exited', { code, signal });
      if (options.supervise === false) return;
      const delay = Math.min(1000 * 2 ** restarts++, 30_000);
      setTimeout(() => {
        if (stopping || child) return;
        launch().then(
          () => options.onEvent?.('redis_restarted', { restarts }),
          (err) => options.onEvent?.('redis_restart_failed', { error: String(err) }),
        );
      }, delay).unref();
    });
    await waitForSocket(socketPath, proc);
    restarts = 0;
  };

  const terminate = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill(signal);
    });
  };

  // A redis-server already answering here was left by an mxhook that was killed (SIGKILL reaches
  // only the parent): starting a second one would unlink its socket and share its append-only file.
  if (await answersPing(socketPath)) {
    throw new Error(`a redis-server is already running on ${socketPath} (left by an mxhook that was killed?): ` +
      `stop it first (redis-cli -s ${socketPath} shutdown), then start again`);
  }
  await launch();
  return {
    socketPath,
    async stop() {
      stopping = true;
      await terminate('SIGTERM');
    },
    async kill() {
      await terminate('SIGKILL');
    },
    async restart() {
      if (!child) await launch();
    },
  };
}

async function answersPing(socketPath: string): Promise<boolean> {
  const probe = new Redis({ path: socketPath, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

async function waitForSocket(socketPath: string, proc: ChildProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited with code ${proc.exitCode} at start (see redis.log in the data directory)`);
    const probe = new Redis({ path: socketPath, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    try {
      await probe.connect();
      // A replaying append-only file answers LOADING until done.
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      probe.disconnect();
    }
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${socketPath} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
