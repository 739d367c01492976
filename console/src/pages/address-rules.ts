/**
 * A route's address rules on the Routes page: shown in the order they are tried, edited row by
 * row (match, action, URL; move up, remove, add) and saved as one PATCH of `address_rules`, so
 * the server's validation names the rule at fault.
 */
import { BASE, api, enc } from '../api.ts';
import { clear, h, say } from '../dom.ts';

export interface AddressRule {
  readonly match: string;
  readonly action: 'deliver' | 'drop';
  readonly url?: string;
}

interface Row {
  readonly match: HTMLInputElement;
  readonly action: HTMLSelectElement;
  readonly url: HTMLInputElement;
}

export function addressRulesEditor(hostname: string, initial: readonly AddressRule[], saved: () => void): HTMLElement {
  let rows: Row[] = [];
  const body = h('tbody');
  const makeRow = (rule: Partial<AddressRule>): Row => {
    const action = h('select', { name: 'action' },
      h('option', { value: 'deliver' }, 'deliver'), h('option', { value: 'drop' }, 'drop (550 at RCPT)'));
    action.value = rule.action ?? 'deliver';
    const url = h('input', { name: 'url', type: 'url', value: rule.url ?? '', placeholder: 'https://app.example.com/support' });
    const row: Row = { match: h('input', { name: 'match', value: rule.match ?? '', placeholder: 'support, support-* or reply+*', autocomplete: 'off' }), action, url };
    const sync = () => { url.disabled = action.value === 'drop'; };
    action.addEventListener('change', sync);
    sync();
    return row;
  };
  const draw = () => {
    clear(body);
    rows.forEach((row, i) => {
      const n = i + 1;
      row.match.setAttribute('aria-label', `Rule ${n} match`);
      row.action.setAttribute('aria-label', `Rule ${n} action`);
      row.url.setAttribute('aria-label', `Rule ${n} URL`);
      body.append(h('tr', {},
        h('td', {}, String(n)), h('td', {}, row.match), h('td', {}, row.action), h('td', {}, row.url),
        h('td', {}, h('div', { class: 'actions' },
          i > 0 ? h('button', { type: 'button', onclick: () => { rows.splice(i - 1, 2, rows[i]!, rows[i - 1]!); draw(); } }, `Move rule ${n} up`) : null,
          h('button', { type: 'button', class: 'danger', onclick: () => { rows.splice(i, 1); draw(); } }, `Remove rule ${n}`)))));
    });
    if (!rows.length) body.append(h('tr', {}, h('td', { colspan: 5 }, 'No rules: all mail to this hostname goes to its URL.')));
  };
  rows = initial.map(makeRow);
  draw();
  const form = h('form', { 'aria-labelledby': 'rules-h' },
    h('h3', { id: 'rules-h' }, 'Address rules'),
    h('p', {}, 'Tried in order by the recipient\'s local part; the first match wins and the route\'s URL takes the rest. "reply+*" posts the text after + as mailbox_hash.'),
    h('table', {},
      h('caption', {}, `Address rules of ${hostname}`),
      h('thead', {}, h('tr', {}, ...['#', 'Match', 'Action', 'URL', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
      body),
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => { rows.push(makeRow({})); draw(); rows.at(-1)!.match.focus(); } }, 'Add a rule'),
      h('button', { type: 'submit' }, 'Save rules')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const rules = rows.map((row) => (row.action.value === 'drop'
      ? { match: row.match.value.trim(), action: 'drop' }
      : { match: row.match.value.trim(), action: 'deliver', url: row.url.value.trim() }));
    api.patch(`${BASE}/settings/${enc(hostname)}`, { address_rules: rules })
      .then(() => { say('Address rules saved.'); saved(); }, (err: Error) => say(`Could not save the rules: ${err.message}`, 'error'));
  });
  return form;
}
