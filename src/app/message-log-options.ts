/** The message log's settings as the accept path and the worker take them; undefined when the log is off. */
import type { Config } from '../config/schema.ts';
import type { MessageLogOptions } from '../store/message-log.ts';

/** Each shard keeps its own log, so each gets its share of MXHOOK_MESSAGE_LOG_MAX. */
export function messageLogOptions(config: Config): MessageLogOptions | undefined {
  return config.messageLog ? { retentionMs: config.messageLogRetention, maxRecords: Math.ceil(config.messageLogMax / config.shards) } : undefined;
}

/** MXHOOK_RAW_RETENTION_MAX_BYTES split over the shards (each keeps its own kept copies' total). */
export function rawBytesPerShard(config: Config): number {
  return Math.ceil(config.rawRetentionMaxBytes / config.shards);
}
