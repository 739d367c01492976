/** A parse route (SendGrid's ParseSetting) and the rules for creating and changing one. Pure. */
import { normalizeHostname } from './address.ts';
import { checkAddressRules, type AddressRule } from './address-rules.ts';
import { checkOutboundUrl } from './destination-policy.ts';
import { checkCustomArgs } from './event-webhook.ts';
import type { FieldError } from './errors.ts';
import type { RetryPolicy } from './retry-policy.ts';
import { parseDuration, parseDurationRange, parseSize } from '../config/units.ts';

/** Per-route override of the retry schedule (mxhook extension), written like the settings. */
export interface RetryPolicySetting {
  readonly fast_interval?: string;
  readonly fast_phase?: string;
  readonly slow_interval?: string;
  readonly max_age?: string;
}

export interface ParseSetting {
  /** Receiving hostname, lower case, IDN in ASCII form. */
  readonly hostname: string;
  /** Where POSTs go; http(s), may carry basic-auth credentials. */
  readonly url: string;
  /** Add spam_score / spam_report (SendGrid fields), scored by SpamAssassin's spamd when the POST is built. */
  readonly spam_check: boolean;
  /** POST the whole MIME message as `email` instead of parsed fields. */
  readonly send_raw: boolean;
  /** mxhook extension: also sign with SendGrid's ECDSA scheme (X-Twilio-Email-Event-Webhook-*). */
  readonly sendgrid_signature?: boolean;
  /** mxhook extension: this route's retry schedule. */
  readonly retry_policy?: RetryPolicySetting;
  /** mxhook extension: echoed on every event webhook event of this route, never in the parsed POST. */
  readonly custom_args?: Readonly<Record<string, string>>;
  /** mxhook extension: recipients by local part to their own URL, or refused (address-rules.ts). */
  readonly address_rules?: readonly AddressRule[];
  /** mxhook extension: `json` posts application/json (encode-json.ts); absent: multipart. */
  readonly payload_format?: 'json';
  /** mxhook extension: attachments over this many bytes are links in JSON POSTs, not content. Default 10 MB. */
  readonly json_attachment_max?: number;
  /** mxhook extension: parsed POSTs also carry stripped_text, stripped_signature, stripped_html. */
  readonly strip_replies?: boolean;
  /** mxhook extension, raw mode: "encode" re-encodes 8-bit MIME parts as quoted-printable/base64 (default "keep": byte-exact). */
  readonly raw_8bit?: Raw8bitMode;
}

/** Attachments of JSON POSTs up to this size are sent inline, by default. */
export const DEFAULT_JSON_ATTACHMENT_MAX = 10 * 1024 * 1024;

const KNOWN_FIELDS = new Set(['hostname', 'url', 'spam_check', 'send_raw', 'sendgrid_signature', 'retry_policy', 'custom_args', 'address_rules', 'payload_format', 'json_attachment_max', 'strip_replies', 'raw_8bit']);

export const RAW_8BIT_MODES = ['keep', 'encode'] as const;
export type Raw8bitMode = (typeof RAW_8BIT_MODES)[number];

/**
 * Validates a create (`existing` undefined) or a patch (`existing` set) of a parse setting.
 * Returns the resulting setting or the list of field errors in SendGrid's shape.
 */
