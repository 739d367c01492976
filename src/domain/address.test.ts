import { describe, expect, it } from 'vitest';
import { isReservedLocalPart, normalizeHostname, splitAddress } from './address.ts';

describe('normalizeHostname', () => {
  it('lower-cases', () => {
    expect(normalizeHostname('Parse.Example.COM')).toBe('parse.example.com');
  });

  it('drops one trailing dot and surrounding whitespace', () => {
    expect(normalizeHostname('parse.example.com.')).toBe('parse.example.com');
    expect(normalizeHostname('  parse.example.com  ')).toBe('parse.example.com');
  });

  it('turns an IDN into punycode', () => {
    expect(normalizeHostname('bücher.example')).toBe('xn--bcher-kva.example');
    expect(normalizeHostname('BÜCHER.Example')).toBe('xn--bcher-kva.example');
    expect(normalizeHostname('Parse.Exämple.com')).toBe('parse.xn--exmple-cua.com');
  });

  it('leaves an already-ASCII IDN as it is, so both forms name the same route', () => {
    expect(normalizeHostname('XN--BCHER-KVA.example')).toBe('xn--bcher-kva.example');
    expect(normalizeHostname('xn--bcher-kva.example')).toBe(normalizeHostname('bücher.example'));
  });

  it('keeps digits, hyphens inside labels and single-label names', () => {
    expect(normalizeHostname('mx-1.parse2.example.com')).toBe('mx-1.parse2.example.com');
    expect(normalizeHostname('localhost')).toBe('localhost');
  });

  it.each([
    '',
    '   ',
    '.',
    'exa mple.com',
    'a..b',
    '.example.com',
    '-foo.example.com',
    'foo-.example.com',
    'foo@example.com',
    '[192.0.2.1]',
    'exa$mple.com',
    'example.com:25',
  ])('returns "" for the invalid name %j', (name) => {
    expect(normalizeHostname(name)).toBe('');
  });

  // URL delimiters and control characters are not part of a hostname: the name is invalid, it must
  // not be cut at the delimiter (or have the character removed) and pass as another, valid name.
  it.each([
    'parse.example.com/path',
    'parse.example.com?x=1',
    'parse.example.com#frag',
    'parse.example.com\\x',
    'evil.example/.parse.example.com',
    'parse.exa\tmple.com',
    'parse.exa\nmple.com',
  ])('returns "" for %j instead of a truncated or altered name', (name) => {
    expect(normalizeHostname(name)).toBe('');
  });

  it('refuses a label longer than 63 characters but accepts 63', () => {
    expect(normalizeHostname(`${'a'.repeat(63)}.example`)).toBe(`${'a'.repeat(63)}.example`);
    expect(normalizeHostname(`${'a'.repeat(64)}.example`)).toBe('');
  });

  it('refuses a name longer than 253 characters', () => {
    const label = 'a'.repeat(50);
    const long = [label, label, label, label, label, 'example'].join('.'); // 50*5+5+7 = 262
    expect(long.length).toBeGreaterThan(253);
    expect(normalizeHostname(long)).toBe('');
    const ok = [label, label, label, label, 'example'].join('.');
    expect(normalizeHostname(ok)).toBe(ok);
  });
});

describe('splitAddress', () => {
  it('splits at the @, normalising only the domain', () => {
    expect(splitAddress('Jane.Doe@Parse.Example.COM')).toEqual({ local: 'Jane.Doe', hostname: 'parse.example.com' });
  });

  it('splits at the last @ (quoted local parts may contain one)', () => {
    expect(splitAddress('"a@b"@parse.example.com')).toEqual({ local: '"a@b"', hostname: 'parse.example.com' });
  });

  it('normalises an IDN domain', () => {
    expect(splitAddress('info@bücher.example')).toEqual({ local: 'info', hostname: 'xn--bcher-kva.example' });
  });

  it.each(['', 'nobody', '@parse.example.com', 'user@', 'user@bad..host', 'user@exa mple.com', 'user@parse.example.com/x'])(
    'returns undefined for %j',
    (address) => {
      expect(splitAddress(address)).toBeUndefined();
    },
  );
});

describe('isReservedLocalPart', () => {
  const reserved = ['abuse', 'postmaster', 'unsubscribe'];

  it('matches reserved local parts whatever their case', () => {
    expect(isReservedLocalPart('postmaster', reserved)).toBe(true);
    expect(isReservedLocalPart('PostMaster', reserved)).toBe(true);
    expect(isReservedLocalPart('ABUSE', reserved)).toBe(true);
    expect(isReservedLocalPart('Unsubscribe', reserved)).toBe(true);
  });

  it('does not match other or longer local parts', () => {
    expect(isReservedLocalPart('support', reserved)).toBe(false);
    expect(isReservedLocalPart('abuse-team', reserved)).toBe(false);
    expect(isReservedLocalPart('postmaster+tag', reserved)).toBe(false);
    expect(isReservedLocalPart('', reserved)).toBe(false);
  });

  it('matches a quoted local part that names a reserved mailbox', () => {
    expect(isReservedLocalPart('"postmaster"', reserved)).toBe(true);
    expect(isReservedLocalPart('"Post\\master"', reserved)).toBe(true);
    expect(isReservedLocalPart('"abuse"', reserved)).toBe(true);
    expect(isReservedLocalPart('"post master"', reserved)).toBe(false);
    expect(isReservedLocalPart('"', reserved)).toBe(false);
  });

  it('matches nothing with an empty list', () => {
    expect(isReservedLocalPart('abuse', [])).toBe(false);
  });
});
