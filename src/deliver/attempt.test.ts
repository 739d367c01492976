import { describe, expect, it } from 'vitest';
import { withResponseExcerpt } from './attempt.ts';

describe('withResponseExcerpt', () => {
  it('keeps the status and a short, labelled excerpt of the app answer', () => {
    expect(withResponseExcerpt('HTTP 400', 'no such mailbox', 100)).toBe('HTTP 400; response excerpt: "no such mailbox"');
  });

  it('cuts a long answer at the configured length and says so', () => {
    const page = `<html>${'x'.repeat(300)} DATABASE_PASSWORD=hunter2</html>`;
    const reason = withResponseExcerpt('HTTP 403', page, 20);
    expect(reason).toBe(`HTTP 403; response excerpt: "<html>${'x'.repeat(14)}…" (first 20 characters)`);
    expect(reason).not.toContain('hunter2');
  });

  it('keeps only the status with 0, or with no answer body', () => {
    expect(withResponseExcerpt('HTTP 400', 'secret page', 0)).toBe('HTTP 400');
    expect(withResponseExcerpt('HTTP 400', '', 100)).toBe('HTTP 400');
  });

  it('never splits a character made of two UTF-16 units', () => {
    expect(withResponseExcerpt('HTTP 400', '😀😀😀', 2)).toBe('HTTP 400; response excerpt: "😀😀…" (first 2 characters)');
  });
});
