/** The beginning of a streamed text field, for what needs only its start (the preview, reply stripping). */
import { open } from 'node:fs/promises';
import type { TextPiece } from './payload.ts';

/** Most bytes read from one spooled piece, whatever `limit` asks. */
const PIECE_READ_MAX = 4 * 1024 * 1024;

/**
 * The first `limit` characters (at most) of a field made of pieces: strings as they are, spooled
 * files (UTF-8) read only that far, escaped for HTML when the piece says so, as the POST sends it.
 */
export async function readTextHead(pieces: readonly TextPiece[], limit: number): Promise<string> {
  let text = '';
  for (const piece of pieces) {
    if (text.length >= limit) break;
    if (typeof piece === 'string') {
      text += piece;
      continue;
    }
    const file = await open(piece.path);
    try {
      const buffer = Buffer.alloc(Math.min(piece.size, limit * 4, PIECE_READ_MAX));
      const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
      const chunk = buffer.subarray(0, bytesRead).toString('utf8');
      text += piece.escapeHtml ? chunk.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`) : chunk;
    } finally {
      await file.close();
    }
  }
  return text.slice(0, limit);
}
