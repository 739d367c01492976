/** A POST payload as a list of multipart parts, before it is encoded. */
import type { AuthVerdicts } from '../domain/auth.ts';
import type { Spooled } from './spool.ts';

export type PayloadPart =
  | { readonly name: string; readonly value: string }
  /** A text field sent as exact bytes (raw mode's `email`, which need not be valid UTF-8). */
  | { readonly name: string; readonly bytes: Buffer }
  | { readonly name: string; readonly filename: string; readonly contentType: string; readonly file: Spooled }
  /** A text field too big to hold as one string (a huge `text` or `html`): streamed from its pieces. */
  | { readonly name: string; readonly pieces: readonly TextPiece[] };

/** Part of a streamed text field: a string, or a UTF-8 file, HTML-escaped on the way when `escapeHtml`. */
export type TextPiece = string | { readonly path: string; readonly escapeHtml: boolean; readonly size: number };

/** A text field's bytes: the file pieces' `size` is what they send (escaped when escaped). */
export function piecesSize(pieces: readonly TextPiece[]): number {
  return pieces.reduce((n, p) => n + (typeof p === 'string' ? Buffer.byteLength(p) : p.size), 0);
}

export interface Payload {
  readonly parts: readonly PayloadPart[];
  /** Set when MIME parsing failed and the payload carries only what could be recovered. */
  readonly parseError?: string;
}

/** What the SMTP side recorded about the message, needed by both payload modes. */
export interface PayloadContext {
  readonly senderIp: string;
  readonly mailFrom: string;
  /** This route's recipients only. */
  readonly recipients: readonly string[];
  /** SPF/DKIM/DMARC/ARC verdicts from SMTP time (the SPF, dkim, auth fields); absent when not checked. */
  readonly auth?: AuthVerdicts | undefined;
}

export function envelopeJson(context: PayloadContext): string {
  return JSON.stringify({ to: context.recipients, from: context.mailFrom });
}
