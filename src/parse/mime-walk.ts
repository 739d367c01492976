/**
 * Walks a message's MIME tree with mailsplit's streaming splitter and sorts every leaf into body
 * text or an attachment; attachments are transfer-decoded and spooled one at a time.
 *
 * The rules (docs/payload.md, "How tricky mail arrives"): text/plain and text/html parts that are inline
 * and have no file name are body text (body-text.ts joins several); everything else is an
 * attachment, a text part with `Content-Disposition: attachment` or a file name included.
 * message/rfc822 parts stay whole (`ignoreEmbedded`) and arrive as `.eml` files. A multipart
 * whose boundary never occurs (or that has none) shows its content as text, as mail clients do.
 * The splitter is fed the message as splitter-input.ts mends it (a missing blank line after
 * headers, a stray boundary on a non-multipart type); partType() applies RFC 2045/2046's defaults.
 * Body text past LARGE_TEXT_BYTES is kept in a file (large-text.ts), never as one big string.
 */
import path from 'node:path';
import { pipeline, Readable, Transform, type TransformCallback, type Writable } from 'node:stream';
import mailsplit, { type MimeNode } from '@zone-eu/mailsplit';
import libmime from 'libmime';
import { effectiveType, embeddedSubject, generatedFilename, partFilename, safeFilename } from './attachment-names.ts';
import type { BodyPart } from './body-text.ts';
import { decodeText, withoutNul } from './charset.ts';
import { LARGE_TEXT_BYTES, spoolLargeText } from './large-text.ts';
import { spoolStream, type Spooled, type SpoolOptions } from './spool.ts';
import { splicedPieces, splitterSplices } from './splitter-input.ts';
import { extractUuencoded, uudecodePart } from './uuencode.ts';

export interface WalkedAttachment {
  readonly filename: string;
  readonly contentType: string;
  /** Set for inline parts (in multipart/related, or inline with a Content-ID). */
  readonly contentId: string | undefined;
  readonly file: Spooled;
}

export interface WalkResult {
  readonly bodyParts: BodyPart[];
  readonly attachments: WalkedAttachment[];
  /** Why the walk stopped early; what was found before that is kept. */
  readonly error: string | undefined;
}

interface Found {
  /** Position in the message: the leaf's number, then the file's number within it (uuencode). */
  readonly order: readonly [number, number];
  readonly name: string | undefined;
  readonly contentType: string;
  readonly contentId: string | undefined;
  file?: Spooled;
  head?: HeadTap;
}

const UUENCODE = new Set(['x-uuencode', 'uuencode', 'x-uue', 'uue']);

/** `charsetHint`: the message's declared charset, for raw 8-bit file names (asked for only then). */
export async function walkMime(raw: Buffer, spool: SpoolOptions, charsetHint: () => string | undefined): Promise<WalkResult> {
  const found: Found[] = [];
  const bodies: { order: number; part: BodyPart }[] = [];
  const pending: Promise<void>[] = [];
  let failure: unknown;
  // Caught at once: a spool that fails while the splitter still runs must not be an unhandled
  // rejection (that would end the worker), and its source is destroyed so nothing waits on it.
  const track = (work: Promise<void>, source: Readable) => {
    pending.push(work.catch((err: unknown) => {
      failure ??= err;
      source.destroy(err as Error);
    }));
  };
  let leafCount = 0;
  let open: Transform | undefined;
  // A multipart that has not shown a child yet, and the bytes it held so far.
  let waiting: { node: MimeNode; chunks: Buffer[] } | undefined;

  const text = (order: number, node: MimeNode, bytes: Buffer) => {
    let content = decodeText(bytes, node.charset);
    if (node.flowed) content = libmime.decodeFlowed(content, node.delSp);
    content = withoutNul(content.replace(/\r\n?/g, '\n'));
    const kind = partType(node) === 'text/html' ? 'html' : 'text';
    if (kind === 'text') {
      const uu = extractUuencoded(content);
      content = uu.text;
      uu.files.forEach((f, i) => found.push({
        order: [order, i + 1], name: f.filename, contentType: effectiveType(false, f.filename), contentId: undefined,
        file: { kind: 'memory', data: f.data, size: f.data.length },
      }));
    }
    bodies.push({ order, part: { kind, content, alternatives: ancestors(node, 'alternative') } });
  };
  // Body text up to LARGE_TEXT_BYTES is held as a string; past that it is spooled and kept in a file (large-text.ts).
  const bodyText = (order: number, node: MimeNode, source: Readable) => {
    track(spoolStream(source, `text${order}.raw`, { ...spool, memoryLimit: LARGE_TEXT_BYTES }).then(async (file) => {
      if (file.kind === 'memory') return text(order, node, file.data);
      const content = await spoolLargeText(file.path, path.join(spool.dir, `text${order}.txt`), {
        charset: node.charset, flowed: node.flowed, delSp: node.delSp,
      });
      bodies.push({ order, part: { kind: partType(node) === 'text/html' ? 'html' : 'text', content, alternatives: ancestors(node, 'alternative') } });
    }), source);
  };
  const releaseWaiting = () => {
    // No child ever came: the boundary is missing or wrong; show what it held as text.
    if (waiting?.chunks.length) bodyText(++leafCount, waiting.node, Readable.from(waiting.chunks));
    waiting = undefined;
  };
  const openLeaf = (node: MimeNode) => {
    const order = ++leafCount;
    const name = partFilename(node, charsetHint);
    const type = partType(node);
    const decoder = node.getDecoder();
    if ((type === 'text/plain' || type === 'text/html') && node.disposition !== 'attachment' && !name) {
      bodyText(order, node, decoder);
      return decoder;
    }
    const cid = contentId(node);
    const inline = Boolean(cid) && (ancestors(node, 'related').length > 0 || node.disposition === 'inline');
    const entry: Found = { order: [order, 0], name, contentType: effectiveType(type, name), contentId: inline ? cid : undefined };
    found.push(entry);
    if (UUENCODE.has(String(node.encoding))) {
      track(collect(decoder).then((bytes) => {
        const file = uudecodePart(bytes);
        Object.assign(entry, { file: { kind: 'memory', data: file.data, size: file.data.length } });
        if (file.filename && !name) Object.assign(entry, { name: file.filename, contentType: effectiveType(false, file.filename) });
      }), decoder);
      return decoder;
    }
    let source: Readable = decoder;
    if (type === 'message/rfc822' && !name) source = pipeline(decoder, (entry.head = new HeadTap()), () => {});
    track(spoolStream(source, `part${order}`, spool).then((file) => { entry.file = file; }), decoder);
    return decoder;
  };

  const splitter = new mailsplit.Splitter({ ignoreEmbedded: true });
  // Fed in slices as the walk consumes them: written whole, the splitter would turn the entire
  // message into line objects at once (tens of MB of heap for a large attachment).
  // (A failed write shows up as the splitter's error in the loop below.)
  feedInSlices(splicedPieces(raw, splitterSplices(raw)), splitter).catch(() => {});
  let error: string | undefined;
  try {
    for await (const data of splitter as AsyncIterable<MimeNode | { type: 'body' | 'data'; value: Buffer }>) {
      if (data.type === 'node') {
        open?.end();
        open = undefined;
        if (waiting && data.parentNode === waiting.node) waiting = undefined;
        else releaseWaiting();
        if (data.multipart) waiting = { node: data, chunks: [] };
        else open = openLeaf(data);
      } else if (data.type === 'body') {
        if (open && !open.write(data.value)) await writable(open);
      } else {
        waiting?.chunks.push(data.value);
      }
    }
    open?.end();
    releaseWaiting();
    await Promise.all(pending);
    if (failure) throw failure;
  } catch (err) {
    open?.destroy();
    await Promise.allSettled(pending);
    error = (err as Error).message || String(err);
  }
  return { bodyParts: sortBy(bodies, (b) => [b.order, 0]).map((b) => b.part), attachments: finish(found), error };
}

