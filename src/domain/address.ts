/** Address and hostname rules of the SMTP side. Pure. */
import { domainToASCII } from 'node:url';

/**
 * Lower-cases a hostname and turns an IDN into its ASCII (punycode) form, so `Parse.Exämple.com`
 * and `parse.xn--exmple-cua.com` name the same route. Returns '' when it is not a valid hostname.
 */
export function normalizeHostname(hostname: string): string {
  const trimmed = hostname.trim().replace(/\.$/, '');
  if (!trimmed || trimmed.length > 253) return '';
  // domainToASCII parses like a URL host and would cut "a.com/x" down to "a.com": refuse
  // anything but letters, digits, marks, dots, hyphens and underscores before it sees the name.
  if (!/^[\p{L}\p{N}\p{M}._-]+$/u.test(trimmed)) return '';
  const ascii = domainToASCII(trimmed.toLowerCase());
  if (!ascii || !/^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)(\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)*$/.test(ascii)) return '';
  return ascii;
}

/** Splits `local@domain` at the last `@`; the domain is normalised, the local part kept as sent. */
export function splitAddress(address: string): { local: string; hostname: string } | undefined {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return undefined;
  const hostname = normalizeHostname(address.slice(at + 1));
  if (!hostname) return undefined;
  return { local: address.slice(0, at), hostname };
}

/**
 * SendGrid refuses abuse@, postmaster@ and unsubscribe@ at parse hostnames; so do we by default.
 * A quoted local part names the same mailbox (`"postmaster"`, `"post\\master"`: RFC 5321
 * quoted-string), so it is unquoted before the check.
 */
export function isReservedLocalPart(local: string, reserved: readonly string[]): boolean {
  return reserved.includes(unquoteLocalPart(local).toLowerCase());
}

/** `"a\\"b"` -> `a"b`; a local part that is not one quoted-string is returned as it is. */
export function unquoteLocalPart(local: string): string {
  if (local.length < 2 || !local.startsWith('"') || !local.endsWith('"')) return local;
  return local.slice(1, -1).replace(/\\(.)/g, '$1');
}
