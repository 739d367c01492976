import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { MessageStage } from '../domain/message.ts';
import { collectData } from './data-collector.ts';

/** A stage that keeps its appends in memory, in order. */
function memoryStage(): MessageStage & { appends: Buffer[] } {
  const appends: Buffer[] = [];
  return {
    appends,
    async append(bytes) {
      appends.push(bytes);
    },
    read() {
      throw new Error('not used');
    },
    async discard() {
      appends.length = 0;
    },
  };
}

async function feed(stream: PassThrough, chunks: number, size: number): Promise<void> {
  for (let i = 0; i < chunks; i++) {
    if (!stream.write(Buffer.alloc(size, 0x41 + (i % 26)))) await new Promise((r) => stream.once('drain', r));
  }
  stream.end();
}

describe('collectData', () => {
  it('keeps a message under stageAt in memory', async () => {
    const stream = new PassThrough();
    const stage = memoryStage();
    const collected = collectData(stream, { maxMessageSize: 1e6, stageAt: 1000, openStage: () => ({ stage, head: Buffer.from('H') }) });
    await feed(stream, 9, 100);
    const data = await collected;
    expect(data.stage).toBeUndefined();
    expect(Buffer.concat(data.chunks).length).toBe(900);
    expect(stage.appends).toHaveLength(0);
  });

  it('stages from stageAt on, then appends every appendEvery bytes, the head first and nothing lost', async () => {
    const stream = new PassThrough();
    const stage = memoryStage();
    const collected = collectData(stream, {
      maxMessageSize: 1e6, stageAt: 1000, appendEvery: 300, openStage: () => ({ stage, head: Buffer.from('HEAD') }),
    });
    await feed(stream, 30, 100); // 3,000 bytes
    const data = await collected;
    expect(data.stage).toBe(stage);
    // The first append holds the head and the first 1,000 bytes; later ones 300 each.
    expect(stage.appends.map((a) => a.length)).toEqual([1004, 300, 300, 300, 300, 300, 300]);
    expect(data.staged).toBe(3004 - Buffer.concat(data.chunks).length);
    const whole = Buffer.concat([...stage.appends, ...data.chunks]);
    expect(whole.subarray(0, 4).toString()).toBe('HEAD');
    expect(whole.length).toBe(3004);
  });

  it('after a failed append reads on but keeps nothing, and reports the failure', async () => {
    const stream = new PassThrough();
    const failure = new Error('store down');
    let appends = 0;
    const failingStage: MessageStage = {
      async append() {
        appends++;
        throw failure;
      },
      read() {
        throw new Error('not used');
      },
      async discard() {},
    };
    const collected = collectData(stream, {
      maxMessageSize: 1e6, stageAt: 1000, appendEvery: 300, openStage: () => ({ stage: failingStage, head: Buffer.from('HEAD') }),
    });
    await feed(stream, 100, 100); // 10,000 bytes, all after the first append failed but the first 1,000
    const data = await collected;
    expect(data.stageError).toBe(failure);
    expect(data.size).toBe(10_000);
    // The message gets 451: nothing more is appended nor held for it.
    expect(appends).toBe(1);
    expect(data.chunks).toHaveLength(0);
  });

  it('reads past maxMessageSize without keeping anything and says it was too big', async () => {
    const stream = new PassThrough();
    const collected = collectData(stream, { maxMessageSize: 500, stageAt: 1e6 });
    await feed(stream, 10, 100);
    const data = await collected;
    expect(data.tooBig).toBe(true);
    expect(data.size).toBe(1000);
    expect(data.chunks).toHaveLength(0);
  });
});
