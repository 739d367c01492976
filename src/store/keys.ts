/**
 * The Redis keys the pipeline's stages share, built from the configured prefix. Keys private to
 * one store module (attempt history, route stats, breakers, dead-letter indexes, signing secrets)
 * are built beside the code that owns them, from the same prefix.
 */

export interface KeySpace {
  readonly prefix: string;
  /** Hash: hostname -> ParseSetting JSON. */
  readonly routes: string;
  /** String: sha256 of the API key. */
  readonly apiKeyHash: string;
  /** String: the raw message bytes, `Received:` prepended. */
  messageRaw(messageId: string): string;
  /** Hash: `meta` (StoredMessageMeta JSON). */
  messageMeta(messageId: string): string;
  /** Set: ids of the message's deliveries not yet ended (delivered, dead-lettered or dropped). */
  messagePending(messageId: string): string;
  /** String: the first bytes of a large message still arriving (renamed to messageRaw when stored). */
  messageStaging(messageId: string): string;
  /** Sorted set of dead-letter ids, scored by the time they died. */
  readonly deadIndex: string;
  /** Hash: one dead letter's record. */
  deadLetter(deliveryId: string): string;
  /** String: the raw message a dead letter keeps. */
  deadLetterRaw(deliveryId: string): string;
  /** Hash: hostname -> messages received that UTC day. */
  receivedStats(day: string): string;
}

export function createKeySpace(prefix: string): KeySpace {
  return {
    prefix,
    routes: `${prefix}:routes`,
    apiKeyHash: `${prefix}:api-key-sha256`,
    messageRaw: (id) => `${prefix}:msg:${id}:raw`,
    messageMeta: (id) => `${prefix}:msg:${id}:meta`,
    messagePending: (id) => `${prefix}:msg:${id}:pending`,
    messageStaging: (id) => `${prefix}:msg:${id}:staging`,
    deadIndex: `${prefix}:dead`,
    deadLetter: (id) => `${prefix}:dead:${id}`,
    deadLetterRaw: (id) => `${prefix}:dead:${id}:raw`,
    receivedStats: (day) => `${prefix}:stats:received:${day}`,
  };
}
