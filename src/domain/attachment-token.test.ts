import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { attachmentToken, checkAttachmentToken } from './attachment-token.ts';

const key = randomBytes(32);
const ref = { messageId: 'mx5abc0123', part: 3, expiresAt: 2_000_000_000 };

describe('attachment tokens', () => {
  it('name one attachment of one message until their expiry', () => {
    const token = attachmentToken(key, ref);
    expect(token).toMatch(/^mx5abc0123\.3\.2000000000\.[A-Za-z0-9_-]{43}$/);
    expect(checkAttachmentToken(key, token, ref.expiresAt - 1)).toEqual({ ok: ref });
    expect(checkAttachmentToken(key, token, ref.expiresAt)).toEqual({ error: 'expired' });
  });

  it('refuse any change, another key, and what is not a token', () => {
    const token = attachmentToken(key, ref);
    const [id, part, expires, sig] = token.split('.') as [string, string, string, string];
    for (const altered of [`${id}.4.${expires}.${sig}`, `${id}.${part}.${Number(expires) + 1}.${sig}`, `mx5abc0124.${part}.${expires}.${sig}`, `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, '', 'a.b.c.d', `${token}.x`]) {
      expect(checkAttachmentToken(key, altered, 0), altered).toEqual({ error: 'invalid' });
    }
    expect(checkAttachmentToken(randomBytes(32), token, 0)).toEqual({ error: 'invalid' });
    // An expired token that was also altered is refused as altered.
    expect(checkAttachmentToken(key, `${id}.4.${expires}.${sig}`, ref.expiresAt + 10)).toEqual({ error: 'invalid' });
  });
});
