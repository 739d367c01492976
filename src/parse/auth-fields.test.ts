import { describe, expect, it } from 'vitest';
import type { AuthVerdicts } from '../domain/auth.ts';
import { withAuthFields } from './auth-fields.ts';

const auth: AuthVerdicts = {
  spf: { result: 'softfail', clientIp: '192.0.2.1', helo: 'h', mailFrom: 'x@a.com' },
  dkim: [{ domain: 'a.com', result: 'pass' }],
  dmarc: { result: 'pass' },
  arc: { result: 'none' },
  header: 'Authentication-Results: mx.test; dkim=pass header.i=@a.com; spf=softfail',
};

describe('withAuthFields', () => {
  it('puts Authentication-Results right after our Received: and adds SPF, dkim and auth', () => {
    const parts = withAuthFields([{ name: 'headers', value: 'Received: from x\nSubject: hi\n' }, { name: 'to', value: 't' }], auth);
    expect(parts[0]).toEqual({ name: 'headers', value: 'Received: from x\nAuthentication-Results: mx.test; dkim=pass header.i=@a.com; spf=softfail\nSubject: hi\n' });
    expect(Object.fromEntries(parts.slice(1).map((p) => [p.name, 'value' in p ? p.value : '']))).toEqual({
      to: 't', dkim: '{@a.com : pass}', SPF: 'softfail', auth: expect.stringContaining('"softfail"'),
    });
  });
  it('raw payloads (no headers field) only get the fields', () => {
    const parts = withAuthFields([{ name: 'email', bytes: Buffer.from('x') }], auth);
    expect(parts.map((p) => p.name)).toEqual(['email', 'dkim', 'SPF', 'auth']);
  });
  it('no verdicts (checks off): nothing added, nothing faked', () => {
    expect(withAuthFields([{ name: 'headers', value: 'Received: x\n' }], undefined)).toEqual([{ name: 'headers', value: 'Received: x\n' }]);
  });
});
