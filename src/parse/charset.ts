/**
 * Turning bytes in a declared (or undeclared) charset into UTF-8 text, the same way for bodies,
 * encoded-words and raw 8-bit headers. Pure.
 *
 * Known charsets go through libmime (iconv-lite plus encoding-japanese for ISO-2022-JP/EUC-JP).
 * The fallback, for a missing label, us-ascii with 8-bit bytes, or a label nobody knows: UTF-8 when
 * the bytes are valid UTF-8 (what unlabelled 8-bit mail mostly is today), else Windows-1252 (what
 * browsers assume for unlabelled legacy text; it maps every byte, so nothing is lost or crashes).
 * UTF-7 is never decoded: `+ADw-script+AD4-` would become `<script>` past filters that look for `<`.
 */
import { isUtf8 } from 'node:buffer';
import iconv from 'iconv-lite';
import libmime from 'libmime';
import { decode as libmimeDecode } from 'libmime/lib/charset.js';

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const utf8Lenient = new TextDecoder('utf-8');
const windows1252 = new TextDecoder('windows-1252');

const JAPANESE = /^jis|^iso-?2022-?jp|^euc-?jp/i;
const REFUSED = /^(?:(?:cs)?unicode11)?utf7(?:imap)?$|^base64$|^hex$/;
const UTF8 = /^utf-?8$/i;
const ASCII = /^(?:us-?)?ascii$|^ansi_x3\.4-1968$|^7bit$/i;

/** A charset label as written, without surrounding whitespace or quotes. */
const cleanLabel = (label: string | false | undefined) => (label || '').trim().replace(/^["']|["']$/g, '');
const isRefused = (name: string) => REFUSED.test(name.toLowerCase().replace(/[^a-z0-9]/g, ''));

/** How a label will be read: `utf-8`, `fallback` (see above), or a charset libmime decodes. */
export function charsetKind(label: string | false | undefined): 'utf-8' | 'fallback' | 'known' {
  const name = cleanLabel(label);
  if (!name || ASCII.test(name) || isRefused(name)) return 'fallback';
  if (UTF8.test(name)) return 'utf-8';
  if (JAPANESE.test(name)) return 'known';
  const normalized = libmime.normalizeCharset(name);
  if (UTF8.test(normalized)) return 'utf-8';
  return iconv.encodingExists(normalized) && !isRefused(normalized) ? 'known' : 'fallback';
}

/** Valid UTF-8 as UTF-8, anything else as Windows-1252. */
function decodeFallback(bytes: Uint8Array): string {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return windows1252.decode(bytes);
  }
}

/** Decodes a body or header in the charset it declares; see the module comment for the rest. */
export function decodeText(bytes: Buffer, label: string | false | undefined): string {
  switch (charsetKind(label)) {
    case 'utf-8':
      // Mislabelled bytes get U+FFFD, as every mail client shows them; a BOM is not text.
      return utf8Lenient.decode(bytes);
    case 'known':
      return libmimeDecode(bytes, cleanLabel(label));
    default:
      return decodeFallback(bytes);
  }
}

/**
 * libmime's encoded-word decoder with our fallback for unknown charsets (libmime would read them
 * as UTF-8 and lose non-UTF-8 bytes to U+FFFD). Decoding as ISO-8859-1 first gives back the
 * exact bytes, one character per byte.
 */
class FallbackLibmime extends libmime.Libmime {
  override decodeWord(charset: string, encoding: string, str: string): string {
    const label = charset.split('*')[0];
    if (charsetKind(label) !== 'fallback') return super.decodeWord(charset, encoding, str);
    return decodeFallback(Buffer.from(super.decodeWord('iso-8859-1', encoding, str), 'latin1'));
  }
}
const words = new FallbackLibmime();

/** Decodes RFC 2047 encoded-words; malformed words are left as they are. */
export function decodeWords(value: string): string {
  try {
    return words.decodeWords(value);
  } catch {
    return value;
  }
}

/**
 * Raw header bytes as text: UTF-8 when valid (SMTPUTF8 mail), else the message's own charset when
 * it names one (Japanese and Russian mailers write raw Shift_JIS or KOI8-R headers), else the
 * fallback. `hint` is that charset, from the message's Content-Type.
 */
export function headerText(bytes: Buffer, hint?: string | false): string {
  return hint && charsetKind(hint) === 'known' && !isUtf8(bytes) ? decodeText(bytes, hint) : decodeFallback(bytes);
}

/** Removes NUL characters, which many apps and databases cannot store in a text field. */
export function withoutNul(text: string): string {
  return text.includes('\0') ? text.replace(/\0/g, '') : text;
}
