/**
 * The Redis side of MessageStage (domain/message.ts): a large message's bytes are APPENDed to a
 * staging key while they arrive; storing the message (queue/delivery-queue.ts) renames it to the
 * raw key in the same MULTI as its jobs, so a message exists whole or not at all. A staging key
 * left by a crash expires: each append pushes its expiry an hour ahead.
 */
import { Readable } from 'node:stream';
import type { Redis } from './redis-client.ts';
import type { MessageStage, StageMessage } from '../domain/message.ts';
import type { KeySpace } from './keys.ts';
import { execOrThrow, readInPieces } from './messages.ts';

const STAGING_TTL_SECONDS = 3600;
/** Piece size when a staged message is read back (the authentication checks). */
const READ_PIECE = 1024 * 1024;

export function createMessageStager(redis: Redis, keys: KeySpace): StageMessage {
  return (messageId: string): MessageStage => {
    const key = keys.messageStaging(messageId);
    return {
      async append(bytes) {
        await execOrThrow(redis.multi().append(key, bytes).expire(key, STAGING_TTL_SECONDS));
      },
      read(offset) {
        return Readable.from(readInPieces(redis, key, offset, READ_PIECE));
      },
      async discard() {
        await redis.del(key);
      },
    };
  };
}
