/**
 * Holds an attachment's bytes while a payload is built: small ones in memory, bigger ones in a file,
 * so a message with many large attachments is never all in memory at once.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export type Spooled =
  | { readonly kind: 'memory'; readonly data: Buffer; readonly size: number }
  | { readonly kind: 'file'; readonly path: string; readonly size: number };

export interface SpoolOptions {
  /** Directory for spilled files; made on the first spill (most messages never spill, so no mkdir per delivery). */
  readonly dir: string;
  /** Bytes kept in memory before spilling to a file. Default 256 KiB. */
  readonly memoryLimit?: number;
  /** Told before each file is made in `dir`, so the caller knows there is something to remove. */
  readonly onSpill?: () => void;
}

export async function spoolStream(stream: Readable, name: string, options: SpoolOptions): Promise<Spooled> {
  const limit = options.memoryLimit ?? 256 * 1024;
  const chunks: Buffer[] = [];
  let size = 0;
  const iterator = stream[Symbol.asyncIterator]();
  for (;;) {
    const next = await iterator.next();
    if (next.done) return { kind: 'memory', data: Buffer.concat(chunks, size), size };
    chunks.push(next.value as Buffer);
    size += (next.value as Buffer).length;
    if (size > limit) break;
  }
  const file = path.join(options.dir, name);
  options.onSpill?.();
  await mkdir(options.dir, { recursive: true });
  const out = createWriteStream(file);
  await pipeline(
    (async function* () {
      yield* chunks;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        size += (next.value as Buffer).length;
        yield next.value as Buffer;
      }
    })(),
    out,
  );
  return { kind: 'file', path: file, size };
}

export async function removeSpoolDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
