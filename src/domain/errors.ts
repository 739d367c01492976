/**
 * The error catalogue: every failure mxhook reports to a client has a stable code here, with the
 * SMTP reply and/or HTTP status it maps to. Code raises `MxhookError(code)`; SMTP and HTTP layers
 * turn it into the wire answer, so the same failure always reads the same way.
 */

export interface CatalogueEntry {
  /** SMTP basic reply code, when the error can reach an SMTP client. */
  readonly smtp?: { readonly code: number; readonly enhanced: string };
  /** HTTP status, when the error can reach an API client. */
  readonly http?: number;
  readonly message: string;
}

export const errorCatalogue = {
  RELAY_DENIED: { smtp: { code: 550, enhanced: '5.7.1' }, message: 'Relay access denied: no parse route for this domain' },
  RESERVED_RECIPIENT: { smtp: { code: 550, enhanced: '5.7.1' }, message: 'This mailbox is reserved and does not accept mail' },
  RECIPIENT_DROPPED: { smtp: { code: 550, enhanced: '5.1.1' }, message: 'Mailbox unavailable: this address does not accept mail' },
  BAD_RECIPIENT: { smtp: { code: 553, enhanced: '5.1.3' }, message: 'Recipient address is not valid' },
  TOO_MANY_RECIPIENTS: { smtp: { code: 452, enhanced: '4.5.3' }, message: 'Too many recipients for one message' },
  MESSAGE_TOO_BIG: { smtp: { code: 552, enhanced: '5.3.4' }, message: 'Message size exceeds the fixed maximum message size' },
  STORE_UNAVAILABLE: { smtp: { code: 451, enhanced: '4.3.0' }, http: 503, message: 'Temporary local problem storing the message, try again later' },
  STORE_FULL: { smtp: { code: 451, enhanced: '4.3.0' }, http: 503, message: 'Temporary local problem: message storage is nearly full, try again later' },
  SHUTTING_DOWN: { smtp: { code: 421, enhanced: '4.3.2' }, message: 'Service shutting down, try again later' },
  ROUTE_LOOKUP_FAILED: { smtp: { code: 451, enhanced: '4.3.0' }, message: 'Temporary local problem looking up the route, try again later' },
  TOO_MANY_CLIENTS: { smtp: { code: 421, enhanced: '4.7.0' }, message: 'Too many connections, try again later' },
  TOO_MANY_CONNECTIONS_FROM_IP: { smtp: { code: 421, enhanced: '4.7.0' }, message: 'Too many connections from your address, try again later' },
  TOO_MANY_CONNECTIONS_FROM_NETWORK: { smtp: { code: 421, enhanced: '4.7.0' }, message: 'Too many connections from your network, try again later' },
  COMMAND_DEADLINE: { smtp: { code: 421, enhanced: '4.4.2' }, message: 'Command not received in time, closing connection' },
  DATA_TOO_SLOW: { smtp: { code: 421, enhanced: '4.4.2' }, message: 'Message data arriving too slowly, closing connection' },
  SESSION_DEADLINE: { smtp: { code: 421, enhanced: '4.7.0' }, message: 'Session time limit reached, closing connection' },
  TOO_MANY_COMMANDS: { smtp: { code: 421, enhanced: '4.7.0' }, message: 'Too many commands without a message, closing connection' },
  UNAUTHORIZED: { http: 401, message: 'authorization required: send the API key as a Bearer token' },
  NOT_FOUND: { http: 404, message: 'not found' },
  METHOD_NOT_ALLOWED: { http: 405, message: 'method not allowed' },
  BAD_REQUEST_PATH: { http: 400, message: 'the request path is not valid (a malformed % escape?)' },
  BAD_DEAD_LETTER_ID: { http: 400, message: 'not a dead-letter id: ids look like <message id>.<n>, as listed' },
  BAD_JSON: { http: 400, message: 'request body is not valid JSON' },
  CSRF_FAILED: { http: 403, message: 'missing or wrong CSRF token (X-CSRF-Token), or a cross-origin request' },
  LOGIN_THROTTLED: { http: 429, message: 'too many failed logins from this address; wait and try again' },
  TEST_MAIL_FAILED: { http: 503, message: 'the test mail was not accepted by the SMTP listener' },
  CONSOLE_NOT_BUILT: { http: 503, message: 'the console is not built: run npm run build' },
  BAD_FORM: { http: 400, message: 'request body is not multipart/form-data' },
  BODY_TOO_LARGE: { http: 413, message: 'request body is too large' },
  ATTACHMENT_LINK_INVALID: { http: 403, message: 'not a valid attachment link (altered, or not made by this server)' },
  ATTACHMENT_LINK_EXPIRED: { http: 410, message: 'this attachment link has expired' },
  ATTACHMENT_GONE: { http: 404, message: 'the message of this attachment link is no longer kept' },
  ATTACHMENT_BUSY: { http: 503, message: 'too many attachment downloads at once; try again shortly' },
  VALIDATION_FAILED: { http: 400, message: 'invalid parse setting' },
  DUPLICATE_HOSTNAME: { http: 409, message: 'a parse setting for this hostname already exists' },
  INVALID_EVENT_DESTINATION: { http: 400, message: 'invalid event destination' },
  EVENTS_NEED_MESSAGE_LOG: { http: 409, message: 'event webhooks need the message log: start mxhook with MXHOOK_MESSAGE_LOG=on' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof errorCatalogue;

/** One field-level problem, in SendGrid's `{"errors":[{"field":..,"message":..}]}` shape. */
export interface FieldError {
  readonly field: string | null;
  readonly message: string;
}

export class MxhookError extends Error {
  readonly code: ErrorCode;
  readonly fieldErrors: readonly FieldError[];
  constructor(code: ErrorCode, options: { message?: string; fieldErrors?: readonly FieldError[]; cause?: unknown } = {}) {
    super(options.message ?? errorCatalogue[code].message, { cause: options.cause });
    this.name = 'MxhookError';
    this.code = code;
    this.fieldErrors = options.fieldErrors ?? [];
  }
}

/** The SMTP reply line text for a catalogue code: enhanced status code first, as RFC 3463 wants. */
export function smtpReplyFor(code: ErrorCode, detail?: string): { responseCode: number; message: string } {
  const entry: CatalogueEntry = errorCatalogue[code];
  if (!entry.smtp) throw new Error(`${code} has no SMTP reply`);
  return { responseCode: entry.smtp.code, message: `${entry.smtp.enhanced} ${detail ?? entry.message}` };
}