export function validateParseSetting(
  input: unknown,
  existing?: ParseSetting,
): { setting: ParseSetting; errors?: undefined } | { setting?: undefined; errors: FieldError[] } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { errors: [{ field: null, message: 'body must be a JSON object' }] };
  }
  const body = input as Record<string, unknown>;
  const errors: FieldError[] = [];
  for (const key of Object.keys(body)) {
    if (!KNOWN_FIELDS.has(key)) errors.push({ field: key, message: `unknown field ${key}` });
  }
  let hostname = existing?.hostname ?? '';
  if (existing && body.hostname !== undefined && normalizeHostname(String(body.hostname)) !== existing.hostname) {
    errors.push({ field: 'hostname', message: 'hostname cannot be changed; delete the setting and create a new one' });
  } else if (!existing) {
    if (typeof body.hostname !== 'string' || !body.hostname) errors.push({ field: 'hostname', message: 'hostname is required' });
    else {
      hostname = normalizeHostname(body.hostname);
      if (!hostname || !hostname.includes('.')) errors.push({ field: 'hostname', message: `invalid hostname: ${body.hostname}` });
    }
  }
  let url = existing?.url ?? '';
  if (body.url !== undefined || !existing) {
    const problem = checkOutboundUrl(body.url);
    if (problem) errors.push({ field: 'url', message: problem });
    else url = String(body.url);
  }
  const flags: Record<'spam_check' | 'send_raw' | 'sendgrid_signature', boolean> = {
    spam_check: existing?.spam_check ?? false,
    send_raw: existing?.send_raw ?? false,
    sendgrid_signature: existing?.sendgrid_signature ?? false,
  };
  for (const field of ['spam_check', 'send_raw', 'sendgrid_signature'] as const) {
    if (body[field] === undefined) continue;
    if (typeof body[field] !== 'boolean') errors.push({ field, message: `${field} must be true or false` });
    else flags[field] = body[field];
  }
  let retryPolicy = existing?.retry_policy;
  if (body.retry_policy !== undefined) {
    const checked = checkRetryPolicy(body.retry_policy);
    if (typeof checked === 'string') errors.push({ field: 'retry_policy', message: checked });
    else retryPolicy = checked;
  }
  let customArgs = existing?.custom_args;
  if (body.custom_args !== undefined) {
    const checked = checkCustomArgs(body.custom_args);
    if (typeof checked === 'string') errors.push({ field: 'custom_args', message: checked });
    else customArgs = checked;
  }
  let addressRules = existing?.address_rules;
  if (body.address_rules !== undefined) {
    const checked = checkAddressRules(body.address_rules, checkOutboundUrl);
    if ('errors' in checked) errors.push(...checked.errors);
    else addressRules = checked.rules;
  }
  let payloadFormat = existing?.payload_format;
  if (body.payload_format !== undefined) {
    if (body.payload_format !== 'json' && body.payload_format !== 'multipart') errors.push({ field: 'payload_format', message: 'payload_format must be "multipart" or "json"' });
    else payloadFormat = body.payload_format === 'json' ? 'json' : undefined;
  }
  let jsonAttachmentMax = existing?.json_attachment_max;
  if (body.json_attachment_max !== undefined) {
    const checked = checkSize(body.json_attachment_max);
    if (typeof checked === 'string') errors.push({ field: 'json_attachment_max', message: checked });
    else jsonAttachmentMax = checked;
  }
  const replies = checkRepliesAndRaw(body, existing, errors);
  if (errors.length) return { errors };
  const { sendgrid_signature, ...sendgridFlags } = flags;
  return {
    setting: {
      hostname, url, ...sendgridFlags,
      // Extensions appear only when set, so SendGrid-shaped requests get SendGrid-shaped answers.
      ...(sendgrid_signature ? { sendgrid_signature } : {}),
      ...(retryPolicy && Object.keys(retryPolicy).length ? { retry_policy: retryPolicy } : {}),
      ...(customArgs && Object.keys(customArgs).length ? { custom_args: customArgs } : {}),
      ...(addressRules?.length ? { address_rules: addressRules } : {}),
      ...(payloadFormat ? { payload_format: payloadFormat } : {}),
      ...(jsonAttachmentMax !== undefined ? { json_attachment_max: jsonAttachmentMax } : {}),
      ...replies,
    },
  };
}

