/**
 * Address rules under a hostname route (mxhook extension `address_rules`): an ordered list that
 * sends a recipient, by its local part, to its own URL or refuses it at RCPT; first match wins and
 * the hostname's url is the fallback. Patterns: `support` (exact), `support-*` (prefix, `*` one or
 * more characters), `reply+*` (plus tag: the app gets the text after `+` as `mailbox_hash`). Pure.
 */
import { unquoteLocalPart } from './address.ts';
import type { FieldError } from './errors.ts';

export interface AddressRule {
  /** Lower case; matched case-insensitively. */
  readonly match: string;
  readonly action: 'deliver' | 'drop';
  /** Where a deliver rule POSTs; absent for drop rules. */
  readonly url?: string;
}

/** Where one recipient goes under a route. */
export type RecipientRouting =
  | { readonly kind: 'drop'; readonly rule: string }
  /** `rule` absent: no rule matched, the hostname's url. */
  | { readonly kind: 'deliver'; readonly rule?: string; readonly mailboxHash?: string };

export const MAX_ADDRESS_RULES = 50;
const MAX_MATCH_CHARS = 64;
// RFC 5321 dot-atom characters, plus one trailing `*`.
const PATTERN = /^[a-z0-9!#$%&'+\/=?^_`{|}~.-]+\*?$|^\*$/;

const RULE_FIELDS = new Set(['match', 'url', 'action']);

/**
 * Checks an `address_rules` value. `checkUrl` is the route URL's own check (checkOutboundUrl), so a rule's
 * URL is held to the same policy. `null` or `[]` removes the rules.
 */
export function checkAddressRules(value: unknown, checkUrl: (url: unknown) => string | undefined): { rules: AddressRule[] } | { errors: FieldError[] } {
  if (value === null) return { rules: [] };
  if (!Array.isArray(value)) return { errors: [{ field: 'address_rules', message: 'address_rules must be an array of {match, url, action}' }] };
  if (value.length > MAX_ADDRESS_RULES) return { errors: [{ field: 'address_rules', message: `too many address rules: ${value.length}, at most ${MAX_ADDRESS_RULES}` }] };
  const errors: FieldError[] = [];
  const rules: AddressRule[] = [];
  const seen = new Set<string>();
  value.forEach((item: unknown, i) => {
    const at = `address_rules[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      errors.push({ field: at, message: `${at} must be an object {match, url, action}` });
      return;
    }
    const rule = item as Record<string, unknown>;
    for (const key of Object.keys(rule)) if (!RULE_FIELDS.has(key)) errors.push({ field: `${at}.${key}`, message: `unknown address rule field ${key}` });
    const checked = checkMatch(rule.match);
    const match = 'match' in checked ? checked.match : undefined;
    if ('error' in checked) {
      errors.push({ field: `${at}.match`, message: checked.error });
    } else if (seen.has(checked.match)) {
      errors.push({ field: `${at}.match`, message: `match ${match} appears twice; the second could never match` });
    } else seen.add(checked.match);
    const action = rule.action ?? 'deliver';
    if (action !== 'deliver' && action !== 'drop') {
      errors.push({ field: `${at}.action`, message: 'action must be "deliver" or "drop"' });
      return;
    }
    if (action === 'drop') {
      if (rule.url !== undefined) errors.push({ field: `${at}.url`, message: 'a drop rule takes no url' });
      if (match !== undefined) rules.push({ match, action });
      return;
    }
    const problem = checkUrl(rule.url);
    if (problem) errors.push({ field: `${at}.url`, message: problem });
    else if (match !== undefined) rules.push({ match, action, url: String(rule.url) });
  });
  return errors.length ? { errors } : { rules };
}

/** The normalised pattern, or why it is refused. */
function checkMatch(value: unknown): { match: string } | { error: string } {
  if (value === undefined) return { error: 'match is required' };
  if (typeof value !== 'string' || !value) return { error: 'match must be a non-empty string' };
  const match = value.toLowerCase();
  if (match.length > MAX_MATCH_CHARS) return { error: `match is longer than ${MAX_MATCH_CHARS} characters` };
  if (match.includes('@')) return { error: 'match is a local part only (the part before @), e.g. "support", "support-*" or "reply+*"' };
  if (!PATTERN.test(match)) return { error: `invalid match pattern ${JSON.stringify(value).slice(0, 80)}: a local part, optionally ending in one * ("support", "support-*", "reply+*")` };
  return { match };
}

/** Whether a rule is a plus-tag rule (`reply+*`), whose matched rest is the mailbox hash. */
export function isPlusTagRule(match: string): boolean {
  return match.length > 2 && match.endsWith('+*');
}

/** The rule a local part matches first, with its plus tag when it is a plus-tag rule. */
export function matchAddressRule(rules: readonly AddressRule[] | undefined, localPart: string): { rule: AddressRule; mailboxHash?: string } | undefined {
  if (!rules?.length) return undefined;
  const local = unquoteLocalPart(localPart).toLowerCase();
  for (const rule of rules) {
    if (!rule.match.endsWith('*')) {
      if (local === rule.match) return { rule };
      continue;
    }
    const prefix = rule.match.slice(0, -1);
    if (local.length <= prefix.length || !local.startsWith(prefix)) continue;
    if (!isPlusTagRule(rule.match)) return { rule };
    // The tag as the sender wrote it (tokens may be case-sensitive), the quotes removed.
    return { rule, mailboxHash: unquoteLocalPart(localPart).slice(prefix.length) };
  }
  return undefined;
}

/** Where a recipient with this local part goes under a route's rules. */
export function routeRecipient(rules: readonly AddressRule[] | undefined, localPart: string): RecipientRouting {
  const found = matchAddressRule(rules, localPart);
  if (!found) return { kind: 'deliver' };
  if (found.rule.action === 'drop') return { kind: 'drop', rule: found.rule.match };
  return { kind: 'deliver', rule: found.rule.match, ...(found.mailboxHash !== undefined ? { mailboxHash: found.mailboxHash } : {}) };
}

/**
 * The URL a delivery made by `rule` POSTs to now: the rule's, or the hostname's url when the rule
 * was removed (or turned into a drop rule) after the message was accepted.
 */
export function ruleUrl(rules: readonly AddressRule[] | undefined, rule: string | undefined, fallback: string): string {
  if (rule === undefined) return fallback;
  const found = rules?.find((r) => r.match === rule);
  return found?.action === 'deliver' && found.url ? found.url : fallback;
}
