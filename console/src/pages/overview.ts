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

export async function renderOverview(main: HTMLElement): Promise<() => void> {
  const body = h('div', { class: 'overview' });
  const updated = h('p', { class: 'muted' });
  main.append(h('h1', {}, 'Overview'), updated, body);
  const draw = async () => {
    const data = await api.get<Overview>(`${BASE}/overview`);
    clear(body);
    const labels = data.minutes.map((m) => clock(m.t));
    body.append(
      h('section', { 'aria-labelledby': 'ov-flow' }, h('h2', { id: 'ov-flow' }, `Mail, last ${data.window_minutes} minutes`),
        lineChart('Messages per minute', labels, [
          { label: 'received', values: data.minutes.map((m) => m.received), className: 's-in' },
          { label: 'delivered', values: data.minutes.map((m) => m.delivered), className: 's-ok' },
          { label: 'failed attempts', values: data.minutes.map((m) => m.failed), className: 's-bad' },
        ])),
      h('section', { 'aria-labelledby': 'ov-latency' }, h('h2', { id: 'ov-latency' }, 'Delivery latency'),
        barChart('Receipt to delivered, milliseconds', [
          { label: 'p50', value: data.latency_ms.p50 ?? 0 },
          { label: 'p99', value: data.latency_ms.p99 ?? 0 },
        ], ' ms')),
      h('section', { 'aria-labelledby': 'ov-queue' }, h('h2', { id: 'ov-queue' }, 'Queue'),
        barChart('Deliveries by state', Object.entries(data.queue).map(([label, value]) => ({ label, value })))),
      h('section', { 'aria-labelledby': 'ov-refusals' }, h('h2', { id: 'ov-refusals' }, 'SMTP refusals'),
        barChart('Refusals by reason and hostname', data.refusals.map((r) => ({ label: `${r.reason} ${r.hostname || ''}`.trim(), value: r.count })))),
      h('section', { 'aria-labelledby': 'ov-routes' }, h('h2', { id: 'ov-routes' }, 'Routes'),
        barChart('Failed attempts per route, percent', data.routes.map((r) => ({ label: r.hostname, value: Math.round(r.error_rate * 1000) / 10 })), '%')),
    );
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}; live.`;
  };
  await draw();
  return liveEvents(() => draw().catch(() => {}));
}
