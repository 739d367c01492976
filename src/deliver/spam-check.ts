/**
 * `spam_score` and `spam_report` for routes with spam_check, from spamd. Never holds mail back:
 * a message over 2.5 MB is not scanned (as SendGrid), and when spamd is down or too slow the POST
 * goes without the spam fields and a log line says so.
 */
import type { Logger } from 'pino';
import type { PayloadPart } from '../parse/payload.ts';
import { SPAM_SCAN_LIMIT_BYTES, spamdReport, type SpamdOptions } from '../parse/spamd.ts';

export async function spamCheckFields(raw: Buffer, options: SpamdOptions, log: Logger): Promise<PayloadPart[]> {
  if (raw.length > SPAM_SCAN_LIMIT_BYTES) {
    log.info({ event: 'spam_check_skipped', reason: `message over ${SPAM_SCAN_LIMIT_BYTES / 1024 / 1024} MB`, size: raw.length });
    return [];
  }
  const started = Date.now();
  try {
    const verdict = await spamdReport(raw, options);
    log.debug({ event: 'spam_checked', score: verdict.score, spam: verdict.isSpam, ms: Date.now() - started });
    return [{ name: 'spam_score', value: verdict.score }, { name: 'spam_report', value: verdict.report }];
  } catch (err) {
    log.warn({ event: 'spam_check_failed', err: String((err as Error).message ?? err), ms: Date.now() - started, message: 'delivering without spam_score/spam_report' });
    return [];
  }
}
