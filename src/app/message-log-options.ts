/** The message log's settings as the accept path and the worker take them; undefined when the log is off. */
import type { Config } from '../config/schema.ts';
import type { MessageLogOptions } from '../store/message-log.ts';

export function messageLogOptions(config: Config): MessageLogOptions | undefined {
  return config.messageLog ? { retentionMs: config.messageLogRetention, maxRecords: config.messageLogMax } : undefined;
}
