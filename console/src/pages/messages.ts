/** Messages: the log, newest first, with filters and cursor paging; live while on the first page. */
import { BASE, api } from '../api.ts';
import { clear, field, formatBytes, formatTime, h, say, table } from '../dom.ts';
import { liveEvents } from './live.ts';
import { recipientsOf, type MessageRecord } from './message.ts';

const STATES = ['', 'queued', 'delivering', 'delivered', 'retrying', 'dead-lettered', 'replayed'];
const FILTERS = ['hostname', 'state', 'recipient', 'sender', 'subject', 'since', 'until'] as const;

export async function renderMessages(main: HTMLElement): Promise<() => void> {
  const inputs = {
    hostname: h('input', { name: 'hostname', autocomplete: 'off' }),
    state: h('select', { name: 'state' }, ...STATES.map((s) => h('option', { value: s }, s || 'any'))),
    recipient: h('input', { name: 'recipient', autocomplete: 'off' }),
    sender: h('input', { name: 'sender', autocomplete: 'off' }),
    subject: h('input', { name: 'subject', autocomplete: 'off' }),
    since: h('input', { name: 'since', type: 'datetime-local' }),
    until: h('input', { name: 'until', type: 'datetime-local' }),
  };
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter messages' },
    field('Hostname', inputs.hostname), field('State', inputs.state), field('Recipient', inputs.recipient),
    field('Sender', inputs.sender), field('Subject words', inputs.subject), field('Received after', inputs.since),
    field('Received before', inputs.until), h('button', { type: 'submit' }, 'Filter'));
  const results = h('div');
  const more = h('button', { type: 'button', hidden: true }, 'Load older messages');
  main.append(h('h1', {}, 'Messages'), form, results, more);

  let cursor: string | undefined;
  let rows: MessageRecord[] = [];
  const query = (from?: string) => {
    const params = new URLSearchParams();
    for (const name of FILTERS) {
      const value = inputs[name].value.trim();
      if (!value) continue;
      params.set(name, name === 'since' || name === 'until' ? new Date(value).toISOString() : value);
    }
    if (from) params.set('cursor', from);
    params.set('limit', '50');
    return `${BASE}/messages?${params}`;
  };
  const load = async (append: boolean) => {
    const page = await api.get<{ result: MessageRecord[]; next_cursor?: string | null }>(query(append ? cursor : undefined));
    rows = append ? [...rows, ...page.result] : page.result;
    cursor = page.next_cursor ?? undefined;
    more.hidden = !cursor;
    clear(results);
    if (!rows.length) {
      results.append(h('p', {}, 'No messages match.'));
      return;
    }
    results.append(table(`Messages (${rows.length} shown)`, ['Received', 'From', 'To', 'Subject', 'Size', 'Deliveries'], rows.map((m) => [
      formatTime(m.received_at),
      m.from || m.envelope.from || '(none)',
      recipientsOf(m).join(', '),
      h('a', { href: `#/messages/${encodeURIComponent(m.id)}` }, m.subject || '(no subject)'),
      formatBytes(m.size),
      (m.deliveries ?? []).map((d) => `${d.hostname}: ${d.state}`).join('; '),
    ])));
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    load(false).catch((err: Error) => say(`Could not filter: ${err.message}`, 'error'));
  });
  more.addEventListener('click', () => void load(true).catch((err: Error) => say(err.message, 'error')));
  await load(false);
  // Live only while the first page is shown: older pages stay put for reading.
  return liveEvents(() => { if (rows.length <= 50) void load(false).catch(() => {}); });
}
