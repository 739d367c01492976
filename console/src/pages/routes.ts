/** Routes: list, create, edit, address rules, delete, signing secrets (a new one shown once), and a test mail. */
import { BASE, api, enc } from '../api.ts';
import { clear, field, formatTime, h, say, table } from '../dom.ts';
import type { MessageRecord } from './message.ts';
import { addressRulesEditor, type AddressRule } from './address-rules.ts';

interface Route {
  readonly hostname: string;
  readonly url: string;
  readonly spam_check: boolean;
  readonly send_raw: boolean;
  readonly sendgrid_signature?: boolean;
  readonly address_rules?: readonly AddressRule[];
  readonly payload_format?: 'json';
  readonly strip_replies?: boolean;
  readonly raw_8bit?: 'keep' | 'encode';
}

interface Secret { readonly id: string; readonly created_at?: string; readonly createdAt?: string }

export async function renderRoutes(main: HTMLElement): Promise<void> {
  const list = h('div');
  main.append(h('h1', {}, 'Routes'), createForm(() => void draw()), list);
  const draw = async () => {
    const { result } = await api.get<{ result: Route[] }>(`${BASE}/settings`);
    clear(list);
    if (!result.length) {
      list.append(h('p', {}, 'No routes yet. Create one above: mail to that hostname will be POSTed to its URL.'));
      return;
    }
    list.append(table('Routes', ['Hostname', 'URL', 'Options', 'Actions'], result.map((route) => [
      route.hostname,
      h('code', {}, route.url),
      [route.send_raw ? 'raw' : 'parsed', route.spam_check ? 'spam check' : '', route.sendgrid_signature ? 'SendGrid signature' : '', route.payload_format === 'json' ? 'JSON' : '',
        // Each only where it applies: reply text in parsed mode, 8-bit encoding in raw mode.
        !route.send_raw && route.strip_replies ? 'strip replies' : '', route.send_raw && route.raw_8bit === 'encode' ? '8-bit parts encoded' : '',
        route.address_rules?.length ? `${route.address_rules.length} address rule${route.address_rules.length === 1 ? '' : 's'}` : ''].filter(Boolean).join(', '),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => void openDetail(route, detail, () => void draw()) }, `Manage ${route.hostname}`)),
    ])));
    list.append(detail);
  };
  const detail = h('section', { class: 'detail', 'aria-live': 'polite' });
  await draw();
}

function createForm(done: () => void): HTMLElement {
  const hostname = h('input', { name: 'hostname', required: true, placeholder: 'parse.example.com', autocomplete: 'off' });
  const url = h('input', { name: 'url', type: 'url', required: true, placeholder: 'https://app.example.com/inbound' });
  const sendRaw = h('input', { type: 'checkbox', name: 'send_raw' });
  const spam = h('input', { type: 'checkbox', name: 'spam_check' });
  const options = replyAndRawOptions(sendRaw);
  const shown = h('div', { class: 'secret-once' });
  const form = h('form', { class: 'inline-form', 'aria-labelledby': 'create-route' },
    h('h2', { id: 'create-route' }, 'Create a route'),
    field('Hostname', hostname, 'The hostname your MX record points at mxhook.'),
    field('URL', url, 'Where parsed mail is POSTed.'),
    field('POST the raw message', sendRaw),
    field('Spam check', spam),
    ...options.fields,
    h('button', { type: 'submit' }, 'Create route'),
    shown,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    api.post<Route & { signing_secret: string }>(`${BASE}/settings`, {
      hostname: hostname.value.trim(), url: url.value.trim(), send_raw: sendRaw.checked, spam_check: spam.checked, ...options.values(),
    }).then((created) => {
      say(`Route ${created.hostname} created.`);
      clear(shown);
      shown.append(secretOnce(created.signing_secret));
      form.reset();
      options.sync();
      done();
    }, (err: Error) => say(`Could not create the route: ${err.message}`, 'error'));
  });
  return form;
}

/**
 * Strip replies (parsed mode only) and raw mode's 8-bit encoding, each enabled only in the mode it
 * applies to; both values are always sent, so a setting made through the API is never lost.
 */
function replyAndRawOptions(sendRaw: HTMLInputElement, route?: Route): { fields: HTMLElement[]; values: () => Record<string, unknown>; sync: () => void } {
  const strip = h('input', { type: 'checkbox', name: 'strip_replies', checked: route?.strip_replies === true });
  const raw8bit = h('select', { name: 'raw_8bit' },
    h('option', { value: 'keep' }, 'keep (byte for byte)'), h('option', { value: 'encode' }, 'encode as quoted-printable or base64'));
  raw8bit.value = route?.raw_8bit ?? 'keep';
  const sync = () => {
    strip.disabled = sendRaw.checked;
    raw8bit.disabled = !sendRaw.checked;
  };
  sendRaw.addEventListener('change', sync);
  sync();
  return {
    fields: [
      field('Strip replies', strip, 'Parsed mode: also post stripped_text, stripped_signature and stripped_html, the reply without the quoted message.'),
      field('Raw mode: 8-bit parts', raw8bit, 'Raw mode only: encoded, they reach Django and Flask apps ungarbled.'),
    ],
    values: () => ({ strip_replies: strip.checked, raw_8bit: raw8bit.value }),
    sync,
  };
}

function secretOnce(secret: string): HTMLElement {
  return h('div', { class: 'notice', role: 'alert' },
    h('p', {}, 'Signing secret (shown once; store it in your app now):'),
    h('code', { class: 'secret' }, secret));
}

