/**
 * The HTTP and HTTPS listeners and their graceful drain. On close: stop accepting, let in-flight requests
 * finish within the grace period (idle keep-alive connections are closed as they become idle), then close
 * upgraded sockets and whatever is left.
 */
import http from 'node:http';
import type net from 'node:net';
import https from 'node:https';
import type { SecureContext } from 'node:tls';
import { EdgeError, ErrorCodes } from '../errors.ts';
import type { Logger } from '../log.ts';
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
  };
}

export interface Listeners {
  readonly httpPort: number | null;
  readonly httpsPort: number | null;
  /** Client connections open now, by listener (`http`, `https`). */
  connections(): Promise<Record<string, number>>;
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

export async function startListeners(opts: ListenOptions, pipeline: Pipeline, upgrades: UpgradeRegistry, log: Logger): Promise<Listeners> {
  const serverOpts: http.ServerOptions = {
    keepAliveTimeout: 60_000,
    headersTimeout: 60_000,
    // Uploads may take long; slow-header attacks are bounded by headersTimeout.
    requestTimeout: 0,
  };
  const servers: http.Server[] = [];
  const named: Array<[string, http.Server]> = [];
  let httpPort: number | null = null;
  let httpsPort: number | null = null;
  try {
    if (opts.httpPort !== 0) {
      const s = http.createServer(serverOpts, pipeline.onRequest);
      s.on('upgrade', pipeline.onUpgrade);
      servers.push(s);
      named.push(['http', s]);
      httpPort = await listenOn(s, opts.ephemeral ? 0 : opts.httpPort, opts.host, 'HTTP');
    }
    if (opts.httpsPort !== 0) {
      const s = https.createServer({
        ...serverOpts,
        cert: opts.tls.defaultCert.certPem,
        key: opts.tls.defaultCert.keyPem,
        SNICallback: opts.tls.sniCallback,
        minVersion: 'TLSv1.2',
        ALPNProtocols: ['http/1.1'],
      }, pipeline.onRequest);
      s.on('upgrade', pipeline.onUpgrade);
      s.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
        opts.tls.onHandshake?.(false);
        log.debug({ code: err.code, err: err.message, client: socket.remoteAddress }, 'TLS handshake failed');
      });
      const onHandshake = opts.tls.onHandshake;
      if (onHandshake) s.on('secureConnection', () => onHandshake(true));
      servers.push(s);
      named.push(['https', s]);
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
    async close(graceMs) {
      const closed = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
      const deadline = Date.now() + graceMs;
      // Connections that finish their request while we wait must not be kept alive for another one.
      while (pipeline.inFlight() > 0 && Date.now() < deadline) {
        for (const s of servers) s.closeIdleConnections();
        await new Promise((r) => setTimeout(r, 50));
      }
      if (pipeline.inFlight() > 0) log.warn({ inFlight: pipeline.inFlight() }, 'grace period over: closing requests still in flight');
      upgrades.closeAll();
      for (const s of servers) s.closeAllConnections();
      await Promise.all(closed);
    },
  };
}
