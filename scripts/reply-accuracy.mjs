#!/usr/bin/env node
// Measures strip_replies on the reply corpus (fixtures/replies/corpus.json, see its README):
// the share of replies whose stripped text (and signature) or stripped HTML's visible text is
// exactly what a reader expects. `node scripts/reply-accuracy.mjs [--verbose]` (node >= 22.18 / 24).
import { readFileSync } from 'node:fs';
import { visibleText } from '../test/helpers/html-text.ts';
import { stripReplyText } from '../src/parse/reply-text.ts';
import { stripReplyHtml } from '../src/parse/reply-html.ts';

/** One result per corpus reply: ok, and what came out when not. */
export function measure(corpus) {
  return corpus.map((reply) => {
    if (reply.kind === 'html') {
      const got = visibleText(stripReplyHtml(reply.body));
      return { reply, ok: got === reply.expected_text, got };
    }
    const got = stripReplyText(reply.body);
    return { reply, ok: got.text === reply.expected_text && got.signature === reply.expected_signature, got };
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const corpus = JSON.parse(readFileSync(new URL('../fixtures/replies/corpus.json', import.meta.url), 'utf8'));
  const results = measure(corpus);
  const line = (label, rows) => {
    const ok = rows.filter((r) => r.ok).length;
    console.log(`${label.padEnd(10)} ${ok}/${rows.length} (${((100 * ok) / rows.length).toFixed(1)} %)`);
  };
  for (const r of results.filter((x) => !x.ok)) {
    console.log(`MISS ${r.reply.id}: got ${JSON.stringify(r.got)}`);
  }
  line('text', results.filter((r) => r.reply.kind === 'text'));
  line('html', results.filter((r) => r.reply.kind === 'html'));
  line('all', results);
  line('held out', results.filter((r) => r.reply.held_out));
}
