/**
 * Connection admission: the limits on open client connections, in total and per client address
 * (`limits.maxConnections`, `limits.maxConnectionsPerClient`), checked once per accepted TCP connection
 * before node:http or node:tls sees it. A connection over a limit never reaches the HTTP parser or a TLS
 * handshake: plain HTTP gets a ready-made 503 (total) or 429 (per client) reply naming the code and is
 * closed; a TLS connection is closed before its handshake (no certificate work is spent on it). Refusals
 * are logged at most once per interval with the count since the last line, so a flood cannot flood the log.
 */
import type net from 'node:net';
import { ErrorCodes, type Failure } from '../errors.ts';
import type { Logger } from '../log.ts';
import { unmapV4 } from './forwarded.ts';
import { rawErrorReply } from './pages.ts';

export interface AdmissionLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerClient: number;
}

export interface AdmissionDeps {
  /** The running limits (read per connection, so an apply changes them at once). */
  limits(): AdmissionLimits;
  /** Peers exempt from the per-client limit: trusted proxies carry many clients on their connections. */
  exempt(address: string): boolean;
  readonly log: Logger;
  /** At most one refusal line per this many ms (default 10 s). */
  readonly logIntervalMs?: number;
}

export interface Admission {
  /**
   * Puts the limits in front of `server`'s own connection handling (node:http's parser, node:tls's
   * handshake): its 'connection' listeners run only for admitted connections. `tls` picks the refusal.
   */
  guard(server: net.Server, tls: boolean): void;
  /** Client connections open now (admitted and not yet closed). */
  open(): number;
  /**
   * Destroys every admitted connection still open (shutdown, once the grace period is over). node:http
   * closes those it knows; a TLS connection still in its handshake is known only here.
   */
  destroyAll(): void;
}

/** How long a refused plain-HTTP connection may take to read its reply before it is destroyed. */
const REFUSED_LINGER_MS = 1_000;

const kClient: unique symbol = Symbol('idcs-edge.admitted');
type Admitted = net.Socket & { [kClient]?: string };

function refusal(code: typeof ErrorCodes.TOO_MANY_CONNECTIONS | typeof ErrorCodes.CLIENT_CONNECTIONS, message: string): Buffer {
  const failure: Failure = { code, message };
  // Built once: a refused connection costs one write, whatever the rate of refusals.
  return Buffer.from(rawErrorReply({ failure, requestId: '-', detail: 'public' }, 'retry-after: 1\r\n').text, 'latin1');
}

function destroyRefused(this: net.Socket): void {
  this.destroy();
}

export function createAdmission(deps: AdmissionDeps): Admission {
  const interval = deps.logIntervalMs ?? 10_000;
  const perClient = new Map<string, number>();
  const admitted = new Set<Admitted>();
  let lastLog = -Infinity;
  const refused = { total: 0, perClient: 0 };
  const replies = {
    total: refusal(ErrorCodes.TOO_MANY_CONNECTIONS, 'limits.maxConnections reached'),
    perClient: refusal(ErrorCodes.CLIENT_CONNECTIONS, 'limits.maxConnectionsPerClient reached'),
  };

  /** Bound as each admitted socket's close listener (no closure per connection). */
  function release(this: Admitted): void {
    admitted.delete(this);
    const client = this[kClient]!;
    const n = perClient.get(client)! - 1;
    if (n === 0) perClient.delete(client);
    else perClient.set(client, n);
  }

  const noteRefusal = (kind: 'total' | 'perClient', client: string, limits: AdmissionLimits) => {
    refused[kind]++;
    const now = Date.now();
    if (now - lastLog < interval) return;
    lastLog = now;
    deps.log.warn({ code: kind === 'total' ? ErrorCodes.TOO_MANY_CONNECTIONS : ErrorCodes.CLIENT_CONNECTIONS, client,
      open: admitted.size, maxConnections: limits.maxConnections, maxConnectionsPerClient: limits.maxConnectionsPerClient,
      refusedTotal: refused.total, refusedPerClient: refused.perClient, intervalMs: interval },
    'connections refused: limit reached (counts since the last such line)');
    refused.total = 0;
    refused.perClient = 0;
  };

  const refuse = (socket: net.Socket, tls: boolean, reply: Buffer) => {
    if (tls) {
      socket.destroy();
      return;
    }
    socket.on('error', destroyRefused);
    // Read and drop what the client sends, so closing does not reset the connection under its reply.
    socket.resume();
    socket.setTimeout(REFUSED_LINGER_MS, destroyRefused);
    socket.end(reply);
  };

  /** true when `socket` may proceed; otherwise it has been refused. */
  const admit = (socket: Admitted, tls: boolean): boolean => {
    const limits = deps.limits();
    const client = unmapV4(socket.remoteAddress ?? '');
    if (limits.maxConnections > 0 && admitted.size >= limits.maxConnections) {
      noteRefusal('total', client, limits);
      refuse(socket, tls, replies.total);
      return false;
    }
    const mine = perClient.get(client) ?? 0;
    if (limits.maxConnectionsPerClient > 0 && mine >= limits.maxConnectionsPerClient && !deps.exempt(client)) {
      noteRefusal('perClient', client, limits);
      refuse(socket, tls, replies.perClient);
      return false;
    }
    admitted.add(socket);
    perClient.set(client, mine + 1);
    socket[kClient] = client;
    socket.once('close', release);
    return true;
  };

  return {
    guard(server, tls) {
      // node:http and node:tls do their work in the 'connection' listener their constructor adds; moving
      // those behind the check is the one way to keep a refused connection away from them.
      const own = server.listeners('connection') as Array<(this: net.Server, socket: net.Socket) => void>;
      server.removeAllListeners('connection');
      server.on('connection', function admitted(this: net.Server, socket: net.Socket) {
        if (!admit(socket, tls)) return;
        for (const l of own) l.call(this, socket);
      });
    },
    open: () => admitted.size,
    destroyAll() {
      for (const s of [...admitted]) s.destroy();
    },
  };
}