async function openDetail(route: Route, detail: HTMLElement, changed: () => void): Promise<void> {
  clear(detail);
  const url = h('input', { name: 'url', type: 'url', required: true, value: route.url });
  const sendRaw = h('input', { type: 'checkbox', name: 'send_raw', checked: route.send_raw });
  const spam = h('input', { type: 'checkbox', name: 'spam_check', checked: route.spam_check });
  const format = h('select', { name: 'payload_format' }, h('option', { value: 'multipart' }, 'multipart/form-data (SendGrid\'s)'), h('option', { value: 'json' }, 'JSON'));
  format.value = route.payload_format ?? 'multipart';
  const options = replyAndRawOptions(sendRaw, route);
  const edit = h('form', { 'aria-labelledby': 'edit-route' },
    h('h3', { id: 'edit-route' }, 'Edit'),
    field('URL', url), field('POST the raw message', sendRaw), field('Spam check', spam), field('Payload format', format), ...options.fields,
    h('button', { type: 'submit' }, 'Save changes'));
  edit.addEventListener('submit', (event) => {
    event.preventDefault();
    api.patch(`${BASE}/settings/${enc(route.hostname)}`, { url: url.value.trim(), send_raw: sendRaw.checked, spam_check: spam.checked, payload_format: format.value, ...options.values() })
      .then(() => { say('Saved.'); changed(); }, (err: Error) => say(`Could not save: ${err.message}`, 'error'));
  });
  const secrets = h('div');
  const drawSecrets = async () => {
    const { result } = await api.get<{ result: Secret[] }>(`${BASE}/settings/${enc(route.hostname)}/secrets`);
    clear(secrets);
    secrets.append(table('Signing secrets', ['Id', 'Created', 'Actions'], result.map((s) => [
      h('code', {}, s.id), formatTime(s.created_at ?? s.createdAt),
      h('button', { type: 'button', class: 'danger', onclick: () => {
        if (!confirm(`Revoke secret ${s.id}? POSTs will no longer be signed with it.`)) return;
        api.del(`${BASE}/settings/${enc(route.hostname)}/secrets/${enc(s.id)}`).then(() => { say('Secret revoked.'); void drawSecrets(); }, (err: Error) => say(err.message, 'error'));
      } }, `Revoke ${s.id}`),
    ])));
  };
  const newSecret = h('div');
  const rotate = h('button', { type: 'button', onclick: () => {
    api.post<{ id: string; secret: string }>(`${BASE}/settings/${enc(route.hostname)}/secrets`).then((s) => {
      clear(newSecret);
      newSecret.append(secretOnce(s.secret));
      void drawSecrets();
    }, (err: Error) => say(err.message, 'error'));
  } }, 'Add a new secret (rotate)');
  const testResult = h('div', { class: 'test-result', 'aria-live': 'polite' });
  const testButton = h('button', { type: 'button', onclick: () => void sendTestMail(route.hostname, testResult, testButton) }, 'Send a test mail');
  const remove = h('button', { type: 'button', class: 'danger', onclick: () => {
    if (!confirm(`Delete the route ${route.hostname} and its secrets? Mail to it will be refused.`)) return;
    api.del(`${BASE}/settings/${enc(route.hostname)}`).then(() => { say(`Route ${route.hostname} deleted.`); clear(detail); changed(); }, (err: Error) => say(err.message, 'error'));
  } }, `Delete ${route.hostname}`);
  detail.append(
    h('h2', { id: 'route-detail', tabindex: '-1' }, route.hostname),
    edit,
    addressRulesEditor(route.hostname, route.address_rules ?? [], changed),
    h('section', { 'aria-labelledby': 'secrets-h' }, h('h3', { id: 'secrets-h' }, 'Signing secrets'), secrets, rotate, newSecret),
    h('section', { 'aria-labelledby': 'test-h' }, h('h3', { id: 'test-h' }, 'Test mail'),
      h('p', {}, 'Sends a sample message through mxhook\'s own SMTP listener to this route and shows what your app answered.'),
      testButton, testResult),
    h('section', { 'aria-labelledby': 'danger-h' }, h('h3', { id: 'danger-h' }, 'Delete'), remove),
  );
  await drawSecrets();
  (detail.querySelector('#route-detail') as HTMLElement).focus();
}

const ENDED = new Set(['delivered', 'dead-lettered']);

async function sendTestMail(hostname: string, out: HTMLElement, button: HTMLButtonElement): Promise<void> {
  clear(out);
  button.disabled = true;
  out.append(h('p', {}, 'Sending…'));
  try {
    const sent = await api.post<{ message_id: string }>(`${BASE}/settings/${enc(hostname)}/test`);
    // The delivery runs in a worker: follow the message until its first attempt has an answer.
    let record: MessageRecord | undefined;
    for (let i = 0; i < 60; i++) {
      record = await api.get<MessageRecord>(`${BASE}/messages/${enc(sent.message_id)}`).catch(() => undefined);
      const delivery = record?.deliveries[0];
      if (delivery && (ENDED.has(delivery.state) || delivery.state === 'retrying')) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    clear(out);
    const delivery = record?.deliveries[0];
    const attempt = delivery?.attempts.at(-1);
    const link = h('a', { href: `#/messages/${enc(sent.message_id)}` }, 'Open the test message');
    if (!delivery || !attempt) {
      out.append(h('p', {}, 'Accepted; no attempt has finished yet. ', link));
      return;
    }
    out.append(
      h('p', { class: delivery.state === 'delivered' ? 'ok' : 'error' },
        `Your app answered ${attempt.status ? `HTTP ${attempt.status}` : attempt.error ?? 'nothing'} in ${attempt.duration_ms} ms: ${delivery.state}.`),
      attempt.response ? h('pre', { class: 'excerpt' }, attempt.response) : '',
      h('p', {}, link),
    );
  } catch (err) {
    clear(out);
    out.append(h('p', { class: 'error' }, `Could not send the test mail: ${(err as Error).message}`));
  } finally {
    button.disabled = false;
  }
}
