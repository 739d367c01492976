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
import { prevElementSibling } from 'domutils';
import { isTag, type AnyNode, type Element, type ParentNode } from 'domhandler';

/** Bigger HTML is returned as it is: parsing it is the cost this bound keeps per delivery. */
export const REPLY_HTML_MAX_CHARS = 1024 * 1024;

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
  if (el.name === 'div' && style.includes('border-top:solid') && OUTLOOK_FROM.test(textStart(el))) return true;
  // Outlook 2010 and older: no frame, a paragraph "From: ... Sent: ..." of its own.
  return el.name === 'p' && classes(el).includes('MsoNormal') && OUTLOOK_FROM.test(textStart(el)) && OUTLOOK_SENT.test(textStart(el));
}

export function stripReplyHtml(html: string): string {
  if (html.length > REPLY_HTML_MAX_CHARS) return html;
  try {
    return stripped(html);
  } catch {
    // dom-serializer recurses: HTML nested thousands deep overflows the stack. Sent as received.
    return html;
  }
}

function stripped(html: string): string {
  const doc = parseDocument(html, { decodeEntities: false });
  const outlook = outermost(doc, isOutlookStart)[0];
  if (outlook) detach(fromOnwards(outlook));
  detach(outermost(doc, isQuoteContainer));
  return render(doc, { decodeEntities: false });
}

/**
 * The elements matching `test`, in document order, not looking inside one that matched (it goes
 * whole). A walk with its own stack: mail can nest elements deeper than recursion goes.
 */
function outermost(root: ParentNode, test: (el: Element) => boolean): Element[] {
  const found: Element[] = [];
  const stack: AnyNode[] = [...root.children].reverse();
  while (stack.length) {
    const node = stack.pop()!;
    if (!isTag(node)) continue;
    if (test(node)) found.push(node);
    else for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!);
  }
  return found;
}

/** `start` and every node after it in document order, but not its ancestors (they hold the new text). */
function fromOnwards(start: Element): AnyNode[] {
  // Outlook web puts an <hr> right before #divRplyFwdMsg: part of the quote's frame.
  const before = prevElementSibling(start);
  const nodes: AnyNode[] = [];
  const siblingsFrom = (node: AnyNode | null) => {
    for (let current = node; current; current = current.next) nodes.push(current);
  };
  const first: AnyNode = before?.name === 'hr' ? before : start;
  siblingsFrom(first);
  for (let parent = first.parent; parent && isTag(parent) && parent.name !== 'body' && parent.name !== 'html'; parent = parent.parent) {
    siblingsFrom(parent.next);
  }
  return nodes;
}

/** Takes the nodes out of their parents, one pass over each parent's children (removing one by one is quadratic). */
function detach(nodes: readonly AnyNode[]): void {
  const byParent = new Map<ParentNode, Set<AnyNode>>();
  for (const node of nodes) {
    if (!node.parent) continue;
    let set = byParent.get(node.parent);
    if (!set) byParent.set(node.parent, (set = new Set()));
    set.add(node);
  }
  for (const [parent, gone] of byParent) {
    parent.children = parent.children.filter((child) => !gone.has(child));
    parent.children.forEach((child, i) => {
      child.prev = parent.children[i - 1] ?? null;
      child.next = parent.children[i + 1] ?? null;
    });
    for (const node of gone) node.parent = node.prev = node.next = null;
  }
}

/** The first characters of an element's text: enough for a "From: ... Sent:" test, and bounded (nested frames would make whole texts quadratic). */
function textStart(el: Element, chars = 500, nodes = 200): string {
  let text = '';
  const stack: AnyNode[] = [...el.children].reverse();
  for (let visited = 0; stack.length && text.length < chars && visited < nodes; visited++) {
    const node = stack.pop()!;
    if (node.type === 'text') text += node.data;
    else if (isTag(node)) for (let i = node.children.length - 1; i >= 0; i--) stack.push(node.children[i]!);
  }
  return text;
}
