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
 * library's regular expressions are run line by line over what it is given, so a huge body
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
  const email = new EmailReplyParser().read(head);
  // A long text with no quote near its top is no reply: kept whole rather than cut at the scan's end.
  const quoted = cut !== undefined || email.getFragments().some((f) => f.isQuoted());
  if (!quoted && scanned.length < text.length) return { text: text.trim(), signature: '', quoted };
  const kept: string[] = [];
  const signature: string[] = [];
  for (const fragment of email.getFragments()) {
    if (!fragment.isHidden()) kept.push(fragment.getContent());
    else if (fragment.isSignature() && !fragment.isQuoted()) signature.push(fragment.getContent());
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
