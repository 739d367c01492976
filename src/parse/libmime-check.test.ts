import { describe, expect, it } from 'vitest';
import { assertLibmimeInternals, LIBMIME_PINNED_VERSION, libmimeProblems } from './libmime-check.ts';

const standIn = () => ({
  charsetModule: { decode: (_buf: Buffer, _charset: string) => '' },
  libmimeClass: class { decodeWord() {} decodeWords() {} },
});

describe('libmime self-check', () => {
  it('passes on the installed, pinned libmime', () => {
    expect(() => assertLibmimeInternals()).not.toThrow();
    expect(libmimeProblems(standIn(), LIBMIME_PINNED_VERSION)).toEqual([]);
  });

  it('fails loudly, naming package, version and part, when the charset decoder or a subclassed method is missing', () => {
    expect(() => assertLibmimeInternals({ ...standIn(), charsetModule: {} }, LIBMIME_PINNED_VERSION))
      .toThrow(/^libmime 5\.6\.4 does not match what mxhook uses .*libmime\/lib\/charset\.js no longer exports decode/);
    expect(libmimeProblems({ ...standIn(), libmimeClass: class { decodeWords() {} } }, LIBMIME_PINNED_VERSION)).toEqual(['Libmime.prototype.decodeWord is missing']);
    expect(libmimeProblems(standIn(), '5.7.0')).toEqual(['version 5.7.0 is installed, charset.ts is written for 5.6.4']);
  });
});
