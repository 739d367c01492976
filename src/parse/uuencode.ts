/**
 * uuencoded files inside plain text (`begin 644 name` ... `end`), as old mailers and some scanners
 * and gateways still send them: cut out of the text and delivered as attachments. A block that does
 * not decode cleanly is left in the text as it was. Pure.
 */

export interface UudecodedFile {
  readonly filename: string;
  readonly data: Buffer;
}

const BLOCK = /^begin(?:-base64)? [0-7]{3,4} ([^\n]+)\n([\s\S]*?)^end[ \t]*$\n?/gm;

/** Decodes the lines of one block; undefined when a line is not valid uuencoding. */
export function uudecodeLines(lines: readonly string[]): Buffer | undefined {
  const out: Buffer[] = [];
  for (const rawLine of lines) {
    // Trailing spaces are data (they encode zero bits); only the line break goes.
    const line = rawLine.replace(/\r$/, '');
    if (!line) continue;
    // Characters are 0x20..0x60 (backtick stands for zero); the first gives the byte count.
    if (!/^[\x20-\x60]+$/.test(line)) return undefined;
    const length = (line.charCodeAt(0) - 32) & 63;
    // Some transports drop trailing spaces: missing characters count as zero, as uudecode does.
    const encoded = line.slice(1).padEnd(Math.ceil(length / 3) * 4, ' ');
    const bytes = Buffer.alloc(Math.ceil(length / 3) * 3);
    const six = (i: number) => (encoded.charCodeAt(i) - 32) & 63;
    for (let i = 0, o = 0; o < bytes.length; i += 4, o += 3) {
      const [a, b, c, d] = [six(i), six(i + 1), six(i + 2), six(i + 3)];
      bytes[o] = (a << 2) | (b >> 4);
      bytes[o + 1] = ((b & 15) << 4) | (c >> 2);
      bytes[o + 2] = ((c & 3) << 6) | d;
    }
    out.push(bytes.subarray(0, length));
  }
  return Buffer.concat(out);
}

/** Finds uuencoded blocks in text (LF line endings), decodes them and removes them from the text. */
export function extractUuencoded(text: string): { text: string; files: UudecodedFile[] } {
  if (!text.includes('begin ')) return { text, files: [] };
  const files: UudecodedFile[] = [];
  const rest = text.replace(BLOCK, (block: string, name: string, body: string) => {
    const data = uudecodeLines(body.split('\n'));
    if (!data) return block;
    files.push({ filename: name.trim(), data });
    return '';
  });
  return { text: rest, files };
}

/** A whole part sent with Content-Transfer-Encoding: x-uuencode. */
export function uudecodePart(bytes: Buffer): { filename?: string; data: Buffer } {
  const text = bytes.toString('latin1').replace(/\r\n?/g, '\n');
  const match = /^begin [0-7]{3,4} ([^\n]+)\n([\s\S]*?)^end[ \t]*$/m.exec(text);
  const data = match ? uudecodeLines(match[2].split('\n')) : undefined;
  return data ? { filename: match![1].trim(), data } : { data: bytes };
}
