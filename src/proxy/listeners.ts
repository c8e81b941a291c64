/**
 * The HTTP and HTTPS listeners and their graceful drain. In front of the pipeline on both: connection
 * admission (admission.ts), the inbound deadlines and header limit (inbound.ts), and the edge's own replies
 * to requests the parser refuses (client-errors.ts) or that ask for CONNECT. The HTTPS listener speaks
 * HTTP/2 too, chosen by ALPN per SNI name (h2.ts). On close: stop accepting, tell HTTP/2 sessions GOAWAY,
 * let in-flight requests finish within the grace period (idle keep-alive connections are closed as they
 * become idle), then close upgraded sockets and whatever is left.
 */
import http from 'node:http';
import type net from 'node:net';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { SecureContext } from 'node:tls';
import { EdgeError, ErrorCodes } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Admission } from './admission.ts';
import { chooseAlpn, createH2Front, type H2Front } from './h2.ts';
import { serverOptionsOf, type InboundPart } from './inbound.ts';
import type { Pipeline } from './pipeline.ts';
import type { UpgradeRegistry } from './upgrades.ts';

export interface ListenOptions {
  readonly host: string;
  /** 0 disables the listener; tests pass `ephemeral` to get a free port instead. */
  readonly httpPort: number;
  readonly httpsPort: number;
  /** Listen on a free port for each enabled listener (tests). */
  readonly ephemeral?: boolean;
  readonly tls: {
    sniCallback(servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void;
    /** The certificate for clients that send no SNI. */
    readonly defaultCert: { readonly certPem: string; readonly keyPem: string };
    /** Told the result of every client handshake (metrics). */
    onHandshake?(ok: boolean): void;
    /** Whether a client naming `servername` (SNI) may get HTTP/2; absent: HTTP/1.1 only. */
    allowsHttp2?(servername: string | undefined): boolean;
  };
}

export interface Listeners {
  readonly httpPort: number | null;
  readonly httpsPort: number | null;
  /** Client connections open now, by listener (`http`, `https`). */
  connections(): Promise<Record<string, number>>;
  /** The HTTPS listener's session ticket key from now on (tls/tickets.ts); nothing without one. */
  setTicketKey(key: Buffer): void;
  close(graceMs: number): Promise<void>;
}

/** Listens, or rejects with EdgeError EDGE_ERR_LISTEN saying what could not listen where, and why. */
export function listenOn(server: net.Server, port: number, host: string, what: string): Promise<number> {
  return new Promise((resolveListen, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'EACCES'
        ? ' (ports below 1024 need root, CAP_NET_BIND_SERVICE or a port forward: see README "Running on 80/443")'
        : err.code === 'EADDRINUSE' ? ' (another program listens there already)' : '';
      reject(new EdgeError(ErrorCodes.LISTEN, `cannot listen for ${what} on ${host}:${port}: ${err.code ?? err.message}${hint}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const addr = server.address();
      resolveListen(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

/** What stands in front of the pipeline on both listeners: deadlines, limits, refusals of broken requests. */
export interface InboundFront {
  readonly inbound: InboundPart;
  readonly admission: Admission;
  readonly onClientError: (err: Error, socket: Duplex) => void;
}

export async function startListeners(opts: ListenOptions, pipeline: Pipeline, upgrades: UpgradeRegistry, log: Logger,
  front: InboundFront): Promise<Listeners> {
  const settings = front.inbound.get();
  const serverOpts = serverOptionsOf(settings);
  const servers: http.Server[] = [];
  const named: Array<[string, http.Server]> = [];
  const serve = (s: http.Server, name: 'http' | 'https') => {
    s.on('upgrade', pipeline.onUpgrade);
    s.on('connect', pipeline.onConnect);
    s.on('clientError', front.onClientError);
    front.inbound.attach(s);
    front.admission.guard(s, name === 'https');
    servers.push(s);
    named.push([name, s]);
  };
  let httpPort: number | null = null;
  let httpsPort: number | null = null;
  let h2: H2Front | null = null;
  let tlsServer: https.Server | null = null;
  try {
    if (opts.httpPort !== 0) {
      const s = http.createServer(serverOpts, pipeline.onRequest);
      serve(s, 'http');
      httpPort = await listenOn(s, opts.ephemeral ? 0 : opts.httpPort, opts.host, 'HTTP');
    }
    if (opts.httpsPort !== 0) {
      const allowsHttp2 = opts.tls.allowsHttp2;
      const s = https.createServer({
        ...serverOpts,
        cert: opts.tls.defaultCert.certPem,
        key: opts.tls.defaultCert.keyPem,
        SNICallback: opts.tls.sniCallback,
        minVersion: 'TLSv1.2',
        // One or the other (node:tls refuses both): the callback is told the SNI name.
        ...(allowsHttp2 ? { ALPNProtocols: undefined, ALPNCallback: chooseAlpn(allowsHttp2) } : { ALPNProtocols: ['http/1.1'] }),
        // Counted from the TCP accept; bytes of a trickled ClientHello do not extend it.
        handshakeTimeout: settings.timeouts.tlsHandshakeMs,
      }, pipeline.onRequest);
      if (allowsHttp2) {
        h2 = createH2Front({ onRequest: pipeline.onH2Request, inbound: front.inbound.get, log });
        front.inbound.follow(h2.update);
        h2.attach(s);
      }
      serve(s, 'https');
      tlsServer = s;
      s.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
        opts.tls.onHandshake?.(false);
        log.debug({ code: err.code, err: err.message, client: socket.remoteAddress }, 'TLS handshake failed');
      });
      const onHandshake = opts.tls.onHandshake;
      if (onHandshake) s.on('secureConnection', () => onHandshake(true));
      httpsPort = await listenOn(s, opts.ephemeral ? 0 : opts.httpsPort, opts.host, 'HTTPS');
    }
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }

  return {
    httpPort,
    httpsPort,
    async connections() {
      const counts = await Promise.all(named.map(([, s]) => new Promise<number>((r) => s.getConnections((_e, n) => r(n ?? 0)))));
      return Object.fromEntries(named.map(([name], i) => [name, counts[i]!]));
    },
    setTicketKey(key) {
      tlsServer?.setTicketKeys(key);
    },
    async close(graceMs) {
      const closed = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
      // HTTP/2 clients learn at once that no new stream will be served here (GOAWAY); open ones finish.
      h2?.drain();
      const deadline = Date.now() + graceMs;
      // Connections that finish their request while we wait must not be kept alive for another one.
      while (pipeline.inFlight() > 0 && Date.now() < deadline) {
        for (const s of servers) s.closeIdleConnections();
        await new Promise((r) => setTimeout(r, 50));
      }
      if (pipeline.inFlight() > 0) log.warn({ inFlight: pipeline.inFlight() }, 'grace period over: closing requests still in flight');
      // WebSockets finish the frame they are relaying and get their Close frame (1001) within what is left
      // of the grace; only then is whatever remains cut.
      upgrades.closeAll(Math.max(0, deadline - Date.now()));
      await upgrades.idle(Math.max(0, deadline - Date.now()));
      for (const s of servers) s.closeAllConnections();
      h2?.destroyAll();
      // Whatever is left, TLS connections still in their handshake included (node:http does not know them yet).
      front.admission.destroyAll();
      await Promise.all(closed);
    },
  };
}
