/**
 * Abuse limits of the SMTP listeners, shared by the plain and the implicit-TLS one: concurrent
 * clients, connections per client address and per network (IPv4 /24, IPv6 /64: client-network.ts),
 * a whole-session deadline, the per-command and DATA-rate deadlines of session-deadlines.ts (the
 * idle timeout alone never stops a client that drips a byte now and then) and commands per
 * message. Every refusal is a `421` and closes the connection; a session we cut stops counting
 * against the limits at once, not when its client finally closes its side.
 */
import type { SMTPServer, SMTPServerSession } from 'smtp-server';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { clientNetwork } from '../domain/client-network.ts';
import { smtpReplyFor, type ErrorCode } from '../domain/errors.ts';
import { watchDeadlines, type DeadlineOptions, type DeadlineWatch } from './session-deadlines.ts';

export interface SessionLimitOptions extends DeadlineOptions {
  /** Concurrent connections over all listeners. */
  readonly maxClients: number;
  /** Concurrent connections from one client IP (the proxied one behind a PROXY load balancer). */
  readonly maxConnectionsPerIp: number;
  /** Concurrent connections from one IPv4 /24. */
  readonly maxConnectionsPerIpv4Network: number;
  /** Concurrent connections from one IPv6 /64. */
  readonly maxConnectionsPerIpv6Network: number;
  /** A session is closed this long after it started, ms, even in the middle of DATA. */
  readonly sessionDeadlineMs: number;
  /** Commands accepted from the start of the session, or since the last message, before DATA ends. */
  readonly maxCommands: number;
}

interface Tracked {
  readonly ip: string;
  /** Keys this session is counted under: its address, and its network when it has one. */
  readonly counted: readonly string[];
  readonly startedAt: number;
  readonly timer: NodeJS.Timeout;
  readonly deadlines: DeadlineWatch;
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
  /** In onData: the message's bytes start arriving (their rate is watched). */
  dataStarted(session: SMTPServerSession, stream: Readable): void;
  /** Between the end of DATA and our reply (checks and storing). */
  setBusy(session: SMTPServerSession, busy: boolean): void;
  /** A message's DATA ended (accepted or not): its command count starts again. */
  messageDone(session: SMTPServerSession): void;
  /** In onClose. */
  release(session: SMTPServerSession): void;
}

export function createSessionLimits(options: SessionLimitOptions, servers: () => readonly SMTPServer[], logger: Logger): SessionLimits {
  const sessions = new Map<string, Tracked>();
  /** Connections per address (`ip:...`) and per network (`net:...`). */
  const counts = new Map<string, number>();
  const refusal = (code: ErrorCode) => {
    const reply = smtpReplyFor(code);
    return Object.assign(new Error(reply.message), { responseCode: reply.responseCode });
  };

  const forget = (sessionId: string) => {
    const tracked = sessions.get(sessionId);
    if (!tracked) return;
    sessions.delete(sessionId);
    clearTimeout(tracked.timer);
    tracked.deadlines.stop();
    for (const key of tracked.counted) {
      const left = (counts.get(key) ?? 1) - 1;
      if (left > 0) counts.set(key, left);
      else counts.delete(key);
    }
  };

  const cut = (sessionId: string, code: 'SESSION_DEADLINE' | 'COMMAND_DEADLINE' | 'DATA_TOO_SLOW') => {
    const tracked = sessions.get(sessionId);
    if (!tracked) return;
    tracked.expired = true;
    // A message being stored gets its reply; the next command is then refused (onCommand).
    if (tracked.busy) return;
    for (const server of servers()) {
      for (const connection of server.connections) {
        if (connection.id !== sessionId) continue;
        logger.info({ event: 'smtp_limit', limit: code.toLowerCase(), session: sessionId, ip: tracked.ip, ms: Date.now() - tracked.startedAt });
        connection.send(421, smtpReplyFor(code).message);
        break;
      }
    }
    // The slot is free now: a client that never closes its side must not keep it.
    forget(sessionId);
  };

  return {
    admit(session) {
      const ip = session.remoteAddress;
      if (sessions.size >= options.maxClients) {
        logger.warn({ event: 'smtp_limit', limit: 'max_clients', ip, clients: sessions.size });
        return refusal('TOO_MANY_CLIENTS');
      }
      const network = clientNetwork(ip);
      const addressKey = `ip:${network?.address ?? ip}`;
      const fromIp = counts.get(addressKey) ?? 0;
      if (fromIp >= options.maxConnectionsPerIp) {
        logger.info({ event: 'smtp_limit', limit: 'connections_per_ip', ip, connections: fromIp });
        return refusal('TOO_MANY_CONNECTIONS_FROM_IP');
      }
      const counted = [addressKey];
      if (network) {
        const networkKey = `net:${network.network}`;
        const fromNetwork = counts.get(networkKey) ?? 0;
        const max = network.family === 4 ? options.maxConnectionsPerIpv4Network : options.maxConnectionsPerIpv6Network;
        if (fromNetwork >= max) {
          logger.info({ event: 'smtp_limit', limit: 'connections_per_network', ip, network: network.network, connections: fromNetwork });
          return refusal('TOO_MANY_CONNECTIONS_FROM_NETWORK');
        }
        counted.push(networkKey);
      }
      for (const key of counted) counts.set(key, (counts.get(key) ?? 0) + 1);
      const timer = setTimeout(() => cut(session.id, 'SESSION_DEADLINE'), options.sessionDeadlineMs);
      timer.unref();
      const deadlines = watchDeadlines(options, (reason) => cut(session.id, reason));
      deadlines.awaitCommand();
      sessions.set(session.id, { ip, counted, startedAt: Date.now(), timer, deadlines, commands: 0, busy: false, expired: false });
      return undefined;
    },
    onCommand(session, commandName) {
      const tracked = sessions.get(session.id);
      if (!tracked) return undefined;
      if (tracked.expired) return smtpReplyFor('SESSION_DEADLINE').message;
      tracked.deadlines.commandArrived();
      tracked.commands += 1;
      if (tracked.commands > options.maxCommands) {
        logger.info({ event: 'smtp_limit', limit: 'max_commands', session: session.id, ip: tracked.ip, command: commandName.slice(0, 16) });
        return smtpReplyFor('TOO_MANY_COMMANDS').message;
      }
      return undefined;
    },
    dataStarted(session, stream) {
      sessions.get(session.id)?.deadlines.dataStarted(stream);
    },
    setBusy(session, busy) {
      const tracked = sessions.get(session.id);
      if (!tracked) return;
      tracked.busy = busy;
      if (busy) tracked.deadlines.hold();
      else tracked.deadlines.awaitCommand();
    },
    messageDone(session) {
      const tracked = sessions.get(session.id);
      if (!tracked) return;
      tracked.commands = 0;
      tracked.deadlines.awaitCommand();
    },
    release(session) {
      forget(session.id);
    },
  };
}
