/**
 * The inbound deadlines and limits (config `timeouts` and `limits`) as a part of the apply pipeline.
 * node:http reads a server's `headersTimeout` at each check, `keepAliveTimeout` at each response and
 * `maxHeaderSize` at each new connection, so a commit sets them on every attached server and they hold
 * from then on; connection limits and the body deadline are read from `get()` as connections and bodies
 * arrive. Only the TLS handshake deadline is fixed when the HTTPS server is made (restart-only).
 */
import type http from 'node:http';
import type { ConfigPart } from '../config/apply.ts';
import type { EdgeConfig } from '../config/schema.ts';

export interface InboundSettings {
  readonly timeouts: EdgeConfig['timeouts'];
  readonly limits: EdgeConfig['limits'];
}

export interface InboundPart extends ConfigPart {
  /** The running settings; throws before the first commit. */
  get(): InboundSettings;
  /** Applies the running settings to `server` now and at every later commit. */
  attach(server: http.Server): void;
  /** Calls `apply` with the running settings at every later commit (the HTTP/2 side's SETTINGS). */
  follow(apply: (s: InboundSettings) => void): void;
}

/**
 * How often node:http looks for connections past the headers deadline (its default, 30 s, let a slowloris
 * connection live 90 s with a 60 s deadline): every second, or a quarter of a deadline under 4 s. Fixed
 * when the server is made.
 */
export function headersCheckIntervalMs(requestHeadersMs: number): number {
  return Math.max(25, Math.min(1_000, Math.floor(requestHeadersMs / 4)));
}

/** The node:http(s) server options for `s` (both listeners use them; HTTPS adds the handshake deadline). */
export function serverOptionsOf(s: InboundSettings): http.ServerOptions {
  return {
    headersTimeout: s.timeouts.requestHeadersMs,
    keepAliveTimeout: s.timeouts.keepAliveMs,
    maxHeaderSize: s.limits.maxHeaderBytes,
    connectionsCheckingInterval: headersCheckIntervalMs(s.timeouts.requestHeadersMs),
    // Uploads may take long: a body is bounded by its idle deadline instead (timeouts.requestBodyIdleMs).
    requestTimeout: 0,
    // A request without Host is answered by the pipeline (EDGE_ERR_NO_HOST, with a request ID), not by Node.
    requireHostHeader: false,
  };
}

/** `maxHeaderSize` is a documented server option that @types/node does not declare as a property. */
type Settable = http.Server & { maxHeaderSize?: number };

function setOn(server: Settable, s: InboundSettings): void {
  server.headersTimeout = s.timeouts.requestHeadersMs;
  server.keepAliveTimeout = s.timeouts.keepAliveMs;
  server.maxHeaderSize = s.limits.maxHeaderBytes;
}

export function createInboundPart(): InboundPart {
  let settings: InboundSettings | null = null;
  const servers: http.Server[] = [];
  const followers: Array<(s: InboundSettings) => void> = [];
  return {
    name: 'inbound deadlines and limits',
    prepare(next) {
      const built: InboundSettings = Object.freeze({ timeouts: next.timeouts, limits: next.limits });
      return {
        commit() {
          settings = built;
          for (const s of servers) setOn(s, built);
          for (const f of followers) f(built);
        },
        abort() {},
      };
    },
    get() {
      if (settings === null) throw new Error('no config has been applied yet');
      return settings;
    },
    attach(server) {
      servers.push(server);
      if (settings) setOn(server, settings);
    },
    follow(apply) {
      followers.push(apply);
    },
  };
}
