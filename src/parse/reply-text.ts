/**
 * Reply text (route setting `strip_replies`): the new text of a reply above the quoted message,
 * and its trailing signature. Crisp's email-reply-parser does the fragment work (quote headers in
 * a dozen languages, `>` lines, signature lines); the lines it misses that mail clients do write
 * (Outlook's underscore rule + "From:" block without an address in brackets, the Spanish and
 * Japanese quote headers, ...) are found here first and the text is cut there.
 */
import EmailReplyParser from 'email-reply-parser';

export interface StrippedText {
  /** The new text, without the quoted message and without the signature. */
  readonly text: string;
  /** The trailing signature (with its delimiter line), or '' when none was found. */
  readonly signature: string;
  /** True when a quoted message was found (and left out). */
  readonly quoted: boolean;
}

/**
 * Only this much of the text is looked at: the new text of a reply is at the top, and the
 * library's regular expressions cost more than linear time (see libraryFragments), so a huge body
 * (a forwarded log) must not make a delivery slow. Past it the text is kept as it is.
 */
export const REPLY_SCAN_CHARS = 128 * 1024;

/** A header line that opens an Outlook/Exchange quoted block (the first line of "From: ... Sent: ..."). */
const OUTLOOK_FROM = /^\*?(From|De|Von|Da|Van|Från|Fra|Od|Lähettäjä|Feladó|От|差出人|发件人|寄件者|보낸 사람)\s?\*?\s?:/;
/** The line after it: Sent/Date in the languages Outlook writes. */
const OUTLOOK_SENT = /^\*?(Sent|Date|Envoyé|Gesendet|Datum|Enviado|Fecha|Inviato|Data|Verzonden|Skickat|Sendt|Wysłano|Lähetetty|Elküldve|Отправлено|送信日時|日期|发送时间|傳送時間|날짜|보낸 날짜)\s?\*?\s?:/;

/** Lines that start the quoted message on their own. */
const QUOTE_START: readonly RegExp[] = [
  // "-----Original Message-----" and its translations (Outlook desktop).
  /^-{3,}\s*(Original Message|Mensaje original|Message d'origine|Ursprüngliche Nachricht|Messaggio originale|Oorspronkelijk bericht|Originalmeddelande|Mensagem original|Oryginalna wiadomość|元のメッセージ|原始邮件)\s*-{3,}$/i,
  // Gmail, Japanese: "2026年3月3日(火) 10:00 Jane Doe <jane@example.com>:"
  /^\d{4}年\d{1,2}月\d{1,2}日.*[:：]$/,
  // Apple Mail, Japanese: "2026/03/03 10:00、Jane Doe <jane@example.com>のメール:"
  /^\d{4}\/\d{1,2}\/\d{1,2}.*(のメール|のメッセージ)[:：]$/,
  // Gmail/Thunderbird, Spanish: "El mar, 3 mar 2026 a las 10:00, Jane (<jane@example.com>) escribió:"
  /^El .+escribió:$/,
];

/** Phone and app signatures the library does not know, when they are the new text's last line. */
const APP_SIGNATURE = /^(Download Outlook for |Get Outlook for |Sent with |iPhoneから送信|iPadから送信|Androidから送信|Envoyé avec |Gesendet mit |Enviado con |Inviato da )/;

/** Splits a plain-text body into the new text and the signature. */
export function stripReplyText(body: string): StrippedText {
  const text = body.replace(/\r\n?/g, '\n');
  const scanned = text.length > REPLY_SCAN_CHARS ? text.slice(0, REPLY_SCAN_CHARS) : text;
  const cut = quoteStart(scanned);
  const head = cut === undefined ? scanned : scanned.slice(0, cut);
  const fragments = libraryFragments(head);
  // A long text with no quote near its top is no reply: kept whole rather than cut at the scan's end.
  const quoted = cut !== undefined || fragments.some((f) => f.quoted);
  if (!quoted && scanned.length < text.length) return { text: text.trim(), signature: '', quoted };
  const kept: string[] = [];
  const signature: string[] = [];
  for (const fragment of fragments) {
    if (!fragment.hidden) kept.push(fragment.content);
    else if (fragment.signature && !fragment.quoted) signature.push(fragment.content);
  }
  let newText = kept.join('\n').trim();
  const lastBreak = newText.lastIndexOf('\n');
  const last = newText.slice(lastBreak + 1);
  if (lastBreak > 0 && APP_SIGNATURE.test(last)) {
    signature.unshift(last);
    newText = newText.slice(0, lastBreak).trim();
  }
  return { text: newText, signature: signature.join('\n').trim(), quoted };
}

interface Fragment { readonly content: string; readonly hidden: boolean; readonly signature: boolean; readonly quoted: boolean }

/**
 * The library's regular expressions backtrack without bound on some input (run by the library
 * over the whole text, or a whole line): a long line costs the square of its length, and many
 * lines opening a Dutch, Polish, Danish or Chinese attribution ("Op ...", "W dniu ...", "在...")
 * with many of its closing words ("schreef", "pisze", "写道", ...) cost the cube. A hostile
 * sender could stall a worker for minutes with 40 KB, so long lines reach the library as short
 * stand-ins (put back after), and a text with more such openings than mail ever has is left to
 * mxhook's own rules.
 */
const LIBRARY_LINE_CHARS = 1000;
const RISKY_OPENINGS = /^\s*(Op\s|W\sdniu|Dnia\s|在|[a-z]{3,4}\.\s)/gm;
const RISKY_CLOSINGS = /schreef|skrev|pisze|napisał|写道/g;
const MAX_RISKY_OPENINGS = 50;
const MAX_RISKY_PAIRS = 400;

function libraryFragments(head: string): Fragment[] {
  const openings = head.match(RISKY_OPENINGS)?.length ?? 0;
  const closings = head.match(RISKY_CLOSINGS)?.length ?? 0;
  if (openings > MAX_RISKY_OPENINGS || openings * closings > MAX_RISKY_PAIRS) return [{ content: head, hidden: false, signature: false, quoted: false }];
  const long: string[] = [];
  const shortened = head.split('\n').map((line) => {
    if (line.length <= LIBRARY_LINE_CHARS) return line;
    long.push(line);
    return `\uE000${long.length - 1}\uE001`;
  }).join('\n');
  const restore = (content: string) => (long.length ? content.replace(/\uE000(\d+)\uE001/g, (stand, i: string) => long[Number(i)] ?? stand) : content);
  return new EmailReplyParser().read(shortened).getFragments().map((f) => ({
    content: restore(f.getContent()), hidden: f.isHidden(), signature: f.isSignature(), quoted: f.isQuoted(),
  }));
}

/** Where the quoted message starts by the rules the library lacks (undefined if none does). */
function quoteStart(text: string): number | undefined {
  const lines = text.split('\n');
  let offset = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const next = (lines[i + 1] ?? '').trim();
    const afterRule = /^_{10,}$/.test(line) ? next : undefined;
    if (QUOTE_START.some((rule) => rule.test(line))) return offset;
    // Outlook: a rule of underscores, then the From: line; or the From:/Sent: pair on its own.
    if (afterRule !== undefined && OUTLOOK_FROM.test(afterRule)) return offset;
    if (OUTLOOK_FROM.test(line) && OUTLOOK_SENT.test(next)) return offset;
    offset += lines[i]!.length + 1;
  }
  return undefined;
}
