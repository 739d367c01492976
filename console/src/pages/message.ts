/** One message: envelope, auth verdicts, what the app receives, every delivery's attempts, raw, redeliver. */
import { BASE, api, enc } from '../api.ts';
import { clear, formatBytes, formatTime, h, say, table } from '../dom.ts';

export interface AttemptRecord {
  readonly at: string;
  readonly duration_ms: number;
  readonly outcome: string;
  readonly status?: number | null;
  readonly error?: string | null;
  readonly response?: string | null;
  readonly bytes_sent?: number;
}

export interface DeliveryRecord {
  readonly id: string;
  readonly hostname: string;
  readonly state: string;
  readonly next_attempt_at?: string | null;
  readonly replayed_as?: string | null;
  /** Set when an address rule made the delivery. */
  readonly rule?: string;
  readonly url?: string | null;
  readonly recipients?: readonly string[];
  readonly attempts: readonly AttemptRecord[];
}

/** One message as the messages API answers it (src/api/messages.ts). */
export interface MessageRecord {
  readonly id: string;
  readonly received_at: string;
  readonly client_ip?: string;
  readonly helo?: string;
  readonly envelope: { readonly from: string; readonly to: Readonly<Record<string, readonly string[]>> };
  readonly from?: string;
  readonly subject?: string;
  readonly message_id?: string | null;
  readonly size?: number;
  readonly attachments?: number | null;
  readonly auth?: Record<string, string | undefined> | null;
  readonly spam_score?: number | null;
  readonly replay_of?: string | null;
  readonly deliveries: readonly DeliveryRecord[];
}

export const recipientsOf = (m: MessageRecord): string[] => Object.values(m.envelope.to).flat();

interface Preview {
  readonly payload_format: 'multipart' | 'json';
  readonly send_raw: boolean;
  readonly fields: Record<string, string>;
  readonly attachments: readonly { filename: string; type: string; size: number }[];
}

export async function renderMessage(main: HTMLElement, [id]: string[]): Promise<() => void> {
  const body = h('div');
  main.append(h('p', {}, h('a', { href: '#/messages' }, 'Back to messages')), body);
  const draw = async () => {
    const m = await api.get<MessageRecord>(`${BASE}/messages/${enc(id!)}`);
    clear(body);
    body.append(
      h('h1', {}, m.subject || '(no subject)'),
      h('dl', { class: 'facts' },
        ...fact('Message id', m.id), ...fact('Received', formatTime(m.received_at)), ...fact('From', m.from ?? ''),
        ...fact('Envelope sender', m.envelope.from || '(null sender)'), ...fact('Recipients', recipientsOf(m).join(', ')),
        ...fact('Client', `${m.client_ip ?? ''} (HELO ${m.helo ?? ''})`), ...fact('Message-ID', m.message_id ?? ''),
        ...fact('Size', formatBytes(m.size)), ...fact('Attachments', m.attachments == null ? 'not parsed yet' : String(m.attachments)),
        ...fact('SPF', m.auth?.spf ?? 'not checked'), ...fact('DKIM', m.auth?.dkim ?? 'not checked'),
        ...fact('DMARC', m.auth?.dmarc ?? 'not checked'), ...fact('Spam score', m.spam_score == null ? 'not checked' : String(m.spam_score))),
      actions(m, () => void draw()),
      m.replay_of ? h('p', {}, `Redelivery of ${m.replay_of}`) : '',
      ...m.deliveries.map((d) => h('section', { 'aria-label': `Delivery ${d.id}` },
        h('h2', {}, `Delivery ${d.id} to ${d.hostname}: ${d.state}`),
        d.next_attempt_at ? h('p', {}, `Next attempt ${formatTime(d.next_attempt_at)}`) : null,
        d.replayed_as ? h('p', {}, `Redelivered as ${d.replayed_as}`) : null,
        d.rule !== undefined ? h('p', {}, `Address rule ${d.rule} to ${d.url ?? ''}, for ${(d.recipients ?? []).join(', ')}`) : null,
        d.attempts.length
          ? table(`Attempts of ${d.id}`, ['#', 'Time', 'Duration', 'Answer', 'Bytes sent', 'Response'], d.attempts.map((a, i) => [
            i + 1, formatTime(a.at), `${a.duration_ms} ms`, a.status ? `HTTP ${a.status}` : a.error ?? '', formatBytes(a.bytes_sent),
            a.response ? h('pre', { class: 'excerpt' }, a.response) : '',
          ]))
          : h('p', {}, 'No attempt yet.'))),
    );
    body.append(await preview(m));
  };
  await draw();
  return () => {};
}

function fact(term: string, value: string): HTMLElement[] {
  return [h('dt', {}, term), h('dd', {}, value)];
}

function actions(m: MessageRecord, changed: () => void): HTMLElement {
  const redeliver = h('button', { type: 'button', onclick: () => {
    api.post<{ redelivered: { delivery_id: string; new_delivery_id: string }[] }>(`${BASE}/messages/${enc(m.id)}/redeliver`).then((r) => {
      say(`Redelivery queued: ${r.redelivered.map((x) => x.new_delivery_id).join(', ')}.`);
      changed();
    }, (err: Error) => say(`Could not redeliver: ${err.message}`, 'error'));
  } }, 'Redeliver');
  return h('div', { class: 'actions' },
    h('a', { href: `${BASE}/messages/${enc(m.id)}/raw`, download: `${m.id}.eml`, class: 'button' }, 'Download raw message'),
    redeliver);
}

/** What the app receives: the parsed fields, the HTML in a sandboxed frame that runs nothing. */
async function preview(m: MessageRecord): Promise<HTMLElement> {
  const section = h('section', { 'aria-labelledby': 'preview-h' }, h('h2', { id: 'preview-h' }, 'What your app receives'));
  try {
    const p = await api.get<Preview>(`${BASE}/messages/${enc(m.id)}/preview`);
    const { html, text, headers, ...rest } = p.fields;
    const format = p.payload_format === 'json' ? 'application/json' : 'multipart/form-data';
    section.append(
      h('p', { class: 'posted-as' }, p.send_raw
        ? `Posted as ${format} in raw mode: the whole message in the email field. The fields below are what parsed mode would send.`
        : `Posted as ${format}, with these fields.`),
      table('Fields', ['Field', 'Value'], Object.entries(rest).map(([k, v]) => [h('code', {}, k), v])),
      h('h3', {}, 'text'), h('pre', { class: 'body-text' }, text ?? ''),
      h('h3', {}, 'html'),
      html
        // No allow-scripts, no allow-same-origin: the mail's HTML cannot run code or reach the console.
        ? h('iframe', { sandbox: '', srcdoc: html, title: 'HTML body of the message, rendered without scripts', class: 'html-preview', referrerpolicy: 'no-referrer' })
        : h('p', {}, '(none)'),
      h('h3', {}, 'headers'), h('pre', { class: 'body-text' }, headers ?? ''),
      p.attachments.length
        ? table('Attachments', ['File', 'Type', 'Size'], p.attachments.map((a) => [a.filename, a.type, formatBytes(a.size)]))
        : h('p', {}, 'No attachments.'),
    );
  } catch (err) {
    section.append(h('p', { class: 'error' }, `No preview: ${(err as Error).message}`));
  }
  return section;
}
