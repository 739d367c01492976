/**
 * Message-log queries, newest first, with a cursor: the index is picked from state / hostname
 * (else the time index), and filters no index covers are checked on at most `scanLimit`
 * candidates per call, so a page view is bounded work whatever the log holds.
 */
import type { Redis } from './redis-client.ts';
import { matchesFilter, type LoggedMessage, type MessageFilter } from '../domain/message-log.ts';
import type { KeySpace } from './keys.ts';
import { decodeRecord, INDEXED_STATES, logKeys } from './message-log.ts';

export interface MessagePage {
  readonly result: LoggedMessage[];
  /** The index score of each of `result` (its place, with its id: mergeMessagePages). */
  readonly scores: number[];
  /** Pass back as `cursor` to continue; null when the index is exhausted. */
  readonly nextCursor: string | null;
}

/** `decode`: header values as shown (encoded-words decoded), supplied by the caller. */
export async function listLoggedMessages(
  redis: Redis, keys: KeySpace, filter: MessageFilter,
  options: { limit: number; cursor?: string | undefined; scanLimit?: number; decode?: (header: string) => string },
): Promise<MessagePage> {
  const k = logKeys(keys);
  const index = filter.state && (INDEXED_STATES as readonly string[]).includes(filter.state) ? k.stateIndex(filter.state)
    : filter.hostname ? k.hostIndex(filter.hostname) : k.index;
  const decode = options.decode ?? ((h: string) => h);
  const scanLimit = options.scanLimit ?? 1000;
  // Cursor: "<score>:<member>" of the last candidate examined; continue strictly below it.
  let [maxScore, afterMember] = options.cursor ? splitCursor(options.cursor) : [filter.until ?? Infinity, undefined];
  if (filter.until !== undefined && maxScore > filter.until) maxScore = filter.until;
  const min = filter.since ?? -Infinity;
  const result: LoggedMessage[] = [];
  const scores: number[] = [];
  let scanned = 0;
  let last: [number, string] | undefined;
  let exhausted = false;
  let tieOffset = 0;
  let leftover = false;
  // When the index answers the whole filter, a page reads its own length (and one more, to know
  // whether there is a next page); otherwise candidates are read 200 at a time.
  const covered = !filter.recipient && !filter.sender && !filter.subjectWords?.length && (index !== k.stateIndex(filter.state ?? '') || !filter.hostname)
    && (filter.state === undefined || index !== k.index);
  while (result.length < options.limit && scanned < scanLimit) {
    const batch = Math.min(covered ? options.limit + 1 : 200, 200, scanLimit - scanned);
    const rows = await redis.zrevrangebyscore(index, String(maxScore), String(min), 'WITHSCORES', 'LIMIT', tieOffset, batch);
    const ids: [string, number][] = [];
    for (let i = 0; i < rows.length; i += 2) {
      const score = Number(rows[i + 1]);
      if (afterMember !== undefined && score === maxScore && rows[i] >= afterMember) continue;
      ids.push([rows[i], score]);
    }
    if (rows.length < batch * 2) exhausted = true;
    if (!ids.length) {
      if (exhausted) break;
      tieOffset += batch; // a batch of ties at the cursor's score, all already seen
      continue;
    }
    tieOffset = 0;
    const pipe = redis.pipeline();
    for (const [id] of ids) pipe.hgetall(k.record(id));
    const records = (await pipe.exec()) ?? [];
    for (let i = 0; i < ids.length; i++) {
      scanned++;
      last = [ids[i][1], ids[i][0]];
      const message = decodeRecord((records[i]?.[1] ?? {}) as Record<string, string>);
      if (message && matchesFilter(message, { from: decode(message.record.from ?? ''), subject: decode(message.record.subject ?? '') }, filter)) {
        result.push(message);
        scores.push(ids[i][1]);
        if (result.length === options.limit) {
          leftover = i < ids.length - 1;
          break;
        }
      }
    }
    [maxScore, afterMember] = last!;
    if (exhausted) break;
  }
  const more = !exhausted || leftover;
  return { result, scores, nextCursor: last && more ? `${last[0]}:${last[1]}` : null };
}

type Place = readonly [score: number, id: string];
/** Whether `a` comes before `b` newest first (score, then id, both descending: the index's order). */
const before = (a: Place, b: Place) => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);

/**
 * One page out of every shard's page of the same query (and cursor), newest first. A shard that
 * stopped early (its page full, or its scan limit) has seen everything from where it stopped up;
 * past the newest such place another shard may not have looked yet, so the page ends there and
 * the next one starts below it. Nothing is skipped, nothing shown twice.
 */
export function mergeMessagePages(pages: readonly MessagePage[], limit: number): MessagePage {
  if (pages.length === 1) return pages[0]!;
  let bound: Place | undefined;
  for (const page of pages) {
    if (page.nextCursor === null) continue;
    const place = splitCursor(page.nextCursor);
    if (!bound || before(place, bound)) bound = place;
  }
  const items = pages.flatMap((page) => page.result.map((message, i) => ({ message, place: [page.scores[i]!, message.record.id] as Place })))
    .filter((item) => !bound || !before(bound, item.place))
    .sort((a, b) => (before(a.place, b.place) ? -1 : before(b.place, a.place) ? 1 : 0));
  const kept = items.slice(0, limit);
  const last = kept.length > 0 && items.length > limit ? kept[kept.length - 1]!.place : bound;
  return { result: kept.map((i) => i.message), scores: kept.map((i) => i.place[0]), nextCursor: last ? `${last[0]}:${last[1]}` : null };
}

function splitCursor(cursor: string): [number, string] {
  const colon = cursor.indexOf(':');
  const score = Number(cursor.slice(0, colon));
  if (colon <= 0 || !Number.isFinite(score)) throw new Error('bad cursor');
  return [score, cursor.slice(colon + 1)];
}

/** Whether a cursor has the shape listLoggedMessages makes (for a precise 400). */
export function isValidCursor(cursor: string): boolean {
  return /^\d{1,16}:[0-9a-z]{1,64}$/.test(cursor);
}
