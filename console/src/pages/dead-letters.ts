/** Dead letters: list, inspect, replay or purge one, the selected ones, or all of a route's. */
import { BASE, api, enc } from '../api.ts';
import { clear, field, formatTime, h, say, table } from '../dom.ts';

interface DeadLetter {
  readonly deliveryId: string;
  readonly messageId: string;
  readonly hostname: string;
  readonly reason: string;
  readonly diedAt: string;
  readonly receivedAt: string;
  readonly mailFrom: string;
  readonly recipients: readonly string[];
  readonly attempts: readonly { attempt: number; at: string; outcome: string; status?: number; durationMs?: number; reason?: string }[];
}

const PAGE = 50;

export async function renderDeadLetters(main: HTMLElement): Promise<void> {
  const hostname = h('input', { name: 'hostname', autocomplete: 'off' });
  const filter = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter dead letters' },
    field('Hostname', hostname, 'Leave empty for every route.'), h('button', { type: 'submit' }, 'Show'));
  const list = h('div');
  const detail = h('section', { class: 'detail', 'aria-live': 'polite' });
  main.append(h('h1', {}, 'Dead letters'),
    h('p', {}, 'Deliveries that failed for good keep their message here until the retention time; replay sends them again.'),
    filter, list, detail);
  let offset = 0;
  const selected = new Set<string>();

  const draw = async () => {
    const host = hostname.value.trim();
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
    if (host) params.set('hostname', host);
    const page = await api.get<{ total: number; result: DeadLetter[] }>(`${BASE}/dead-letters?${params}`);
    clear(list);
    selected.clear();
    if (!page.result.length) {
      list.append(h('p', {}, 'No dead letters.'));
      return;
    }
    const bulk = (verb: 'replay' | 'purge') => async () => {
      if (!selected.size) return say('Select dead letters first.', 'error');
      if (verb === 'purge' && !confirm(`Purge ${selected.size} dead letters? Their messages are deleted.`)) return;
      let done = 0;
      for (const id of selected) {
        await (verb === 'replay' ? api.post(`${BASE}/dead-letters/${enc(id)}/replay`) : api.del(`${BASE}/dead-letters/${enc(id)}`))
          .then(() => { done++; }, (err: Error) => say(`${id}: ${err.message}`, 'error'));
      }
      say(`${verb === 'replay' ? 'Replayed' : 'Purged'} ${done} dead letters.`);
      await draw();
    };
    const routeWide = host
      ? h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => void api.post<{ replayed: unknown[] }>(`${BASE}/dead-letters/replay?hostname=${enc(host)}`)
          .then((r) => { say(`Replayed ${r.replayed.length} dead letters of ${host}.`); return draw(); }, (err: Error) => say(err.message, 'error')) }, `Replay all of ${host}`),
        h('button', { type: 'button', class: 'danger', onclick: () => {
          if (!confirm(`Purge every dead letter of ${host}?`)) return;
          void api.del<{ purged: number }>(`${BASE}/dead-letters?hostname=${enc(host)}`)
            .then((r) => { say(`Purged ${r.purged} dead letters of ${host}.`); return draw(); }, (err: Error) => say(err.message, 'error'));
        } }, `Purge all of ${host}`))
      : null;
    list.append(
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => void bulk('replay')() }, 'Replay selected'),
        h('button', { type: 'button', class: 'danger', onclick: () => void bulk('purge')() }, 'Purge selected')),
      routeWide ?? '',
      table(`Dead letters ${offset + 1}-${offset + page.result.length} of ${page.total}`, ['Select', 'Died', 'Route', 'Sender', 'Reason', 'Actions'], page.result.map((d) => {
        const box = h('input', { type: 'checkbox', 'aria-label': `Select ${d.deliveryId}`, onchange: (e: Event) => {
          if ((e.target as HTMLInputElement).checked) selected.add(d.deliveryId); else selected.delete(d.deliveryId);
        } });
        return [box, formatTime(d.diedAt), d.hostname, d.mailFrom, d.reason, h('div', { class: 'actions' },
          h('button', { type: 'button', 'aria-label': `Inspect ${d.deliveryId}`, onclick: () => void inspect(d.deliveryId, detail) }, 'Inspect'),
          h('button', { type: 'button', onclick: () => void api.post(`${BASE}/dead-letters/${enc(d.deliveryId)}/replay`)
            .then(() => { say(`Replayed ${d.deliveryId}.`); return draw(); }, (err: Error) => say(err.message, 'error')), 'aria-label': `Replay ${d.deliveryId}` }, 'Replay'),
          h('button', { type: 'button', class: 'danger', 'aria-label': `Purge ${d.deliveryId}`, onclick: () => {
            if (!confirm(`Purge ${d.deliveryId}?`)) return;
            void api.del(`${BASE}/dead-letters/${enc(d.deliveryId)}`).then(() => { say(`Purged ${d.deliveryId}.`); return draw(); }, (err: Error) => say(err.message, 'error'));
          } }, 'Purge'))];
      })),
      h('nav', { 'aria-label': 'Dead-letter pages', class: 'pager' },
        h('button', { type: 'button', disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); void draw(); } }, 'Newer'),
        h('button', { type: 'button', disabled: offset + PAGE >= page.total, onclick: () => { offset += PAGE; void draw(); } }, 'Older')),
    );
  };
  filter.addEventListener('submit', (event) => {
    event.preventDefault();
    offset = 0;
    draw().catch((err: Error) => say(err.message, 'error'));
  });
  await draw();
}

async function inspect(id: string, detail: HTMLElement): Promise<void> {
  const d = await api.get<DeadLetter>(`${BASE}/dead-letters/${enc(id)}`);
  clear(detail);
  detail.append(
    h('h2', { tabindex: '-1', id: 'dead-detail' }, `Dead letter ${d.deliveryId}`),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Reason'), h('dd', {}, d.reason), h('dt', {}, 'Received'), h('dd', {}, formatTime(d.receivedAt)),
      h('dt', {}, 'Died'), h('dd', {}, formatTime(d.diedAt)), h('dt', {}, 'Recipients'), h('dd', {}, d.recipients.join(', ')),
      h('dt', {}, 'Message'), h('dd', {}, h('a', { href: `#/messages/${enc(d.messageId)}` }, d.messageId))),
    table(`Attempts of ${d.deliveryId}`, ['#', 'Time', 'Outcome', 'Answer', 'Reason'], d.attempts.map((a) => [
      a.attempt, formatTime(a.at), a.outcome, a.status ? `HTTP ${a.status}` : '', a.reason ?? '',
    ])),
  );
  (detail.querySelector('#dead-detail') as HTMLElement).focus();
}
