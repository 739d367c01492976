/**
 * The MX-facing SMTP listener: accepts mail only for registered hostnames, enforces the size limit,
 * prepends a Received: header and answers 250 only once the message and its deliveries are stored.
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';
import type { Logger } from 'pino';
import { isReservedLocalPart, splitAddress } from '../domain/address.ts';
import { MxhookError, smtpReplyFor, type ErrorCode } from '../domain/errors.ts';
import type { AcceptMessage, LookupRoute } from '../domain/message.ts';
import { buildReceivedHeader } from '../domain/received.ts';
import { allowExplicitEnhancedCodes } from './enhanced-codes.ts';

export interface SmtpIntakeOptions {
  /** Our name in the greeting and Received: headers. */
  readonly hostname: string;
  /** Bytes; advertised with SIZE. Default 30 MB. */
  readonly maxMessageSize: number;
  /** RCPT TO accepted per message. Default 100. */
  readonly maxRecipients: number;
  /** Concurrent connections. Default 1000. */
  readonly maxClients: number;
  /** Local parts refused at parse hostnames. Default abuse, postmaster, unsubscribe. */
  readonly reservedLocalParts: readonly string[];
  readonly lookupRoute: LookupRoute;
  readonly acceptMessage: AcceptMessage;
  readonly logger: Logger;
  /** Log every command and reply. Default false. */
  readonly logProtocol?: boolean;
}

/** Per-session state smtp-server lets us hang on the session object. */
interface SessionState {
  /** Normalised hostname -> recipients accepted for it, in RCPT order. */
  byHostname: Map<string, string[]>;
}

export function createSmtpIntake(options: SmtpIntakeOptions): SMTPServer {
  allowExplicitEnhancedCodes();
  const { logger } = options;
  const state = new WeakMap<SMTPServerSession, SessionState>();
  const stateOf = (session: SMTPServerSession): SessionState => {
    let s = state.get(session);
    if (!s) state.set(session, (s = { byHostname: new Map() }));
    return s;
  };

  const reject = (code: ErrorCode, detail?: string): Error => {
    const reply = smtpReplyFor(code, detail);
    return Object.assign(new Error(reply.message), { responseCode: reply.responseCode });
  };

  const server = new SMTPServer({
    name: options.hostname,
    banner: 'mxhook ESMTP',
    size: options.maxMessageSize,
    maxClients: options.maxClients,
    authOptional: true,
    disabledCommands: ['AUTH'],
    hideENHANCEDSTATUSCODES: false,
    hidePIPELINING: false,
    hide8BITMIME: false,
    hideSMTPUTF8: false,
    disableReverseLookup: true,
    logger: options.logProtocol ? (logger.child({ component: 'smtp-protocol' }) as never) : false,

    onMailFrom(_address, session, callback) {
      // A new transaction on the same connection starts with an empty recipient set.
      stateOf(session).byHostname = new Map();
      callback();
    },

    onRcptTo(address: SMTPServerAddress, session, callback) {
      const s = stateOf(session);
      const accepted = [...s.byHostname.values()].reduce((n, list) => n + list.length, 0);
      if (accepted >= options.maxRecipients) return callback(reject('TOO_MANY_RECIPIENTS'));
      const parts = splitAddress(address.address);
      if (!parts) return callback(reject('BAD_RECIPIENT'));
      if (isReservedLocalPart(parts.local, options.reservedLocalParts)) {
        logger.info({ event: 'smtp_rcpt_rejected', session: session.id, ip: session.remoteAddress, rcpt: address.address, code: 'RESERVED_RECIPIENT' });
        return callback(reject('RESERVED_RECIPIENT'));
      }
      options.lookupRoute(parts.hostname).then(
        (route) => {
          if (!route) {
            logger.info({ event: 'smtp_rcpt_rejected', session: session.id, ip: session.remoteAddress, rcpt: address.address, code: 'RELAY_DENIED' });
            return callback(reject('RELAY_DENIED'));
          }
          const list = s.byHostname.get(route.hostname) ?? [];
          list.push(address.address);
          s.byHostname.set(route.hostname, list);
          callback();
        },
        (err: unknown) => {
          logger.error({ event: 'smtp_route_lookup_failed', session: session.id, err: String(err) });
          callback(reject('ROUTE_LOOKUP_FAILED'));
        },
      );
    },

    onData(stream: Readable & { sizeExceeded?: boolean }, session, callback) {
      const started = Date.now();
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        // Past the limit, keep reading (the client is still sending) but keep nothing.
        if (size <= options.maxMessageSize) chunks.push(chunk);
      });
      stream.once('error', (err) => callback(err));
      stream.once('end', () => {
        const s = stateOf(session);
        const logBase = {
          event: 'smtp_transaction', session: session.id, ip: session.remoteAddress, helo: session.hostNameAppearsAs,
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', rcpt: session.envelope.rcptTo.map((r) => r.address), size,
        };
        if (stream.sizeExceeded || size > options.maxMessageSize) {
          logger.info({ ...logBase, result: 552, code: 'MESSAGE_TOO_BIG' });
          // smtp-server itself answers 552 5.3.4 for an oversized stream.
          return callback(reject('MESSAGE_TOO_BIG'));
        }
        const id = newMessageId();
        const recipients = session.envelope.rcptTo.map((r) => r.address);
        const received = buildReceivedHeader({
          helo: session.hostNameAppearsAs ?? '', clientIp: session.remoteAddress, ourHostname: options.hostname,
          id, recipients, secure: session.secure, date: new Date(started),
        });
        const raw = Buffer.concat([Buffer.from(received, 'latin1'), ...chunks]);
        options.acceptMessage({
          id, raw, clientIp: session.remoteAddress, helo: session.hostNameAppearsAs ?? '',
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          receivedAt: started,
          deliveries: [...s.byHostname].map(([hostname, rcpts]) => ({ hostname, recipients: rcpts })),
        }).then(
          () => {
            logger.info({ ...logBase, id, result: 250, deliveries: s.byHostname.size, ms: Date.now() - started });
            callback(null, `Ok: queued as ${id}`);
          },
          (err: unknown) => {
            const code = err instanceof MxhookError ? err.code : 'STORE_UNAVAILABLE';
            logger.error({ ...logBase, id, result: 451, code, err: String((err as Error).cause ?? err) });
            callback(reject(code === 'STORE_UNAVAILABLE' ? code : 'STORE_UNAVAILABLE'));
          },
        );
      });
    },
  });
  server.on('error', (err) => logger.warn({ event: 'smtp_error', err: String(err) }));
  return server;
}

/** Time-ordered (base36 milliseconds) plus 64 random bits: unique across SMTP nodes. */
export function newMessageId(): string {
  return `${Date.now().toString(36)}${randomBytes(8).toString('hex')}`;
}
