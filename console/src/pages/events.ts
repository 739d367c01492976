/** Event webhook: destinations listed, created (their secret shown once), enabled or disabled, deleted. */
import { api, enc } from '../api.ts';
import { clear, field, formatTime, h, say, table } from '../dom.ts';

const EVENT_SETTINGS = '/v3/user/webhooks/event/settings';
const EVENTS = ['received', 'delivered', 'deferred', 'dead_lettered', 'replayed', 'redelivered', 'refused', 'route_circuit_open', 'route_circuit_closed'];

interface Destination {
  readonly id: string;
  readonly url: string;
  readonly enabled: boolean;
  readonly events: string[];
  readonly created_at: string;
  readonly backlog: number;
}

export async function renderEvents(main: HTMLElement): Promise<void> {
  const list = h('div');
  main.append(
    h('h1', {}, 'Event webhook'),
    h('p', {}, 'Destinations get signed JSON batches of what happened to every message (docs/events.md).'),
    createForm(() => void draw()), list,
  );
  const draw = async () => {
    const { result } = await api.get<{ result: Destination[] }>(EVENT_SETTINGS);
    clear(list);
    if (!result.length) {
      list.append(h('p', {}, 'No event destinations yet. Create one above.'));
      return;
    }
    list.append(table('Event destinations', ['URL', 'State', 'Events', 'Waiting', 'Created', 'Actions'], result.map((d) => [
      h('code', {}, d.url),
      d.enabled ? 'enabled' : 'disabled',
      d.events.length === EVENTS.length ? 'all' : d.events.join(', '),
      String(d.backlog),
      formatTime(d.created_at),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => {
          api.patch(`${EVENT_SETTINGS}/${enc(d.id)}`, { enabled: !d.enabled }).then(() => { say(`${d.url} ${d.enabled ? 'disabled' : 'enabled'}.`); void draw(); }, (err: Error) => say(err.message, 'error'));
        } }, `${d.enabled ? 'Disable' : 'Enable'} ${d.id}`),
        h('button', { type: 'button', class: 'danger', onclick: () => {
          if (!confirm(`Delete the event destination ${d.url}? Its unsent batches are dropped.`)) return;
          api.del(`${EVENT_SETTINGS}/${enc(d.id)}`).then(() => { say('Event destination deleted.'); void draw(); }, (err: Error) => say(err.message, 'error'));
        } }, `Delete ${d.id}`)),
    ])));
  };
  await draw();
}

function createForm(done: () => void): HTMLElement {
  const url = h('input', { name: 'url', type: 'url', required: true, placeholder: 'https://ops.example.com/mxhook-events' });
  const enabled = h('input', { type: 'checkbox', name: 'enabled', checked: true });
  const boxes = EVENTS.map((name) => h('input', { type: 'checkbox', name: 'events', value: name, checked: true }));
  const shown = h('div', { class: 'secret-once' });
  const form = h('form', { class: 'inline-form', 'aria-labelledby': 'create-destination' },
    h('h2', { id: 'create-destination' }, 'Add an event destination'),
    field('URL', url, 'Where batches of events are POSTed as JSON.'),
    h('fieldset', {}, h('legend', {}, 'Events'), ...boxes.map((box) => field(box.value, box))),
    field('Enabled', enabled),
    h('button', { type: 'submit' }, 'Add destination'),
    shown,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    api.post<Destination & { signing_secret: string }>(EVENT_SETTINGS, {
      url: url.value.trim(), enabled: enabled.checked, events: boxes.filter((b) => b.checked).map((b) => b.value),
    }).then((created) => {
      say(`Event destination ${created.url} added.`);
      clear(shown);
      shown.append(h('div', { class: 'notice', role: 'alert' },
        h('p', {}, 'Signing secret (Standard Webhooks; shown once; store it now):'),
        h('code', { class: 'secret' }, created.signing_secret)));
      form.reset();
      done();
    }, (err: Error) => say(`Could not add the destination: ${err.message}`, 'error'));
  });
  return form;
}
