/** What a reader sees of some HTML, whitespace collapsed: blocks and line breaks become spaces. */
import { parseDocument } from 'htmlparser2';
import type { ChildNode } from 'domhandler';

const BLOCKS = new Set(['br', 'div', 'p', 'blockquote', 'hr', 'li', 'tr', 'table', 'body', 'html']);

export function visibleText(html: string): string {
  let out = '';
  const walk = (nodes: readonly ChildNode[]) => {
    for (const node of nodes) {
      if (node.type === 'text') out += node.data;
      else if (node.type === 'tag') {
        if (BLOCKS.has(node.name)) out += ' ';
        if (node.name !== 'head' && node.name !== 'style') walk(node.children);
        if (BLOCKS.has(node.name)) out += ' ';
      }
    }
  };
  walk(parseDocument(html).children);
  return out.replace(/[\s\u00a0\u202f]+/g, ' ').trim();
}