const SLICE_BYTES = 64 * 1024;

/** Waits for a part's stream to drain; rejects if it is (or gets) destroyed, e.g. by a failed spool. */
function writable(stream: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stream.destroyed) return reject(stream.errored ?? new Error('part stream closed'));
    const settle = (err?: Error | null) => {
      stream.off('drain', drained).off('close', closed);
      if (err) reject(err);
      else resolve();
    };
    const drained = () => settle();
    const closed = () => settle(stream.errored ?? new Error('part stream closed'));
    stream.on('drain', drained).on('close', closed);
  });
}

/** A part's decoded bytes; not stream/consumers' buffer(), which goes through a Blob (a tenth of a small message's walk). */
function collect(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    stream.once('error', reject);
    stream.once('close', () => {
      if (!stream.readableEnded) reject(stream.errored ?? new Error('part stream closed'));
    });
  });
}

/** Not stream.pipeline: its per-call AbortController costs more than the walk of a small message. */
async function feedInSlices(pieces: readonly Buffer[], splitter: Writable): Promise<void> {
  for (const piece of pieces) {
    for (let at = 0; at < piece.length; at += SLICE_BYTES) {
      if (!splitter.write(piece.subarray(at, at + SLICE_BYTES))) await writable(splitter);
    }
  }
  splitter.end();
}

/** Numbers the attachments in message order and gives every one a name. */
function finish(found: Found[]): WalkedAttachment[] {
  return sortBy(found.filter((f) => f.file), (f) => f.order).map((f, i) => {
    const subject = f.head ? embeddedSubject(f.head.bytes()) : undefined;
    const filename = safeFilename(f.name) ?? generatedFilename(i + 1, f.contentType, subject);
    return { filename, contentType: f.contentType, contentId: f.contentId, file: f.file! };
  });
}

function sortBy<T>(items: T[], key: (item: T) => readonly [number, number]): T[] {
  return [...items].sort((a, b) => key(a)[0] - key(b)[0] || key(a)[1] - key(b)[1]);
}

function ancestors(node: MimeNode, multipart: string): object[] {
  const found: object[] = [];
  for (let p = node.parentNode; p; p = p.parentNode) if (p.multipart === multipart) found.push(p);
  return found;
}

const MIME_TYPE = /^[!#$%&'*+.^_`|~0-9a-z-]+\/[!#$%&'*+.^_`|~0-9a-z-]+$/;

/**
 * A part's type as RFC 2045/2046 define the defaults: message/rfc822 for a part of a
 * multipart/digest without a Content-Type, text/plain for a missing type or one without a
 * subtype or that does not parse (`text`, `text; charset=utf-8`).
 */
function partType(node: MimeNode): string {
  const declared = node.headers ? node.headers.get('content-type').length > 0 : false;
  if (!declared && node.parentNode && node.parentNode.multipart === 'digest') return 'message/rfc822';
  const type = node.contentType || '';
  return MIME_TYPE.test(type) ? type : 'text/plain';
}

function contentId(node: MimeNode): string | undefined {
  const value = node.headers ? node.headers.getFirst('content-id') : '';
  return value.trim().replace(/^<|>$/g, '').trim() || undefined;
}

/** Keeps the first 64 KiB passing through: enough to read an embedded message's Subject. */
class HeadTap extends Transform {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.size < 64 * 1024) {
      this.chunks.push(chunk);
      this.size += chunk.length;
    }
    done(null, chunk);
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}
