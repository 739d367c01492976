/**
 * The overview's figures: what the message log counts per minute (received, delivered, failed
 * attempts, per route, a latency histogram), and how the minutes of a window fold into the
 * answer of GET .../overview. Pure: the store's scripts write what these functions name.
 */

/** Latency buckets per power of ten (each bucket's upper bound is 10^(1/8) ≈ 1.33 times the last). */
export const LATENCY_BUCKETS_PER_DECADE = 8;
/** Bucket 0 holds up to 1 ms; the last one, 10^(72/8) ms ≈ 11.6 days, everything longer too. */
export const LATENCY_LAST_BUCKET = 72;

/** The histogram bucket of a receipt-to-delivered time: 0 for ≤ 1 ms, then i for (10^((i-1)/8), 10^(i/8)] ms. */
export function latencyBucket(ms: number): number {
  if (!(ms > 1)) return 0;
  // The small epsilon keeps exact powers (10 ms, 1 s) in their own bucket despite float error.
  const i = Math.ceil(LATENCY_BUCKETS_PER_DECADE * Math.log10(ms) - 1e-9);
  return Math.min(LATENCY_LAST_BUCKET, Math.max(1, i));
}

/** The [lower, upper] ms of bucket i. */
export function latencyBucketBounds(i: number): [number, number] {
  const upper = 10 ** (i / LATENCY_BUCKETS_PER_DECADE);
  return [i === 0 ? 0 : 10 ** ((i - 1) / LATENCY_BUCKETS_PER_DECADE), upper];
}

/**
 * The q-quantile (0..1) of a histogram {bucket: count}, interpolated inside its bucket (so off by
 * at most a bucket's width, a third); null when the histogram is empty.
 */
export function percentileFromHistogram(histogram: Readonly<Record<number, number>>, q: number): number | null {
  const buckets = Object.entries(histogram).map(([i, n]) => [Number(i), n] as const).filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]);
  const total = buckets.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) return null;
  const rank = Math.min(1, Math.max(0, q)) * total;
  let below = 0;
  for (const [i, n] of buckets) {
    if (below + n >= rank) {
      const [lower, upper] = latencyBucketBounds(i);
      return Math.round(lower + (upper - lower) * ((rank - below) / n));
    }
    below += n;
  }
  return Math.round(latencyBucketBounds(buckets.at(-1)![0])[1]);
}

/**
 * Field names of a minute's hash (store/message-log.ts writes them): `r` messages received,
 * `d` deliveries delivered, `f` failed attempts, `l.{bucket}` delivered per latency bucket,
 * `hd.{hostname}` / `hf.{hostname}` delivered / failed attempts of a route (`*`: past the cap),
 * `n.hd.` / `n.hf.` how many hostnames each kind holds (for the cap; not read back).
 */
export const MINUTE_FIELDS = { received: 'r', delivered: 'd', failed: 'f', latency: 'l.', routeDelivered: 'hd.', routeFailed: 'hf.' } as const;
/** Hostnames past this many per minute are counted together as `*` (bounds each minute's hash). */
export const MINUTE_HOSTNAMES_MAX = 1000;
/** How long a minute's figures (and refusal counts) are kept, s: the overview's longest window (2 h) and some slack. */
export const MINUTE_FIGURES_TTL_S = 2 * 3600 + 600;

export interface MinuteFigures {
  /** Minute number: ms since the epoch / 60,000. */
  readonly slot: number;
  readonly received: number;
  readonly delivered: number;
  readonly failed: number;
  readonly latency: Readonly<Record<number, number>>;
  readonly routes: Readonly<Record<string, { readonly delivered: number; readonly failed: number }>>;
}

