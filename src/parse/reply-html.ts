/**
 * Reply HTML (route setting `strip_replies`): the HTML body with the quoted message's container
 * removed, as the mail clients mark it: Gmail's `.gmail_quote`, Outlook's `#divRplyFwdMsg` /
 * `#appendonsend` / border-top "From:" block (and everything after it, where Outlook puts the
 * quote), Apple Mail's and Thunderbird's `blockquote type=cite` (with Thunderbird's
 * `.moz-cite-prefix` attribution line), Yahoo's `.yahoo_quoted`. Parsed with htmlparser2 into a
 * DOM, changed there, and serialized back with the source's entities untouched.
 */
import { parseDocument } from 'htmlparser2';
import { render } from 'dom-serializer';
import { findAll, findOne, getParent, prevElementSibling, removeElement, textContent } from 'domutils';
import { isTag, type AnyNode, type Element } from 'domhandler';

/** Bigger HTML is returned as it is: parsing it is the cost this bound keeps per delivery. */
export const REPLY_HTML_MAX_CHARS = 2 * 1024 * 1024;

const OUTLOOK_FROM = /^\s*(From|De|Von|Da|Van|Från|Fra|差出人|发件人)\s?:/;
const OUTLOOK_SENT = /\b(Sent|Envoyé|Gesendet|Enviado|Inviato|Verzonden|Skickat|Sendt)\s?:|送信日時\s?:/;
const classes = (el: Element) => (el.attribs.class ?? '').split(/\s+/);
const isCite = (el: Element) => el.name === 'blockquote' && el.attribs.type?.toLowerCase() === 'cite';

/** Containers that are the quote, removed on their own. */
function isQuoteContainer(el: Element): boolean {
  const names = classes(el);
  return names.includes('gmail_quote') || names.includes('gmail_quote_container') || names.includes('yahoo_quoted') ||
    names.includes('moz-cite-prefix') || isCite(el);
}

/** Outlook's markers: the quote is this element and everything after it. */
function isOutlookStart(el: Element): boolean {
  if (el.attribs.id === 'divRplyFwdMsg' || el.attribs.id === 'appendonsend') return true;
  // Outlook desktop (Word HTML): <div style="border:none;border-top:solid #E1E1E1 1.0pt;..."><p><b>From:</b> ...
  const style = (el.attribs.style ?? '').toLowerCase().replace(/\s+/g, '');
  if (el.name === 'div' && style.includes('border-top:solid') && OUTLOOK_FROM.test(textContent(el))) return true;
  // Outlook 2010 and older: no frame, a paragraph "From: ... Sent: ..." of its own.
  return el.name === 'p' && classes(el).includes('MsoNormal') && OUTLOOK_FROM.test(textContent(el)) && OUTLOOK_SENT.test(textContent(el));
}

export function stripReplyHtml(html: string): string {
  if (html.length > REPLY_HTML_MAX_CHARS) return html;
  const doc = parseDocument(html, { decodeEntities: false });
  const outlook = findOne(isOutlookStart, doc.children, true);
  if (outlook) removeFrom(outlook);
  // Outer containers first: a nested one is gone with its parent.
  for (const el of findAll(isQuoteContainer, doc.children)) if (isAttached(el)) removeElement(el);
  return render(doc, { decodeEntities: false });
}

/** Removes `start` and every node after it in document order; the ancestors stay (they hold the new text). */
function removeFrom(start: Element): void {
  // Outlook web puts an <hr> right before #divRplyFwdMsg: part of the quote's frame.
  const before = prevElementSibling(start);
  const first: AnyNode = before?.name === 'hr' ? before : start;
  let parent = getParent(first);
  removeSiblingsFrom(first);
  while (parent && isTag(parent) && parent.name !== 'body' && parent.name !== 'html') {
    const next = parent.next;
    const grand = getParent(parent);
    if (next) removeSiblingsFrom(next);
    parent = grand;
  }
}

function removeSiblingsFrom(node: AnyNode): void {
  for (let current: AnyNode | null = node; current;) {
    const after: AnyNode | null = current.next;
    removeElement(current);
    current = after;
  }
}

function isAttached(el: Element): boolean {
  let node: AnyNode | null = el;
  while (node.parent) node = node.parent;
  return node.type === 'root';
}
