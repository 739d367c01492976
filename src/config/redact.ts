/** Hiding credentials in URLs before they are logged or printed. Pure. */

/**
 * `scheme://user:pass@host/...` -> `scheme://***@host/...`, and `?password=x` -> `?password=***`.
 * Greedy up to the last `@` before the path: a password may hold a raw `@` (ioredis accepts it).
 */
export function maskUrlCredentials(text: string): string {
  return text.replace(/\/\/[^/\s]*@/, '//***@').replace(/([?&]password=)[^&\s]*/gi, '$1***');
}
