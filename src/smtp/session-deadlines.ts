/**
 * Deadlines that bytes trickling in cannot push back (the idle timeout restarts on every byte, so a
 * client sending one byte a second holds its connection forever without them):
 * - while we wait for a command (from the greeting, the previous command, or our reply to a
 *   message), the whole command line must be in within `commandDeadlineMs`;
 * - during DATA, once a window has passed, the bytes of the last window must average at least
 *   `minDataRate` bytes/s. Time the stream is paused by us (a staging append in flight) does not
 *   count: the window starts again when reading resumes.
 * While we owe the client a reply (its message is being checked and stored), nothing runs.
 */
import type { Readable } from 'node:stream';

export interface DeadlineOptions {
  /** Time for a whole command line, ms, counted from when we start waiting for it. */
  readonly commandDeadlineMs: number;
  /** Slowest average DATA rate, bytes/s, over each window; 0: no minimum. */
  readonly minDataRate: number;
  /** The window the DATA rate is averaged over, ms; also the grace period at the start of DATA. */
  readonly dataRateWindowMs: number;
}

export type SlowClient = 'COMMAND_DEADLINE' | 'DATA_TOO_SLOW';

/** Bytes of a window are counted in this many slices, so the window slides a slice at a time. */
const SLICES = 4;

/**
 * Pure: is the client too slow? `slices` are the byte counts of the last slices, oldest first; the
 * verdict waits until a whole window of slices has been seen.
 */
export function dataTooSlow(slices: readonly number[], minDataRate: number, windowMs: number): boolean {
  if (minDataRate <= 0 || slices.length < SLICES) return false;
  const bytes = slices.slice(-SLICES).reduce((sum, n) => sum + n, 0);
  return bytes < (minDataRate * windowMs) / 1000;
}

export interface DeadlineWatch {
  /** A command line arrived: the next one is owed within the command deadline from now. */
  commandArrived(): void;
  /** DATA started: its rate is watched until the stream ends; then we owe the reply (held). */
  dataStarted(stream: Readable): void;
  /** We owe the client a reply: no deadline runs. */
  hold(): void;
  /** We replied: the next command is owed from now. */
  awaitCommand(): void;
  stop(): void;
}

export function watchDeadlines(options: DeadlineOptions, onSlow: (reason: SlowClient) => void): DeadlineWatch {
  let commandTimer: NodeJS.Timeout | undefined;
  let rateTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  const clear = () => {
    clearTimeout(commandTimer);
    clearInterval(rateTimer);
    commandTimer = rateTimer = undefined;
  };
  const slow = (reason: SlowClient) => {
    if (stopped) return;
    watch.stop();
    onSlow(reason);
  };
  const awaitCommand = () => {
    if (stopped) return;
    clear();
    commandTimer = setTimeout(() => slow('COMMAND_DEADLINE'), options.commandDeadlineMs);
    commandTimer.unref();
  };

  const watch: DeadlineWatch = {
    commandArrived: awaitCommand,
    awaitCommand,
    hold: clear,
    dataStarted(stream) {
      if (stopped) return;
      clear();
      if (options.minDataRate <= 0) return;
      let slices: number[] = [];
      let current = 0;
      const sliceMs = Math.max(1, Math.round(options.dataRateWindowMs / SLICES));
      const startWindow = () => {
        clearInterval(rateTimer);
        slices = [];
        current = 0;
        rateTimer = setInterval(() => {
          slices = [...slices.slice(1 - SLICES), current];
          current = 0;
          if (dataTooSlow(slices, options.minDataRate, options.dataRateWindowMs)) slow('DATA_TOO_SLOW');
        }, sliceMs);
        rateTimer.unref();
      };
      const onData = (chunk: Buffer) => { current += chunk.length; };
      const onPause = () => { clearInterval(rateTimer); rateTimer = undefined; };
      const onResume = () => { if (!stopped && rateTimer === undefined) startWindow(); };
      const done = () => {
        stream.off('data', onData).off('pause', onPause).off('resume', onResume);
        clearInterval(rateTimer);
        rateTimer = undefined;
      };
      stream.on('data', onData).on('pause', onPause).on('resume', onResume);
      stream.once('end', done).once('close', done).once('error', done);
      startWindow();
    },
    stop() {
      stopped = true;
      clear();
    },
  };
  return watch;
}
