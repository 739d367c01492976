import { describe, expect, it } from 'vitest';
import {
  parseBoolean, parseDuration, parseDurationRange, parseList, parsePort, parsePositiveInt, parseSize,
} from './units.ts';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['10s', 10_000],
    ['5m', 300_000],
    ['72h', 259_200_000],
    ['7d', 604_800_000],
    ['1500', 1500],
    ['1.5s', 1500],
    [' 5 m ', 300_000],
    ['2H', 7_200_000],
    ['0', 0],
  ])('%j -> %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'abc', '5 minutes', '-5s', '5w', 's', '1,5s', '5m10s'])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/duration/);
  });
});

describe('parseDurationRange', () => {
  it('parses a low-high range', () => {
    expect(parseDurationRange('5m-10m')).toEqual([300_000, 600_000]);
    expect(parseDurationRange('2h-3h')).toEqual([7_200_000, 10_800_000]);
  });

  it('allows different units on each end', () => {
    expect(parseDurationRange('300s-1h')).toEqual([300_000, 3_600_000]);
  });

  it('turns a single duration into a fixed interval', () => {
    expect(parseDurationRange('5m')).toEqual([300_000, 300_000]);
  });

  it('accepts equal ends', () => {
    expect(parseDurationRange('5m-300s')).toEqual([300_000, 300_000]);
  });

  it('refuses a range whose low end is above its high end', () => {
    expect(() => parseDurationRange('10m-5m')).toThrow(/low end above its high end/);
  });

  it('refuses bad ends', () => {
    expect(() => parseDurationRange('-5m')).toThrow();
    expect(() => parseDurationRange('5m-')).toThrow();
    expect(() => parseDurationRange('5m-soon')).toThrow();
  });
});

describe('parseSize', () => {
  it.each([
    ['30MB', 30 * 1024 * 1024],
    ['30mb', 30 * 1024 * 1024],
    ['30M', 30 * 1024 * 1024],
    ['512kb', 512 * 1024],
    ['512K', 512 * 1024],
    ['1GB', 1024 ** 3],
    ['2g', 2 * 1024 ** 3],
    ['1048576', 1_048_576],
    ['100b', 100],
    ['1.5KB', 1536],
    [' 10 MB ', 10 * 1024 * 1024],
  ])('%j -> %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(['', 'MB', '30TB', '-1MB', 'lots', '30 M B'])('refuses %j', (text) => {
    expect(() => parseSize(text)).toThrow(/size/);
  });
});

describe('parsePort', () => {
  it.each([['0', 0], ['25', 25], ['2525', 2525], ['65535', 65535], [' 80 ', 80]])('%j -> %d', (text, port) => {
    expect(parsePort(text)).toBe(port);
  });

  it.each(['65536', '-1', '', '  ', 'http', '25.5', '1e3', '0x50'])('refuses %j', (text) => {
    expect(() => parsePort(text)).toThrow(/port/);
  });
});

describe('parsePositiveInt', () => {
  it.each([['1', 1], ['100', 100], ['32', 32]])('%j -> %d', (text, n) => {
    expect(parsePositiveInt(text)).toBe(n);
  });

  it.each(['0', '-3', '1.5', '', 'ten', '1e2'])('refuses %j', (text) => {
    expect(() => parsePositiveInt(text)).toThrow(/at least 1/);
  });
});

describe('parseBoolean', () => {
  it.each(['1', 'true', 'TRUE', 'yes', 'Yes', 'on', ' on '])('%j is true', (text) => {
    expect(parseBoolean(text)).toBe(true);
  });

  it.each(['0', 'false', 'False', 'no', 'OFF', ' off '])('%j is false', (text) => {
    expect(parseBoolean(text)).toBe(false);
  });

  it.each(['', 'maybe', '2', 'truee', 'y'])('refuses %j', (text) => {
    expect(() => parseBoolean(text)).toThrow(/true or false/);
  });
});

describe('parseList', () => {
  it('splits on commas, trims and lower-cases', () => {
    expect(parseList('Abuse, postmaster ,UNSUBSCRIBE')).toEqual(['abuse', 'postmaster', 'unsubscribe']);
  });

  it('drops empty entries', () => {
    expect(parseList('a,,b, ,')).toEqual(['a', 'b']);
  });

  it('gives an empty list for an empty string', () => {
    expect(parseList('')).toEqual([]);
  });
});