/** strip_replies and raw_8bit: present in the setting only when not their default. */
function checkRepliesAndRaw(body: Record<string, unknown>, existing: ParseSetting | undefined, errors: FieldError[]): Pick<ParseSetting, 'strip_replies' | 'raw_8bit'> {
  let strip = existing?.strip_replies ?? false;
  if (body.strip_replies !== undefined) {
    if (typeof body.strip_replies !== 'boolean') errors.push({ field: 'strip_replies', message: 'strip_replies must be true or false' });
    else strip = body.strip_replies;
  }
  let raw8bit: Raw8bitMode = existing?.raw_8bit ?? 'keep';
  if (body.raw_8bit !== undefined) {
    if (!(RAW_8BIT_MODES as readonly unknown[]).includes(body.raw_8bit)) errors.push({ field: 'raw_8bit', message: 'raw_8bit must be "keep" or "encode"' });
    else raw8bit = body.raw_8bit as Raw8bitMode;
  }
  return { ...(strip ? { strip_replies: true } : {}), ...(raw8bit !== 'keep' ? { raw_8bit: raw8bit } : {}) };
}

/** Bytes, as a number or a size such as "10MB"; null removes the override. */
function checkSize(value: unknown): number | undefined | string {
  if (value === null) return undefined;
  const problem = 'json_attachment_max must be a number of bytes or a size such as "10MB", at most 1GB';
  let bytes: number;
  if (typeof value === 'number') bytes = value;
  else if (typeof value === 'string') {
    try {
      bytes = parseSize(value);
    } catch {
      return problem;
    }
  } else return problem;
  return Number.isInteger(bytes) && bytes >= 0 && bytes <= 1024 ** 3 ? bytes : problem;
}

/** A zero interval would hammer the app with no wait for the whole fast phase. */
const MIN_POLICY_MS = 10;

const POLICY_FIELDS = ['fast_interval', 'fast_phase', 'slow_interval', 'max_age'] as const;

function checkRetryPolicy(value: unknown): RetryPolicySetting | string {
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) return 'retry_policy must be an object';
  const policy: Record<string, string> = {};
  for (const [key, raw] of Object.entries(value)) {
    if (!(POLICY_FIELDS as readonly string[]).includes(key)) return `unknown retry_policy field ${key}`;
    if (typeof raw !== 'string') return `retry_policy.${key} must be a string like "5m" or "5m-10m"`;
    try {
      const low = key.endsWith('interval') ? parseDurationRange(raw)[0] : parseDuration(raw);
      if (low < MIN_POLICY_MS) return `retry_policy.${key} must be at least ${MIN_POLICY_MS} ms`;
    } catch (err) {
      return `retry_policy.${key}: ${(err as Error).message}`;
    }
    policy[key] = raw;
  }
  return policy;
}

/** A route's max_age ends this long before the stored message would expire (MXHOOK_MESSAGE_TTL). */
export const MAX_AGE_BEFORE_EXPIRY_MS = 3_600_000;

/**
 * The route's effective retry policy: its overrides on top of the server default. A max_age past
 * the stored message's lifetime (`messageTtlMs`) is cut to an hour before it: the last attempt and
 * the dead letter must come while the message is still there, or the delivery would vanish with it.
 */
export function effectiveRetryPolicy(base: RetryPolicy, setting: RetryPolicySetting | undefined, messageTtlMs = Infinity): RetryPolicy {
  if (!setting) return base;
  const maxAgeCeiling = Math.max(base.maxAgeMs, messageTtlMs - MAX_AGE_BEFORE_EXPIRY_MS);
  return {
    fastIntervalMs: setting.fast_interval ? parseDurationRange(setting.fast_interval) : base.fastIntervalMs,
    fastPhaseMs: setting.fast_phase ? parseDuration(setting.fast_phase) : base.fastPhaseMs,
    slowIntervalMs: setting.slow_interval ? parseDurationRange(setting.slow_interval) : base.slowIntervalMs,
    maxAgeMs: setting.max_age ? Math.min(parseDuration(setting.max_age), maxAgeCeiling) : base.maxAgeMs,
  };
}
