/**
 * Reads one message's DATA. Small messages are kept in memory (one MULTI stores them); once a
 * message passes `stageAt` bytes it is staged instead (MessageStage: appended to the store as it
 * arrives, the stream paused while an append is in flight), so twenty 25 MB messages at once no
 * longer mean gigabytes in the SMTP process. Past the size limit, or after a failed append, bytes
 * are read and dropped.
 */
import type { Readable } from 'node:stream';
import type { MessageStage } from '../domain/message.ts';

export interface CollectOptions {
  readonly maxMessageSize: number;
  /** Bytes held in memory before staging starts. */
  readonly stageAt: number;
  /** Once staging, bytes held between appends (smaller: each connection holds less). Default stageAt. */
  readonly appendEvery?: number;
  /** Opens the stage and gives the bytes that go first (our Received: header); absent: never stage. */
  readonly openStage?: (() => { stage: MessageStage; head: Buffer }) | undefined;
}

export interface CollectedData {
  /** Bytes the client sent (our header not counted). */
  readonly size: number;
  readonly tooBig: boolean;
  /** Bytes not staged: the whole message when nothing was staged, else what came after the last append. */
  readonly chunks: Buffer[];
  /** Set when staging started; `staged` bytes (our header included) are in it. */
  readonly stage: MessageStage | undefined;
  readonly staged: number;
  /** An append failed: the message cannot be stored (451), and the stage should be discarded. */
  readonly stageError: unknown;
}

export function collectData(stream: Readable, options: CollectOptions): Promise<CollectedData> {
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = [];
    let held = 0;
    let size = 0;
    let staged = 0;
    let stage: MessageStage | undefined;
    let stageError: unknown;
    let appending: Promise<void> = Promise.resolve();
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // Past the limit, or once an append failed (the message gets 451 whatever follows), keep
      // reading (the client is still sending) but keep nothing.
      if (size > options.maxMessageSize || stageError !== undefined) {
        chunks = [];
        held = 0;
        return;
      }
      chunks.push(chunk);
      held += chunk.length;
      if (!options.openStage || held < (stage ? (options.appendEvery ?? options.stageAt) : options.stageAt)) return;
      if (!stage) {
        const opened = options.openStage();
        stage = opened.stage;
        chunks.unshift(opened.head);
        held += opened.head.length;
      }
      const batch = Buffer.concat(chunks, held);
      const current = stage;
      chunks = [];
      held = 0;
      // TCP backpressure: the client waits while Redis takes the batch, so at most ~appendEvery is held.
      stream.pause();
      appending = appending
        .then(() => current.append(batch))
        .then(() => { staged += batch.length; }, (err: unknown) => {
          stageError = err ?? new Error('staging failed');
          // What arrived while the append was in flight is no use either.
          chunks = [];
          held = 0;
        })
        .finally(() => stream.resume());
    });
    stream.once('error', (err) => {
      void appending.then(() => stage?.discard()).catch(() => {});
      reject(err);
    });
    stream.once('end', () => {
      void appending.then(() => resolve({
        size, tooBig: size > options.maxMessageSize || Boolean((stream as { sizeExceeded?: boolean }).sizeExceeded),
        chunks, stage, staged, stageError,
      }));
    });
  });
}
