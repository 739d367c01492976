/** Overview: mail in and delivered per minute, latency, queue depth, refusals, per-route errors, live. */
import { BASE, api } from '../api.ts';
import { barChart, lineChart } from '../charts.ts';
import { clear, h } from '../dom.ts';
import { liveEvents } from './live.ts';

export interface Overview {
  readonly window_minutes: number;
  readonly minutes: readonly { t: number; received: number; delivered: number; failed: number }[];
  readonly latency_ms: { p50: number | null; p99: number | null };
  readonly queue: Record<string, number>;
  readonly refusals: readonly { reason: string; hostname: string; count: number }[];
  readonly routes: readonly { hostname: string; delivered: number; failed: number; error_rate: number }[];
}

const clock = (t: number) => new Date(t * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
/** Queue states in the order a delivery goes through them. */
const QUEUE_ORDER = ['waiting', 'active', 'delayed', 'failed'];
/** The minutes roll on even when no event comes. */
const REFRESH_MS = 30_000;

export async function renderOverview(main: HTMLElement): Promise<() => void> {
  const body = h('div', { class: 'overview' });
  const updated = h('p', { class: 'muted' });
  main.append(h('h1', {}, 'Overview'), updated, body);
  const draw = async () => {
    const data = await api.get<Overview>(`${BASE}/overview`);
    // A redraw keeps what the user was on: the focused chart and the open tables of numbers.
    const focused = document.activeElement && body.contains(document.activeElement) ? document.activeElement.id : '';
    const open = [...body.querySelectorAll('details[open]')].map((d) => d.id);
    clear(body);
    const labels = data.minutes.map((m) => clock(m.t));
    const { p50, p99 } = data.latency_ms;
    const queue = Object.entries(data.queue).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b));
    body.append(
      h('section', { 'aria-labelledby': 'ov-flow' }, h('h2', { id: 'ov-flow' }, `Mail, last ${data.window_minutes} minutes`),
        lineChart('Messages per minute', labels, [
          { label: 'received', values: data.minutes.map((m) => m.received), className: 's-in' },
          { label: 'delivered', values: data.minutes.map((m) => m.delivered), className: 's-ok' },
          { label: 'failed attempts', values: data.minutes.map((m) => m.failed), className: 's-bad' },
        ], '', 'chart-flow')),
      h('section', { 'aria-labelledby': 'ov-latency' }, h('h2', { id: 'ov-latency' }, 'Delivery latency'),
        barChart('Receipt to delivered, milliseconds', p50 === null && p99 === null ? [] : [
          { label: 'p50', value: p50 ?? 0 },
          { label: 'p99', value: p99 ?? 0 },
        ], ' ms', 'chart-latency')),
      h('section', { 'aria-labelledby': 'ov-queue' }, h('h2', { id: 'ov-queue' }, 'Queue'),
        barChart('Deliveries by state', queue.map(([label, value]) => ({ label, value })), '', 'chart-queue')),
      h('section', { 'aria-labelledby': 'ov-refusals' }, h('h2', { id: 'ov-refusals' }, 'SMTP refusals'),
        barChart('Refusals by reason and hostname', data.refusals.map((r) => ({ label: `${r.reason} ${r.hostname || ''}`.trim(), value: r.count })), '', 'chart-refusals')),
      h('section', { 'aria-labelledby': 'ov-routes' }, h('h2', { id: 'ov-routes' }, 'Routes'),
        barChart('Failed attempts per route, percent', data.routes.map((r) => ({ label: r.hostname, value: Math.round(r.error_rate * 1000) / 10 })), '%', 'chart-routes')),
    );
    for (const id of open) document.getElementById(id)?.setAttribute('open', '');
    if (focused) document.getElementById(focused)?.focus();
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}; live.`;
  };
  await draw();
  const redraw = () => void draw().catch(() => {
    updated.textContent = `Could not update at ${new Date().toLocaleTimeString()}; trying again.`;
  });
  // Events come per message; redraws at most every 2 s (live.ts), and twice a minute regardless.
  const stopLive = liveEvents(redraw, 2000);
  const timer = setInterval(redraw, REFRESH_MS);
  return () => {
    stopLive();
    clearInterval(timer);
  };
}

const rank = (state: string) => {
  const i = QUEUE_ORDER.indexOf(state);
  return i < 0 ? QUEUE_ORDER.length : i;
};
