/**
 * Streaming Content-Transfer-Encoding writers for raw-8bit.ts: bytes in, 7-bit lines out, with
 * no line break after the last line (mailsplit keeps the CRLF before a delimiter out of the body).
 * Pure; each holds at most one line.
 */

export interface LineEncoder {
  /** Encoded bytes for this input (may be empty while a line is incomplete). */
  write(input: Buffer): Buffer;
  /** The rest, at the end of the part. */
  end(): Buffer;
}

const HEX = '0123456789ABCDEF';
/** RFC 2045: a quoted-printable line is at most 76 characters, a soft break's `=` included. */
const QP_LINE = 76;

/** Quoted-printable (RFC 2045 6.7): line breaks (CRLF or LF) stay hard breaks, written CRLF. */
export class QuotedPrintableLines implements LineEncoder {
  private line = '';
  private pendingCr = false;

  write(input: Buffer): Buffer {
    let out = '';
    for (const byte of input) {
      if (this.pendingCr) {
        this.pendingCr = false;
        if (byte === 0x0a) {
          out += this.hardBreak();
          continue;
        }
        out += this.add('=0D');
      }
      if (byte === 0x0d) this.pendingCr = true;
      else if (byte === 0x0a) out += this.hardBreak();
      else out += this.add((byte >= 33 && byte <= 126 && byte !== 61) || byte === 32 || byte === 9 ? String.fromCharCode(byte) : `=${HEX[byte >> 4]}${HEX[byte & 15]}`);
    }
    return Buffer.from(out, 'latin1');
  }

  end(): Buffer {
    let out = this.pendingCr ? this.add('=0D') : '';
    this.pendingCr = false;
    out += this.lineEnd();
    return Buffer.from(out, 'latin1');
  }

  /** Adds a token to the line; a full line is cut with a soft break (spaces may precede it). */
  private add(token: string): string {
    if (this.line.length + token.length <= QP_LINE - 1) {
      this.line += token;
      return '';
    }
    const full = `${this.line}=\r\n`;
    this.line = token;
    return full;
  }

  private hardBreak(): string {
    return `${this.lineEnd()}\r\n`;
  }

  /** The line as it may end: a space or tab at the end of a line is encoded, else it would be lost. */
  private lineEnd(): string {
    let out = '';
    const last = this.line.at(-1);
    if (last === ' ' || last === '\t') {
      this.line = this.line.slice(0, -1);
      const token = last === ' ' ? '=20' : '=09';
      if (this.line.length + token.length > QP_LINE) {
        out += `${this.line}=\r\n`;
        this.line = '';
      }
      this.line += token;
    }
    out += this.line;
    this.line = '';
    return out;
  }
}

/** 57 bytes make one 76-character base64 line. */
const B64_LINE_BYTES = 57;

/** Base64 in 76-character lines. */
export class Base64Lines implements LineEncoder {
  private carry = Buffer.alloc(0);
  private started = false;

  write(input: Buffer): Buffer {
    const data = this.carry.length ? Buffer.concat([this.carry, input]) : input;
    const whole = data.length - (data.length % B64_LINE_BYTES);
    let out = '';
    for (let at = 0; at < whole; at += B64_LINE_BYTES) out += this.line(data.subarray(at, at + B64_LINE_BYTES));
    this.carry = Buffer.from(data.subarray(whole));
    return Buffer.from(out, 'latin1');
  }

  end(): Buffer {
    const out = this.carry.length ? this.line(this.carry) : '';
    this.carry = Buffer.alloc(0);
    return Buffer.from(out, 'latin1');
  }

  private line(bytes: Buffer): string {
    const line = `${this.started ? '\r\n' : ''}${bytes.toString('base64')}`;
    this.started = true;
    return line;
  }
}
