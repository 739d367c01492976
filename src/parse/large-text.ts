/**
 * Body text too big to hold as a string (a 25 MB text/plain part): read from the spooled, decoded
 * bytes in slices, turned into UTF-8 text the way body text always is (charset, format=flowed,
 * LF line endings, no NUL, in that order as in mime-walk.ts), and written to a file of its own. The `text` and `html` fields are
 * then streamed from that file (body-text.ts, encode-form.ts), the HTML escape applied on the fly,
 * so a payload's memory stays a few slices whatever the part's size.
 *
 * Unlike small parts, a large part is not searched for uuencoded blocks (that needs the whole
 * text at once); it arrives as written.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import iconv from 'iconv-lite';
import libmime from 'libmime';
import { charsetKind, decodeText, withoutNul } from './charset.ts';

/** A body text part kept in a file: UTF-8, LF line endings. */
export interface LargeText {
  readonly kind: 'file';
  readonly path: string;
  /** Bytes in the file. */
  readonly size: number;
  /** How many of `& < > " '` it holds: each becomes five bytes in the HTML escape. */
  readonly specials: number;
  /** True when it holds nothing but whitespace (such a part adds nothing to `html`). */
  readonly blank: boolean;
}

/** Text parts whose decoded bytes pass this are handled as LargeText. */
export const LARGE_TEXT_BYTES = 1024 * 1024;

/** format=flowed is undone per run of lines that ends in a hard break; a run never exceeds this. */
const FLOWED_RUN_CHARS = 1024 * 1024;

interface TextDecoderLike {
  write(bytes: Buffer): string;
  end(): string;
}

/** Reads the decoded part at `source`, writes its text to `target`; `source` is removed. */
export async function spoolLargeText(
  source: string, target: string, options: { charset: string | false | undefined; flowed: boolean; delSp: boolean },
): Promise<LargeText> {
  const decoder = await streamDecoder(source, options.charset);
  const out = createWriteStream(target);
  // Kept, not thrown from the emitter: a write that fails (disk full) ends the walk as an error.
  let writeError: Error | undefined;
  out.on('error', (err) => { writeError ??= err; });
  let size = 0;
  let specials = 0;
  let blank = true;
  let pendingCr = false;
  let flowedRun = '';
  const emit = async (text: string) => {
    if (!text) return;
    const bytes = Buffer.from(text, 'utf8');
    size += bytes.length;
    specials += countSpecials(text);
    if (blank && /\S/.test(text)) blank = false;
    if (writeError) throw writeError;
    if (!out.write(bytes)) await once(out, 'drain');
    if (writeError) throw writeError;
  };
  const normalized = (text: string, last: boolean) => {
    // CRLF and lone CR become LF; a CR at a slice's end may be the first half of a CRLF.
    let t = (pendingCr ? '\r' : '') + text;
    pendingCr = !last && t.endsWith('\r');
    if (pendingCr) t = t.slice(0, -1);
    return withoutNul(t.replace(/\r\n?/g, '\n'));
  };
  let heldBreak = '';
  const flowed = (text: string, last: boolean) => {
    if (!options.flowed) return text;
    flowedRun += text;
    // decodeFlowed drops the line break that ends its input: the break that ends a run is held
    // back and sent only if more text follows, as decoding the whole text would.
    if (last) return flowedRun ? heldBreak + libmime.decodeFlowed(flowedRun, options.delSp) : '';
    // Up to the last hard line break (a line not ending in a space) the text decodes on its own.
    const cut = lastHardBreak(flowedRun);
    if (cut < 0 && flowedRun.length > FLOWED_RUN_CHARS) {
      // A paragraph longer than a run (pathological): cut after its last soft break, which the
      // stand-in line takes (and is removed again), so the break stays undone.
      const soft = flowedRun.lastIndexOf('\n') + 1 || flowedRun.length;
      const run = flowedRun.slice(0, soft);
      flowedRun = flowedRun.slice(soft);
      const decoded = heldBreak + (run.endsWith('\n') ? libmime.decodeFlowed(`${run}x`, options.delSp).slice(0, -1) : libmime.decodeFlowed(run, options.delSp));
      heldBreak = '';
      return decoded;
    }
    if (cut < 0) return '';
    const run = flowedRun.slice(0, cut);
    flowedRun = flowedRun.slice(cut);
    // A stand-in line after the run keeps its last line break, which is then held back.
    const decoded = heldBreak + libmime.decodeFlowed(`${run}x`, options.delSp).slice(0, -2);
    heldBreak = '\n';
    return decoded;
  };
  try {
    for await (const chunk of createReadStream(source, { highWaterMark: 64 * 1024 })) {
      await emit(normalized(flowed(decoder.write(chunk as Buffer), false), false));
    }
    await emit(normalized(flowed(decoder.end(), true), true));
    out.end();
    await finished(out);
  } catch (err) {
    out.destroy();
    throw err;
  } finally {
    await rm(source, { force: true });
  }
  return { kind: 'file', path: target, size, specials, blank };
}

/** Where the text up to and including the last hard line break ends, or -1. */
function lastHardBreak(text: string): number {
  for (let at = text.lastIndexOf('\n'); at > 0; at = text.lastIndexOf('\n', at - 1)) {
    const end = text[at - 1] === '\r' ? at - 1 : at;
    if (end === 0 || text[end - 1] !== ' ') return at + 1;
  }
  return -1;
}

function countSpecials(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 38 || c === 60 || c === 62 || c === 34 || c === 39) n++;
  }
  return n;
}

/** A streaming decoder that gives the same text as decodeText (charset.ts) on the whole. */
async function streamDecoder(source: string, label: string | false | undefined): Promise<TextDecoderLike> {
  const kind = charsetKind(label);
  const clean = (label || '').trim().replace(/^["']|["']$/g, '');
  const normalized = kind === 'known' ? libmime.normalizeCharset(clean) : '';
  if (kind === 'utf-8' || (kind === 'fallback' && (await isUtf8File(source)))) return textDecoder('utf-8');
  if (kind === 'fallback') return textDecoder('windows-1252');
  if (iconv.encodingExists(normalized)) {
    const d = iconv.getDecoder(normalized);
    return { write: (b) => d.write(b), end: () => d.end() ?? '' };
  }
  // A charset only libmime's whole-buffer path knows (ISO-2022-JP): decoded at the end, in one go.
  const chunks: Buffer[] = [];
  return { write: (b) => (chunks.push(b), ''), end: () => decodeText(Buffer.concat(chunks), label) };
}

function textDecoder(encoding: string): TextDecoderLike {
  const d = new TextDecoder(encoding);
  return { write: (b) => d.decode(b, { stream: true }), end: () => d.decode() };
}

async function isUtf8File(source: string): Promise<boolean> {
  const strict = new TextDecoder('utf-8', { fatal: true });
  try {
    for await (const chunk of createReadStream(source, { highWaterMark: 64 * 1024 })) strict.decode(chunk as Buffer, { stream: true });
    strict.decode();
    return true;
  } catch {
    return false;
  }
}

