import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { dataTooSlow, watchDeadlines, type SlowClient } from './session-deadlines.ts';

describe('dataTooSlow', () => {
  it('waits for a whole window of slices, then compares the window average with the minimum', () => {
    expect(dataTooSlow([0, 0, 0], 500, 1_000)).toBe(false);
    expect(dataTooSlow([0, 0, 0, 0], 500, 1_000)).toBe(true);
    expect(dataTooSlow([0, 0, 0, 499], 500, 1_000)).toBe(true);
    expect(dataTooSlow([0, 0, 0, 500], 500, 1_000)).toBe(false);
    // Only the last window counts: a fast start does not pay for a stall later.
    expect(dataTooSlow([10_000, 0, 0, 0, 0], 500, 1_000)).toBe(true);
    expect(dataTooSlow([0, 0, 0, 0], 0, 1_000)).toBe(false);
  });
});

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('watchDeadlines', () => {
  // Timers are fake, setImmediate is not: stream events (nextTick) are let through with flush().
  beforeEach(() => { vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] }); });
  afterEach(() => { vi.useRealTimers(); });
  const options = { commandDeadlineMs: 1_000, minDataRate: 100, dataRateWindowMs: 1_000 };

  it('cuts at the command deadline however many bytes came, and a command arriving starts it again', () => {
    const slow: SlowClient[] = [];
    const watch = watchDeadlines(options, (reason) => slow.push(reason));
    watch.awaitCommand();
    vi.advanceTimersByTime(900);
    watch.commandArrived();
    vi.advanceTimersByTime(900);
    expect(slow).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(slow).toEqual(['COMMAND_DEADLINE']);
  });

  it('runs no deadline while we owe the reply', () => {
    const slow: SlowClient[] = [];
    const watch = watchDeadlines(options, (reason) => slow.push(reason));
    watch.awaitCommand();
    watch.hold();
    vi.advanceTimersByTime(60_000);
    expect(slow).toEqual([]);
    watch.awaitCommand();
    vi.advanceTimersByTime(1_000);
    expect(slow).toEqual(['COMMAND_DEADLINE']);
  });

  it('cuts DATA slower than the minimum after the grace window, not a fast one, and not while the stream is paused by us', async () => {
    const slow: SlowClient[] = [];
    const watch = watchDeadlines(options, (reason) => slow.push(reason));
    const stream = new PassThrough();
    watch.dataStarted(stream);
    stream.on('data', () => {});
    await flush();
    // 150 bytes/s for 3 s: fine.
    for (let i = 0; i < 12; i++) {
      stream.write(Buffer.alloc(38));
      await flush();
      vi.advanceTimersByTime(250);
    }
    expect(slow).toEqual([]);
    // Paused (a staging append in flight) for 10 s: the client is not to blame.
    stream.pause();
    await flush();
    vi.advanceTimersByTime(10_000);
    expect(slow).toEqual([]);
    // Resumed, then 10 bytes/s: cut once a window has passed.
    stream.resume();
    await flush();
    for (let i = 0; i < 3; i++) {
      stream.write(Buffer.alloc(3));
      await flush();
      vi.advanceTimersByTime(250);
    }
    expect(slow).toEqual([]);
    stream.write(Buffer.alloc(3));
    await flush();
    vi.advanceTimersByTime(300);
    expect(slow).toEqual(['DATA_TOO_SLOW']);
  });

  it('stops watching the rate when DATA ends, and after stop() nothing fires', async () => {
    const slow: SlowClient[] = [];
    const watch = watchDeadlines(options, (reason) => slow.push(reason));
    const stream = new PassThrough();
    watch.dataStarted(stream);
    stream.resume();
    stream.end();
    await flush();
    vi.advanceTimersByTime(5_000);
    expect(slow).toEqual([]);
    watch.awaitCommand();
    watch.stop();
    vi.advanceTimersByTime(5_000);
    expect(slow).toEqual([]);
  });
});