/** A minute's hash as read back (a missing hash is a minute with nothing in it). */
export function decodeMinute(slot: number, fields: Readonly<Record<string, string>>): MinuteFigures {
  const f = MINUTE_FIELDS;
  const latency: Record<number, number> = {};
  const routes: Record<string, { delivered: number; failed: number }> = {};
  for (const [name, value] of Object.entries(fields)) {
    const n = Number(value) || 0;
    if (name.startsWith(f.latency)) latency[Number(name.slice(f.latency.length))] = n;
    else if (name.startsWith(f.routeDelivered)) (routes[name.slice(f.routeDelivered.length)] ??= { delivered: 0, failed: 0 }).delivered += n;
    else if (name.startsWith(f.routeFailed)) (routes[name.slice(f.routeFailed.length)] ??= { delivered: 0, failed: 0 }).failed += n;
  }
  return { slot, received: Number(fields[f.received] ?? 0), delivered: Number(fields[f.delivered] ?? 0), failed: Number(fields[f.failed] ?? 0), latency, routes };
}

export interface OverviewAnswer {
  readonly window_minutes: number;
  /** Oldest first; `t` is the minute's start, seconds since the epoch. */
  readonly minutes: readonly { t: number; received: number; delivered: number; failed: number }[];
  readonly latency_ms: { p50: number | null; p99: number | null };
  readonly queue: Readonly<Record<string, number>>;
  readonly refusals: readonly { reason: string; hostname: string; count: number }[];
  readonly routes: readonly { hostname: string; delivered: number; failed: number; error_rate: number }[];
}

/** Most routes and refusal rows in an answer (the worst first). */
export const OVERVIEW_ROWS_MAX = 100;

/**
 * The answer for the `window` minutes ending with minute `lastSlot`: one row per minute (empty
 * minutes as zeros), latency percentiles over the whole window, routes by error rate, refusals
 * (`reason|hostname` counts, store/message-log-retention.ts) by count.
 */
export function foldOverview(input: {
  readonly window: number; readonly lastSlot: number; readonly minutes: readonly MinuteFigures[];
  readonly queue: Readonly<Record<string, number>>; readonly refusals: Readonly<Record<string, number>>;
}): OverviewAnswer {
  const bySlot = new Map(input.minutes.map((m) => [m.slot, m]));
  const minutes = [];
  const latency: Record<number, number> = {};
  const routes = new Map<string, { delivered: number; failed: number }>();
  for (let slot = input.lastSlot - input.window + 1; slot <= input.lastSlot; slot++) {
    const m = bySlot.get(slot);
    minutes.push({ t: slot * 60, received: m?.received ?? 0, delivered: m?.delivered ?? 0, failed: m?.failed ?? 0 });
    if (!m) continue;
    for (const [i, n] of Object.entries(m.latency)) latency[Number(i)] = (latency[Number(i)] ?? 0) + n;
    for (const [hostname, r] of Object.entries(m.routes)) {
      const sum = routes.get(hostname) ?? { delivered: 0, failed: 0 };
      sum.delivered += r.delivered;
      sum.failed += r.failed;
      routes.set(hostname, sum);
    }
  }
  const routeRows = [...routes].map(([hostname, r]) => ({ hostname, ...r, error_rate: r.failed / Math.max(1, r.delivered + r.failed) }))
    .sort((a, b) => b.error_rate - a.error_rate || (b.delivered + b.failed) - (a.delivered + a.failed) || a.hostname.localeCompare(b.hostname))
    .slice(0, OVERVIEW_ROWS_MAX);
  const refusals = Object.entries(input.refusals).map(([field, count]) => ({ ...parseRefusalField(field), count })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason) || a.hostname.localeCompare(b.hostname)).slice(0, OVERVIEW_ROWS_MAX);
  return {
    window_minutes: input.window, minutes,
    latency_ms: { p50: percentileFromHistogram(latency, 0.5), p99: percentileFromHistogram(latency, 0.99) },
    queue: input.queue, refusals, routes: routeRows,
  };
}

/**
 * SMTP refusals are counted per `reason|hostname` field (hostname empty when there is none, `*`
 * for the pairs past a bucket's cap): the store writes it, the overview and `refused` events read it.
 */
export function refusalField(reason: string, hostname: string | undefined): string {
  return `${reason}|${hostname ?? ''}`;
}

/** The reason and hostname ('' when none) of a refusal count's field. */
export function parseRefusalField(field: string): { reason: string; hostname: string } {
  const bar = field.indexOf('|');
  return bar < 0 ? { reason: field, hostname: '' } : { reason: field.slice(0, bar), hostname: field.slice(bar + 1) };
}
