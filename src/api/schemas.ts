/**
 * JSON schemas of the API: they validate requests (a 400 naming the field) and, through
 * @fastify/swagger, make /openapi.json, so the document cannot drift from what is enforced.
 * `x-error` is the message a failing value gets (api/errors.ts); the shape is checked here, the
 * meaning (IDN hostnames, refused destinations, durations) by domain/route.ts.
 */
import { DELIVERY_ID_PATTERN } from '../domain/message.ts';

const retryPolicy = {
  type: ['object', 'null'],
  description: 'mxhook extension: this route\'s retry schedule (null removes the override).',
  additionalProperties: false,
  properties: Object.fromEntries(['fast_interval', 'fast_phase', 'slow_interval', 'max_age'].map((field) => [field, {
    type: 'string', maxLength: 40, description: field.endsWith('interval') ? 'a duration or range, e.g. "5m-10m"' : 'a duration, e.g. "24h"',
  }])),
} as const;

// Only the outer shape here: the flat-string-map rule and the size limit are checked by
// domain/event-webhook.ts, which words the 400 precisely.
const customArgs = {
  type: ['object', 'null'], 'x-error': 'custom_args must be an object of string values (or null to remove it)',
  description: 'mxhook extension: a flat map of strings echoed on every event-webhook event of this route (never in the parsed POST); null removes it.',
} as const;

const addressRule = {
  type: 'object',
  properties: {
    match: { type: 'string', description: 'A local part: exact ("support"), prefix ("support-*") or plus tag ("reply+*", posted as mailbox_hash).' },
    url: { type: 'string', description: 'Where this rule\'s deliveries POST (deliver rules only); checked like the route\'s url.' },
    action: { type: 'string', description: '"deliver" (the default) or "drop" (refused at RCPT with 550 5.1.1).' },
  },
} as const;

/** Checked by domain/address-rules.ts, which names the rule and field at fault. */
const addressRules = {
  type: ['array', 'null'], items: addressRule,
  description: 'mxhook extension: ordered rules by recipient local part, first match wins; the url is the fallback (null or [] removes them).',
} as const;

const settingFields = {
  hostname: {
    type: 'string', minLength: 1, maxLength: 253, pattern: '^[^\\s/:@?#\\\\]+$',
    'x-error': 'invalid hostname: a DNS name such as parse.example.com', description: 'Receiving hostname (matched case-insensitively, IDN allowed).',
  },
  url: {
    type: 'string', minLength: 1, maxLength: 4096, pattern: '^[Hh][Tt][Tt][Pp][Ss]?://',
    'x-error': 'url must use http or https', description: 'Where POSTs go; may carry basic-auth credentials.',
  },
  spam_check: { type: 'boolean', description: 'Add spam_score and spam_report (SpamAssassin).' },
  send_raw: { type: 'boolean', description: 'POST the whole message as `email` instead of parsed fields.' },
  sendgrid_signature: { type: 'boolean', description: 'mxhook extension: also sign with SendGrid\'s ECDSA scheme.' },
  retry_policy: retryPolicy,
  custom_args: customArgs,
  address_rules: addressRules,
  payload_format: { type: 'string', description: 'mxhook extension: "multipart" (the default, SendGrid\'s) or "json" (application/json, docs/payload.schema.json).' },
  json_attachment_max: {
    type: ['integer', 'string', 'null'],
    description: 'mxhook extension: attachments of JSON POSTs over this size (bytes, or e.g. "10MB"; default 10MB) are left out and listed with a download link.',
  },
  strip_replies: { type: 'boolean', description: 'mxhook extension: parsed POSTs also carry stripped_text, stripped_signature and stripped_html (the reply without the quoted message).' },
  raw_8bit: {
    type: 'string', enum: ['keep', 'encode'], 'x-error': 'raw_8bit must be "keep" or "encode"',
    description: 'mxhook extension, raw mode: "encode" re-encodes 8-bit MIME parts of `email` as quoted-printable or base64; "keep" (default) posts the bytes as received.',
  },
} as const;

export const createSettingBody = {
  type: 'object', additionalProperties: false, required: ['hostname', 'url'], properties: settingFields,
} as const;

export const patchSettingBody = {
  type: 'object', additionalProperties: false, properties: settingFields,
} as const;

/** ParseSetting as answered (a password in the URL shown as ***). */
export const parseSetting = {
  type: 'object', additionalProperties: false, required: ['hostname', 'url', 'spam_check', 'send_raw'],
  properties: {
    hostname: { type: 'string' }, url: { type: 'string' }, spam_check: { type: 'boolean' }, send_raw: { type: 'boolean' },
    sendgrid_signature: { type: 'boolean' },
    retry_policy: { type: 'object', additionalProperties: false, properties: retryPolicy.properties },
    custom_args: { type: 'object', additionalProperties: { type: 'string' } },
    address_rules: { type: 'array', items: addressRule },
    payload_format: { type: 'string', enum: ['json'] }, json_attachment_max: { type: 'integer' },
    strip_replies: { type: 'boolean' },
    raw_8bit: { type: 'string', enum: ['keep', 'encode'] },
  },
} as const;

