/**
 * The MX-facing SMTP listener: accepts mail only for registered hostnames, enforces the size limit,
 * prepends a Received: header and answers 250 only once the message and its deliveries are stored.
 */
import { SMTPServer, type SMTPServerAddress, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import type { Logger } from 'pino';
import { isReservedLocalPart, splitAddress } from '../domain/address.ts';
import { routeRecipient, ruleUrl } from '../domain/address-rules.ts';
import { maskUrlPassword } from '../config/redact.ts';
import { MxhookError, smtpReplyFor, type ErrorCode } from '../domain/errors.ts';
import { Readable } from 'node:stream';
import { newMessageId, type AcceptMessage, type DeliveryTarget, type LookupRoute, type StageMessage } from '../domain/message.ts';
import type { SmtpMetrics } from '../domain/metrics.ts';
import { buildReceivedHeader } from '../domain/received.ts';
import { allowExplicitEnhancedCodes } from './enhanced-codes.ts';
import { checkAuthentication, preloadAuthChecks, type AuthCheckOptions } from './auth-check.ts';
import { collectData } from './data-collector.ts';
import { withCommandHook } from './command-hook.ts';
import { createSessionLimits, type SessionLimitOptions } from './session-limits.ts';
import { MIN_TLS_VERSION, watchTlsFiles, type SmtpTlsMaterial } from './tls.ts';

/** Limits and deadlines of each session: see session-limits.ts. */
export interface SmtpIntakeOptions extends SessionLimitOptions {
  /** Where messages past STAGE_AT bytes go while they arrive (data-collector.ts); absent: all in memory. */
  readonly stageMessage?: StageMessage | undefined;
  /** Counts accepted and refused mail for /metrics (app/metrics.ts); optional. */
  readonly metrics?: SmtpMetrics | undefined;
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
  /** While true, new connections get 421 4.3.2 (graceful shutdown); sessions in progress go on. */
  readonly isDraining?: () => boolean;
  /** Concurrent connections from one client IP. Default 20. */
  readonly maxConnectionsPerIp: number;
  /** Whole-session deadline, ms (421 4.7.0 when it passes, even mid-DATA). Default 10 min. */
  readonly sessionDeadlineMs: number;
  /** Commands per message (from the session start or the last DATA) before 421 4.7.0. Default 200. */
  readonly maxCommands: number;
  /** Idle time allowed while the client owes us input, ms. Default 1 min. */
  readonly idleTimeoutMs: number;
  /** Certificate for STARTTLS and the implicit-TLS listener (see tls.ts); undefined: no STARTTLS. */
  readonly tls?: SmtpTlsMaterial | undefined;
  /** How often certificate files are checked for changes, ms; 0: on SIGHUP only. */
  readonly tlsWatchIntervalMs?: number;
  /** Also build a listener with implicit TLS (`implicitTls`, bound by the caller). Needs `tls`. */
  readonly implicitTls?: boolean;
  /** Every connection starts with a PROXY protocol v1 header (behind a TCP load balancer). */
  readonly proxyProtocol?: boolean;
  /** SPF/DKIM/DMARC/ARC at the end of DATA, stored with the message; undefined: not checked. */
  readonly auth?: AuthCheckOptions | undefined;
  /** While true (Redis near full), new mail gets 451 4.3.0 at MAIL, RCPT and the end of DATA. */
  readonly isStoreFull?: () => boolean;
}

/** The plain listener; `implicitTls` is the second one when asked for. Closing the plain one stops TLS reloads. */
export type SmtpIntake = SMTPServer & { readonly implicitTls?: SMTPServer };

/**
 * Messages up to this size are held in memory until stored; bigger ones are staged as they arrive.
 * Twenty large messages arriving at once each hold this much, and its copies, at the same moment.
 */
const STAGE_AT = 512 * 1024;
/**
 * Then appended in pieces this big: each of many concurrent large messages holds a piece, its
 * concatenation and the Redis command's copy at once, so this bounds the SMTP process's memory.
 */
const APPEND_EVERY = 256 * 1024;

/** Per-session state smtp-server lets us hang on the session object. */
interface SessionState {
  /**
   * One delivery per hostname, and per address rule (and plus tag) under it, keyed by those
   * three; each with the recipients accepted for it, in RCPT order.
   */
  deliveriesByTarget: Map<string, DeliveryTarget & { recipients: string[] }>;
  /** Addresses accepted so far, lower-cased: smtp-server's envelope keeps a repeated one once, so do we. */
  accepted: Set<string>;
}

export function createSmtpIntake(options: SmtpIntakeOptions): SmtpIntake {
  allowExplicitEnhancedCodes();
  const { logger } = options;
  if (options.implicitTls && !options.tls) throw new Error('the implicit-TLS SMTP port needs a certificate (MXHOOK_TLS_CERT/MXHOOK_TLS_KEY, or self-signed TLS)');
  const servers: SMTPServer[] = [];
  const limits = createSessionLimits(options, () => servers, logger);
  if (options.auth) preloadAuthChecks();
  const state = new WeakMap<SMTPServerSession, SessionState>();
  const stateOf = (session: SMTPServerSession): SessionState => {
    let s = state.get(session);
    if (!s) state.set(session, (s = { deliveriesByTarget: new Map(), accepted: new Set() }));
    return s;
  };

  // Every refusal goes through here, so it is also where refusals are counted.
  const reject = (code: ErrorCode, detail?: string, hostname?: string): Error => {
    const reply = smtpReplyFor(code, detail);
    options.metrics?.rejected(reply.responseCode, code, hostname);
    return Object.assign(new Error(reply.message), { responseCode: reply.responseCode });
  };

  const serverOptions: SMTPServerOptions = withCommandHook({
    name: options.hostname,
    banner: 'mxhook ESMTP',
    size: options.maxMessageSize,
    // maxClients is enforced by session-limits.ts (smtp-server's own reply lacks an enhanced code);
    // smtp-server's check stays as a backstop for sockets still in a TLS handshake or PROXY header.
    maxClients: options.maxClients * 2,
    authOptional: true,
    // Without our certificate STARTTLS is off entirely: smtp-server would fall back to its built-in, publicly known key.
    disabledCommands: options.tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    hideENHANCEDSTATUSCODES: false,
    hidePIPELINING: false,
    hide8BITMIME: false,
    hideSMTPUTF8: false,
    disableReverseLookup: true,
    socketTimeout: options.idleTimeoutMs,
    useProxy: options.proxyProtocol ?? false,
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
    minVersion: MIN_TLS_VERSION,
    // The application drains sessions itself before close(); this is only the final cut.
    closeTimeout: 1_000,
    logger: options.logProtocol ? (logger.child({ component: 'smtp-protocol' }) as never) : false,

    onConnect(session, callback) {
      if (options.isDraining?.()) return callback(reject('SHUTTING_DOWN'));
      const refused = limits.admit(session);
      if (refused) options.metrics?.rejected(refused.responseCode, 'CONNECTION_LIMIT');
      callback(refused);
    },

    onClose(session) {
      limits.release(session);
    },

    onMailFrom(_address, session, callback) {
      // While draining, a session may finish its message but not start another one.
      if (options.isDraining?.()) return callback(reject('SHUTTING_DOWN'));
      if (options.isStoreFull?.()) return callback(reject('STORE_FULL'));
      // A new transaction on the same connection starts with an empty recipient set.
      Object.assign(stateOf(session), { deliveriesByTarget: new Map(), accepted: new Set() });
      callback();
    },

    onRcptTo(address: SMTPServerAddress, session, callback) {
      const s = stateOf(session);
      // A repeated RCPT TO is accepted again but neither counted nor listed twice.
      const addressKey = address.address.toLowerCase();
      if (s.accepted.has(addressKey)) return callback();
      if (s.accepted.size >= options.maxRecipients) return callback(reject('TOO_MANY_RECIPIENTS'));
      if (options.isStoreFull?.()) return callback(reject('STORE_FULL'));
      const parts = splitAddress(address.address);
      if (!parts) return callback(reject('BAD_RECIPIENT'));
      if (isReservedLocalPart(parts.local, options.reservedLocalParts)) {
        logger.info({ event: 'smtp_rcpt_rejected', session: session.id, ip: session.remoteAddress, rcpt: address.address, code: 'RESERVED_RECIPIENT' });
        return callback(reject('RESERVED_RECIPIENT', undefined, parts.hostname));
      }
      options.lookupRoute(parts.hostname).then(
        (route) => {
          if (!route) {
            logger.info({ event: 'smtp_rcpt_rejected', session: session.id, ip: session.remoteAddress, rcpt: address.address, code: 'RELAY_DENIED' });
            return callback(reject('RELAY_DENIED', undefined, parts.hostname));
          }
          const routing = routeRecipient(route.address_rules, parts.local);
          if (routing.kind === 'drop') {
            logger.info({ event: 'smtp_rcpt_rejected', session: session.id, ip: session.remoteAddress, rcpt: address.address, code: 'RECIPIENT_DROPPED', rule: routing.rule });
            return callback(reject('RECIPIENT_DROPPED', undefined, parts.hostname));
          }
          const key = `${route.hostname}\n${routing.rule ?? ''}\n${routing.mailboxHash ?? ''}`;
          let delivery = s.deliveriesByTarget.get(key);
          if (!delivery) {
            delivery = routing.rule === undefined ? { hostname: route.hostname, recipients: [] } : {
              hostname: route.hostname, recipients: [], rule: routing.rule, url: maskUrlPassword(ruleUrl(route.address_rules, routing.rule, route.url)),
              ...(routing.mailboxHash !== undefined ? { mailboxHash: routing.mailboxHash } : {}),
            };
            s.deliveriesByTarget.set(key, delivery);
          }
          delivery.recipients.push(address.address);
          s.accepted.add(addressKey);
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
      // The id and our Received: header, made once: when staging starts, or at the end of DATA.
      let head: { id: string; bytes: Buffer } | undefined;
      const begin = () => {
        if (head) return head;
        const id = newMessageId();
        const received = buildReceivedHeader({
          helo: session.hostNameAppearsAs ?? '', clientIp: session.remoteAddress, ourHostname: options.hostname,
          id, recipients: session.envelope.rcptTo.map((r) => r.address), secure: session.secure, date: new Date(started),
          utf8: session.envelope.smtpUtf8 === true,
        });
        // UTF-8: an SMTPUTF8 HELO or recipient in Latin-1 would make the whole header block invalid UTF-8.
        return (head = { id, bytes: Buffer.from(received, 'utf8') });
      };
      const stageMessage = options.stageMessage;
      limits.dataStarted(session, stream);
      collectData(stream, {
        maxMessageSize: options.maxMessageSize, stageAt: STAGE_AT, appendEvery: APPEND_EVERY,
        openStage: stageMessage && (() => ({ stage: stageMessage(begin().id), head: begin().bytes })),
      }).then((data) => {
        limits.messageDone(session);
        const { size } = data;
        const s = stateOf(session);
        const logBase = {
          event: 'smtp_transaction', session: session.id, ip: session.remoteAddress, helo: session.hostNameAppearsAs,
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', rcpt: session.envelope.rcptTo.map((r) => r.address), size,
        };
        if (data.tooBig) {
          void data.stage?.discard().catch(() => {});
          logger.info({ ...logBase, result: 552, code: 'MESSAGE_TOO_BIG' });
          return callback(reject('MESSAGE_TOO_BIG'));
        }
        const { id, bytes: receivedBytes } = begin();
        // One copy: the Received: header and the chunks straight into the stored bytes; the
        // client's own message (for the authentication checks) is a view into them. A staged
        // message already has its head and first bytes in the store: `raw` is only the rest.
        const raw = data.stage ? Buffer.concat(data.chunks) : Buffer.concat([receivedBytes, ...data.chunks], receivedBytes.length + size);
        const stage = data.stage;
        const body = stage ? Readable.from((async function* () { yield* stage.read(receivedBytes.length); yield* data.chunks; })()) : raw.subarray(receivedBytes.length);
        const stored = data.staged + raw.length;
        const envelope = { clientIp: session.remoteAddress, helo: session.hostNameAppearsAs || '', mailFrom: logBase.from };
        // The reply to this message must not be cut by the session deadline while it is checked and stored.
        limits.setBusy(session, true);
        const refusal = data.stageError !== undefined ? data.stageError
          : options.isStoreFull?.() ? new MxhookError('STORE_FULL') : undefined;
        (refusal !== undefined ? Promise.reject(refusal) : Promise.resolve())
          .then(() => (options.auth ? checkAuthentication({ message: body, ...envelope }, options.auth) : undefined))
          .then((auth) => options.acceptMessage({
            id, raw, ...envelope, receivedAt: started, ...(stage ? { staged: data.staged } : {}),
            deliveries: [...s.deliveriesByTarget.values()],
            ...(auth ? { auth } : {}),
          }).then(() => auth))
          .then(
            (auth) => {
              const verdicts = auth ? { spf: auth.spf.result, dkim: auth.dkim.map((d) => `${d.domain}:${d.result}`), dmarc: auth.dmarc.result } : {};
              logger.info({ ...logBase, id, result: 250, deliveries: s.deliveriesByTarget.size, ms: Date.now() - started, ...verdicts });
              options.metrics?.accepted(stored);
              callback(null, `Ok: queued as ${id}`);
            },
            (err: unknown) => {
              // Whatever failed (a staging append, the store), the sender hears 451 and tries again later.
              const code = err instanceof MxhookError ? err.code : 'STORE_UNAVAILABLE';
              logger.error({ ...logBase, id, result: 451, code, err: String((err as Error).cause ?? err) });
              void stage?.discard().catch(() => {});
              callback(reject(code === 'STORE_FULL' ? 'STORE_FULL' : 'STORE_UNAVAILABLE'));
            },
          )
          .finally(() => limits.setBusy(session, false));
      }, (err: unknown) => {
        limits.messageDone(session);
        callback(err as Error);
      });
    },
  }, limits.onCommand);
  // smtp-server changes the options object it is given, so each listener gets its own copy.
  const server = new SMTPServer({ ...serverOptions });
  servers.push(server);
  let implicitTls: SMTPServer | undefined;
  if (options.implicitTls) {
    implicitTls = new SMTPServer({ ...serverOptions, secure: true, disabledCommands: ['AUTH', 'STARTTLS'] });
    servers.push(implicitTls);
  }
  for (const listener of servers) listener.on('error', (err) => logger.warn({ event: 'smtp_error', secure: listener === implicitTls, err: String(err) }));
  const stopWatching = watchTlsFiles(options.tls, {
    watchIntervalMs: options.tlsWatchIntervalMs ?? 0, logger,
    apply: (material) => {
      for (const listener of servers) listener.updateSecureContext({ key: material.key, cert: material.cert });
    },
  });
  server.once('close', stopWatching);
  return Object.assign(server, implicitTls ? { implicitTls } : {});
}
