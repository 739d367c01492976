/**
 * Abuse limits of the SMTP listeners, shared by the plain and the implicit-TLS one: concurrent
 * clients, connections per client IP, a whole-session deadline (the idle timeout alone never stops
 * a client that drips a byte now and then) and commands per message. Every refusal is `421 4.7.0`
 * and closes the connection.
 */
import type { SMTPServer, SMTPServerSession } from 'smtp-server';
import type { Logger } from 'pino';
import { smtpReplyFor, type ErrorCode } from '../domain/errors.ts';

export interface SessionLimitOptions {
  /** Concurrent connections over all listeners. */
  readonly maxClients: number;
  /** Concurrent connections from one client IP (the proxied one behind a PROXY load balancer). */
  readonly maxConnectionsPerIp: number;
  /** A session is closed this long after it started, ms, even in the middle of DATA. */
  readonly sessionDeadlineMs: number;
  /** Commands accepted from the start of the session, or since the last message, before DATA ends. */
  readonly maxCommands: number;
}

interface Tracked {
  readonly ip: string;
  readonly startedAt: number;
  readonly timer: NodeJS.Timeout;
  commands: number;
  /** A message is in and being checked and stored: its reply must not be cut off. */
  busy: boolean;
  expired: boolean;
}

export interface SessionLimits {
  /** In onConnect: an error to refuse the connection with, or undefined (then the session is tracked). */
  admit(session: SMTPServerSession): (Error & { responseCode: number }) | undefined;
  /** Before each command: the 421 reply text to close with, or undefined. */
  onCommand(session: SMTPServerSession, commandName: string): string | undefined;
  /** Between the end of DATA and our reply (checks and storing). */
  setBusy(session: SMTPServerSession, busy: boolean): void;
  /** A message's DATA ended (accepted or not): its command count starts again. */
  messageDone(session: SMTPServerSession): void;
  /** In onClose. */
  release(session: SMTPServerSession): void;
}

export function createSessionLimits(options: SessionLimitOptions, servers: () => readonly SMTPServer[], logger: Logger): SessionLimits {
  const sessions = new Map<string, Tracked>();
  const perIp = new Map<string, number>();
  const refusal = (code: ErrorCode) => {
    const reply = smtpReplyFor(code);
    return Object.assign(new Error(reply.message), { responseCode: reply.responseCode });
  };

  const cut = (sessionId: string) => {
    const tracked = sessions.get(sessionId);
    if (!tracked) return;
    tracked.expired = true;
    // A message being stored gets its reply; the next command is then refused (onCommand).
    if (tracked.busy) return;
    for (const server of servers()) {
      for (const connection of server.connections) {
        if (connection.id !== sessionId) continue;
        logger.info({ event: 'smtp_limit', limit: 'session_deadline', session: sessionId, ip: tracked.ip, ms: Date.now() - tracked.startedAt });
        connection.send(421, smtpReplyFor('SESSION_DEADLINE').message);
        return;
      }
    }
  };

  return {
    admit(session) {
      const ip = session.remoteAddress;
      if (sessions.size >= options.maxClients) {
        logger.warn({ event: 'smtp_limit', limit: 'max_clients', ip, clients: sessions.size });
        return refusal('TOO_MANY_CLIENTS');
      }
      const fromIp = perIp.get(ip) ?? 0;
      if (fromIp >= options.maxConnectionsPerIp) {
        logger.info({ event: 'smtp_limit', limit: 'connections_per_ip', ip, connections: fromIp });
        return refusal('TOO_MANY_CONNECTIONS_FROM_IP');
      }
      perIp.set(ip, fromIp + 1);
      const timer = setTimeout(() => cut(session.id), options.sessionDeadlineMs);
      timer.unref();
      sessions.set(session.id, { ip, startedAt: Date.now(), timer, commands: 0, busy: false, expired: false });
      return undefined;
    },
    onCommand(session, commandName) {
      const tracked = sessions.get(session.id);
      if (!tracked) return undefined;
      if (tracked.expired) return smtpReplyFor('SESSION_DEADLINE').message;
      tracked.commands += 1;
      if (tracked.commands > options.maxCommands) {
        logger.info({ event: 'smtp_limit', limit: 'max_commands', session: session.id, ip: tracked.ip, command: commandName.slice(0, 16) });
        return smtpReplyFor('TOO_MANY_COMMANDS').message;
      }
      return undefined;
    },
    setBusy(session, busy) {
      const tracked = sessions.get(session.id);
      if (tracked) tracked.busy = busy;
    },
    messageDone(session) {
      const tracked = sessions.get(session.id);
      if (tracked) tracked.commands = 0;
    },
    release(session) {
      const tracked = sessions.get(session.id);
      if (!tracked) return;
      sessions.delete(session.id);
      clearTimeout(tracked.timer);
      const left = (perIp.get(tracked.ip) ?? 1) - 1;
      if (left > 0) perIp.set(tracked.ip, left);
      else perIp.delete(tracked.ip);
    },
  };
}