export const createdSetting = {
  ...parseSetting,
  required: [...parseSetting.required, 'signing_secret', 'signing_secret_id'],
  properties: {
    ...parseSetting.properties,
    signing_secret: { type: 'string', description: 'The route\'s first signing secret, shown in this answer only.' },
    signing_secret_id: { type: 'string' },
  },
} as const;

export const errorBody = {
  type: 'object', required: ['errors'],
  description: 'SendGrid\'s error shape: one entry per problem, `field` null when no field is at fault.',
  properties: {
    errors: { type: 'array', items: { type: 'object', required: ['field', 'message'], properties: { field: { type: ['string', 'null'] }, message: { type: 'string' } } } },
  },
} as const;

export const hostnameParams = {
  type: 'object', required: ['hostname'], properties: { hostname: { type: 'string', maxLength: 1024 } },
} as const;

export const secretParams = {
  type: 'object', required: ['hostname', 'id'], properties: { hostname: { type: 'string', maxLength: 1024 }, id: { type: 'string', maxLength: 64 } },
} as const;

export const deadLetterParams = {
  type: 'object', required: ['id'],
  properties: { id: { type: 'string', pattern: DELIVERY_ID_PATTERN, 'x-error': 'not a dead-letter id: ids look like <message id>.<n>, as listed', description: 'The delivery id.' } },
} as const;

const hostnameQuery = { type: 'string', minLength: 1, maxLength: 253, description: 'A route\'s hostname.' } as const;

export const deadLetterListQuery = {
  type: 'object',
  properties: {
    hostname: hostnameQuery,
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
    offset: { type: 'integer', minimum: 0, default: 0 },
  },
} as const;

export const routeQuery = { type: 'object', required: ['hostname'], properties: { hostname: hostnameQuery } } as const;

export const statsQuery = {
  type: 'object', required: ['start_date'],
  properties: {
    start_date: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$', 'x-error': 'start_date must be a date in the format YYYY-MM-DD' },
    end_date: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$', 'x-error': 'end_date must be a date in the format YYYY-MM-DD' },
    offset: { type: 'integer', minimum: 0, default: 0 },
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 500 },
  },
} as const;

export const dayStats = {
  type: 'array',
  items: {
    type: 'object', required: ['date', 'stats'],
    properties: {
      date: { type: 'string' },
      stats: { type: 'array', items: { type: 'object', properties: { metrics: { type: 'object', properties: { received: { type: 'integer' } } } } } },
    },
  },
} as const;

export const routeStats = {
  type: 'object', required: ['received', 'delivered', 'retrying', 'dead'],
  properties: { received: { type: 'integer' }, delivered: { type: 'integer' }, retrying: { type: 'integer' }, dead: { type: 'integer' } },
} as const;

export const secretInfo = {
  type: 'object', required: ['id', 'created_at'], properties: { id: { type: 'string' }, created_at: { type: 'string' } },
} as const;

export const newSecret = {
  type: 'object', required: ['id', 'secret', 'created_at'],
  properties: { id: { type: 'string' }, secret: { type: 'string', description: 'whsec_...; shown in this answer only.' }, created_at: { type: 'string' } },
} as const;

const attempt = {
  type: 'object', additionalProperties: true,
  properties: { attempt: { type: 'integer' }, at: { type: 'string' }, outcome: { type: 'string' }, status: { type: 'integer' }, reason: { type: 'string' }, durationMs: { type: 'number' } },
} as const;

export const deadLetter = {
  type: 'object',
  properties: {
    deliveryId: { type: 'string' }, messageId: { type: 'string' }, hostname: { type: 'string' },
    reason: { type: 'string', description: 'The HTTP status or error, and at most a short labelled excerpt of the app\'s answer.' },
    diedAt: { type: 'string' }, receivedAt: { type: 'string' }, mailFrom: { type: 'string' },
    recipients: { type: 'array', items: { type: 'string' }, description: 'This delivery\'s recipients.' },
    rule: { type: 'string', description: 'The address rule (its match pattern) that made this delivery, when one did.' }, attempts: { type: 'array', items: attempt },
  },
} as const;

export const replayed = {
  type: 'object', required: ['replayed'],
  properties: { replayed: { type: 'array', items: { type: 'object', properties: { dead_letter: { type: 'string' }, delivery_id: { type: 'string' } } } } },
} as const;

export const health = {
  type: 'object', required: ['status'], properties: {
    status: { type: 'string', description: 'ok; degraded (running, but new mail is answered 451 for now); or what is wrong' },
    reasons: { type: 'array', items: { type: 'string' }, description: 'why it is degraded' },
  },
} as const;
