/**
 * Typed errors with stable codes. Every error a user can meet carries an `EDGE_ERR_*` code that the README's
 * error table documents (a unit test keeps the two in step). Where an error ends in an HTTP reply,
 * `httpStatusOf` is the one place that maps it to a status.
 */

export const ErrorCodes = {
  CONFIG_READ: 'EDGE_ERR_CONFIG_READ',
  CONFIG_INVALID: 'EDGE_ERR_CONFIG_INVALID',
  USAGE: 'EDGE_ERR_USAGE',
  LISTEN: 'EDGE_ERR_LISTEN',
  LOG: 'EDGE_ERR_LOG',
  NO_HOST: 'EDGE_ERR_NO_HOST',
  BAD_HOST: 'EDGE_ERR_BAD_HOST',
  INTERNAL: 'EDGE_ERR_INTERNAL',
  NO_ROUTE: 'EDGE_ERR_NO_ROUTE',
  NO_VM: 'EDGE_ERR_NO_VM',
  WS_DISABLED: 'EDGE_ERR_WS_DISABLED',
  BAD_UPGRADE: 'EDGE_ERR_BAD_UPGRADE',
  UPSTREAM_REFUSED: 'EDGE_ERR_UPSTREAM_REFUSED',
  UPSTREAM_UNREACHABLE: 'EDGE_ERR_UPSTREAM_UNREACHABLE',
  UPSTREAM_RESET: 'EDGE_ERR_UPSTREAM_RESET',
  UPSTREAM_TLS: 'EDGE_ERR_UPSTREAM_TLS',
  UPSTREAM_TIMEOUT: 'EDGE_ERR_UPSTREAM_TIMEOUT',
  UPSTREAM_FAILED: 'EDGE_ERR_UPSTREAM_FAILED',
  // Inbound: what a client sent, or how slowly (src/proxy/client-errors.ts, admission.ts, pipeline.ts).
  BAD_REQUEST: 'EDGE_ERR_BAD_REQUEST',
  BAD_TARGET: 'EDGE_ERR_BAD_TARGET',
  NOT_IMPLEMENTED: 'EDGE_ERR_NOT_IMPLEMENTED',
  HEADERS_TOO_LARGE: 'EDGE_ERR_HEADERS_TOO_LARGE',
  HEADERS_TIMEOUT: 'EDGE_ERR_HEADERS_TIMEOUT',
  BODY_TIMEOUT: 'EDGE_ERR_BODY_TIMEOUT',
  TOO_MANY_CONNECTIONS: 'EDGE_ERR_TOO_MANY_CONNECTIONS',
  CLIENT_CONNECTIONS: 'EDGE_ERR_CLIENT_CONNECTIONS',
  // HTTP/2: a request for a proxy with http2: false on a connection the client opened for another name.
  MISDIRECTED: 'EDGE_ERR_MISDIRECTED',
  // Access rules and basic auth (src/policy/).
  FORBIDDEN: 'EDGE_ERR_FORBIDDEN',
  UNAUTHORIZED: 'EDGE_ERR_UNAUTHORIZED',
  CERT_UPLOAD: 'EDGE_ERR_CERT_UPLOAD',
  CERT_STORE: 'EDGE_ERR_CERT_STORE',
  CERT_LOCKED: 'EDGE_ERR_CERT_LOCKED',
  ISSUE_FAILED: 'EDGE_ERR_ISSUE_FAILED',
  // The storage contract (src/storage/contract.ts): every implementation throws these.
  STORAGE: 'EDGE_ERR_STORAGE',
  STORAGE_KEY: 'EDGE_ERR_STORAGE_KEY',
  STORAGE_LOCKED: 'EDGE_ERR_STORAGE_LOCKED',
  STORAGE_LEASE_LOST: 'EDGE_ERR_STORAGE_LEASE_LOST',
  // ACME (src/acme/errors.ts explains each; kept here so every code lives in one list).
  ACME_TOS: 'EDGE_ERR_ACME_TOS',
  ACME_RATE_LIMITED: 'EDGE_ERR_ACME_RATE_LIMITED',
  ACME_UNAUTHORIZED: 'EDGE_ERR_ACME_UNAUTHORIZED',
  ACME_SELF_CHECK: 'EDGE_ERR_ACME_SELF_CHECK',
  ACME_CONNECTION: 'EDGE_ERR_ACME_CONNECTION',
  ACME_DNS: 'EDGE_ERR_ACME_DNS',
  ACME_ACCOUNT: 'EDGE_ERR_ACME_ACCOUNT',
  ACME_REJECTED: 'EDGE_ERR_ACME_REJECTED',
  ACME_CONFIG: 'EDGE_ERR_ACME_CONFIG',
  ACME_FAILED: 'EDGE_ERR_ACME_FAILED',
  // The admin API (src/admin/) and the writes it makes to the config file.
  ADMIN_UNAUTHORIZED: 'EDGE_ERR_ADMIN_UNAUTHORIZED',
  ADMIN_FORBIDDEN: 'EDGE_ERR_ADMIN_FORBIDDEN',
  ADMIN_NOT_FOUND: 'EDGE_ERR_ADMIN_NOT_FOUND',
  ADMIN_BAD_REQUEST: 'EDGE_ERR_ADMIN_BAD_REQUEST',
  ADMIN_MEDIA_TYPE: 'EDGE_ERR_ADMIN_MEDIA_TYPE',
  ADMIN_TOO_LARGE: 'EDGE_ERR_ADMIN_TOO_LARGE',
  ADMIN_PRECONDITION: 'EDGE_ERR_ADMIN_PRECONDITION',
  ADMIN_CONFLICT: 'EDGE_ERR_ADMIN_CONFLICT',
  ADMIN_NOT_READY: 'EDGE_ERR_ADMIN_NOT_READY',
  CSV_INVALID: 'EDGE_ERR_CSV_INVALID',
  CONFIG_WRITE: 'EDGE_ERR_CONFIG_WRITE',
  // A fleet (config.source: redis, src/fleet/): its Redis cannot be reached, so a write is refused.
  FLEET_UNAVAILABLE: 'EDGE_ERR_FLEET_UNAVAILABLE',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class EdgeError extends Error {
  readonly code: ErrorCode;
  /** What a visitor may read on an error page, when it differs from the code's default (see publicMessageOf). */
  readonly publicMessage: string | undefined;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; publicMessage?: string }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.publicMessage = options?.publicMessage;
  }
}

/** One problem in a config file, located by its path (`proxies[2].targetPort`). */
export interface ConfigIssue {
  path: string;
  message: string;
  /** The line of the config file the problem is on, when it came from a file. */
  line?: number;
  /** The path as a person reads it: a proxy's domain next to its index (`proxies[4] (shop.example.com).targetPort`). */
  where?: string;
}

export class ConfigError extends EdgeError {
  readonly issues: readonly ConfigIssue[];
  readonly file: string | undefined;
  constructor(code: typeof ErrorCodes.CONFIG_READ | typeof ErrorCodes.CONFIG_INVALID, message: string,
    opts: { file?: string; issues?: ConfigIssue[]; cause?: unknown } = {}) {
    super(code, message, { cause: opts.cause });
    this.file = opts.file;
    this.issues = Object.freeze([...(opts.issues ?? [])]);
  }
}

/**
 * Why a request was answered by the edge instead of the VM: a plain shape that route misses (built per
 * request, so no Error and no stack) and EdgeErrors both satisfy. `message` is for the operator's log line;
 * `publicMessage` overrides what the page shows a visitor.
 */
export interface Failure {
  readonly code: ErrorCode;
  readonly message: string;
  readonly publicMessage?: string | undefined;
}

/** The request could not be routed: no Host, unknown host, or a template whose VM does not exist. */
export class RoutingError extends EdgeError {
  readonly host: string;
  constructor(code: typeof ErrorCodes.NO_HOST | typeof ErrorCodes.NO_ROUTE | typeof ErrorCodes.NO_VM
    | typeof ErrorCodes.WS_DISABLED, host: string, message: string) {
    super(code, message);
    this.host = host;
  }
}

/** The VM behind a route failed us; `upstream` is the origin we tried (`http://10.0.0.5:80`). */
export class UpstreamError extends EdgeError {
  readonly upstream: string;
  constructor(code: ErrorCode, upstream: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.upstream = upstream;
  }
}

export class CertError extends EdgeError {
  readonly domain: string;
  constructor(code: ErrorCode, domain: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.domain = domain;
  }
}

/** The storage backend failed (I/O), refused a key, or a lease could not be taken or was lost. */
export class StorageError extends EdgeError {
  /** The key or lock name concerned. */
  readonly key: string;
  constructor(code: typeof ErrorCodes.STORAGE | typeof ErrorCodes.STORAGE_KEY | typeof ErrorCodes.STORAGE_LOCKED
    | typeof ErrorCodes.STORAGE_LEASE_LOST, key: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.key = key;
  }
}

/** Who holds a lease, as far as the backend knows. */
export interface LeaseHolder {
  readonly pid: number;
  readonly host: string;
  /** ISO time the holder took the lease. */
  readonly since: string;
}

/** lock() gave up after `waitMs`: `holder` is the other client, or null when it is this process itself. */
export class LockTimeoutError extends StorageError {
  readonly holder: LeaseHolder | null;
  /** A human description of the holder, for messages: `pid 123 on web1 since ...` or `this process (...)`. */
  readonly holderText: string;
  constructor(key: string, holder: LeaseHolder | null, holderText: string, waitedMs: number) {
    super(ErrorCodes.STORAGE_LOCKED, key, `${key} is locked by ${holderText} (still busy after ${Math.round(waitedMs / 1000)}s)`);
    this.holder = holder;
    this.holderText = holderText;
  }
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCodes.NO_HOST]: 400,
  [ErrorCodes.BAD_HOST]: 400,
  [ErrorCodes.INTERNAL]: 500,
  [ErrorCodes.NO_ROUTE]: 404,
  [ErrorCodes.NO_VM]: 404,
  [ErrorCodes.WS_DISABLED]: 403,
  [ErrorCodes.BAD_UPGRADE]: 400,
  [ErrorCodes.UPSTREAM_REFUSED]: 502,
  [ErrorCodes.UPSTREAM_UNREACHABLE]: 502,
  [ErrorCodes.UPSTREAM_RESET]: 502,
  [ErrorCodes.UPSTREAM_TLS]: 502,
  [ErrorCodes.UPSTREAM_FAILED]: 502,
  [ErrorCodes.UPSTREAM_TIMEOUT]: 504,
  // The admin API's answers (src/admin/).
  [ErrorCodes.CONFIG_INVALID]: 400,
  [ErrorCodes.CONFIG_READ]: 409,
  [ErrorCodes.CSV_INVALID]: 400,
  [ErrorCodes.ADMIN_BAD_REQUEST]: 400,
  [ErrorCodes.ADMIN_UNAUTHORIZED]: 401,
  [ErrorCodes.ADMIN_FORBIDDEN]: 403,
  [ErrorCodes.ADMIN_NOT_FOUND]: 404,
  [ErrorCodes.ADMIN_CONFLICT]: 409,
  [ErrorCodes.ADMIN_PRECONDITION]: 412,
  [ErrorCodes.ADMIN_TOO_LARGE]: 413,
  [ErrorCodes.ADMIN_MEDIA_TYPE]: 415,
  [ErrorCodes.ISSUE_FAILED]: 502,
  [ErrorCodes.ADMIN_NOT_READY]: 503,
  [ErrorCodes.CONFIG_WRITE]: 503,
  [ErrorCodes.FLEET_UNAVAILABLE]: 503,
  [ErrorCodes.BAD_REQUEST]: 400,
  [ErrorCodes.BAD_TARGET]: 400,
  [ErrorCodes.NOT_IMPLEMENTED]: 501,
  [ErrorCodes.HEADERS_TOO_LARGE]: 431,
  [ErrorCodes.HEADERS_TIMEOUT]: 408,
  [ErrorCodes.BODY_TIMEOUT]: 408,
  [ErrorCodes.TOO_MANY_CONNECTIONS]: 503,
  [ErrorCodes.CLIENT_CONNECTIONS]: 429,
  [ErrorCodes.MISDIRECTED]: 421,
  [ErrorCodes.FORBIDDEN]: 403,
  [ErrorCodes.UNAUTHORIZED]: 401,
};

/**
 * What a visitor reads on the error page of each code. Error pages are public: they never carry an upstream
 * address, a TLS verification reason or an inventory fact (which owners and VMs exist); the operator's detail
 * goes to the log line with the same request ID. An unknown template name reads exactly like an unknown host.
 */
const PUBLIC_MESSAGES: Partial<Record<ErrorCode, string>> = {
  [ErrorCodes.NO_HOST]: 'The request has no Host header.',
  [ErrorCodes.BAD_HOST]: 'The request\'s Host header is not valid.',
  [ErrorCodes.NO_ROUTE]: 'No site is configured for this address.',
  [ErrorCodes.NO_VM]: 'No site is configured for this address.',
  [ErrorCodes.WS_DISABLED]: 'WebSocket connections are not accepted here.',
  [ErrorCodes.BAD_UPGRADE]: 'Only WebSocket upgrades are accepted here.',
  [ErrorCodes.UPSTREAM_REFUSED]: 'The server behind this site refused the connection.',
  [ErrorCodes.UPSTREAM_UNREACHABLE]: 'The server behind this site cannot be reached.',
  [ErrorCodes.UPSTREAM_RESET]: 'The server behind this site closed the connection before answering.',
  [ErrorCodes.UPSTREAM_TLS]: 'The edge could not verify the certificate of the server behind this site.',
  [ErrorCodes.UPSTREAM_TIMEOUT]: 'The server behind this site did not answer in time.',
  [ErrorCodes.UPSTREAM_FAILED]: 'The server behind this site failed to answer.',
  [ErrorCodes.INTERNAL]: 'The edge failed to handle this request.',
  [ErrorCodes.BAD_REQUEST]: 'The request is not valid HTTP/1.1.',
  [ErrorCodes.BAD_TARGET]: 'The request\'s target is not a path this edge accepts.',
  [ErrorCodes.NOT_IMPLEMENTED]: 'The edge does not support what this request asks for.',
  [ErrorCodes.HEADERS_TOO_LARGE]: 'The request\'s headers are too large.',
  [ErrorCodes.HEADERS_TIMEOUT]: 'The request\'s headers did not arrive in time.',
  [ErrorCodes.BODY_TIMEOUT]: 'The request\'s body stopped arriving.',
  [ErrorCodes.TOO_MANY_CONNECTIONS]: 'The edge has too many open connections; try again shortly.',
  [ErrorCodes.CLIENT_CONNECTIONS]: 'Too many open connections from your address; close some and try again.',
  [ErrorCodes.MISDIRECTED]: 'This site is not served on this connection; retry on a new connection.',
  [ErrorCodes.FORBIDDEN]: 'Your address may not reach this site.',
  [ErrorCodes.UNAUTHORIZED]: 'This site needs a user name and password.',
};

/** The HTTP status of an error code: the one place statuses are decided. Anything unmapped is a 500. */
export function statusOf(code: ErrorCode | string): number {
  return STATUS[code as ErrorCode] ?? 500;
}

/** The HTTP status a client gets for an error; anything that is not an EdgeError is a 500. */
export function httpStatusOf(err: unknown): number {
  return err instanceof EdgeError ? statusOf(err.code) : 500;
}

/** The words an error page shows a visitor for `f` (never the operator's detail). */
export function publicMessageOf(f: Failure): string {
  return f.publicMessage ?? PUBLIC_MESSAGES[f.code] ?? 'The request could not be handled.';
}

const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_SIGNATURE_FAILURE', 'CERT_UNTRUSTED', 'CERT_REJECTED',
  'HOSTNAME_MISMATCH', 'INVALID_CA',
]);

/**
 * true for an error code that means a peer's certificate failed verification (or the TLS layer failed):
 * the one classifier for upstream VMs and the ACME CA alike.
 */
export function isTlsFailureCode(code: string): boolean {
  return TLS_VERIFY_CODES.has(code) || code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || code.startsWith('CERT_')
    || code.startsWith('UNABLE_TO_');
}

/** What a proxy's `upstreamTls` already sets, so that a verification failure's hint names what is left to try. */
export interface UpstreamTlsHints {
  readonly caFile?: string | undefined;
  readonly serverName?: string | undefined;
}

/** The operator's next step for a certificate the VM presented that did not verify. */
function tlsVerifyHint(code: string, tls: UpstreamTlsHints | null | undefined): string {
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return 'renew the certificate on the VM (or check its clock), or set upstreamTls.insecureSkipVerify on the proxy';
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') {
    return tls?.serverName
      ? `the certificate does not cover upstreamTls.serverName (${tls.serverName}): set it to a name the certificate covers`
      : 'the certificate does not cover the name the edge verifies (the client\'s Host): set upstreamTls.serverName to a name it covers';
  }
  if (tls?.caFile) {
    return `upstreamTls.caFile (${tls.caFile}) is set but does not verify it: put the CA that signed the VM's certificate in that file, `
      + 'or make the VM send its intermediate certificates, or set upstreamTls.insecureSkipVerify';
  }
  return 'set upstreamTls.caFile (the CA that signed it) or upstreamTls.insecureSkipVerify on the proxy';
}

/**
 * Turns a socket-level error from talking to a VM into an UpstreamError that says, in words an operator can
 * act on, what went wrong. This is the "why does my domain return 502?" answer. `tls` is the proxy's
 * upstreamTls, when it has one: the hint of a verification failure depends on what it already sets.
 */
export function classifyUpstreamError(err: unknown, upstream: string, tls?: UpstreamTlsHints | null): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const e = err as NodeJS.ErrnoException & { reason?: string };
  const code = typeof e?.code === 'string' ? e.code : '';
  const detail = e?.message ?? String(err);
  if (code === 'ECONNREFUSED') {
    return new UpstreamError(ErrorCodes.UPSTREAM_REFUSED, upstream,
      `the VM's service at ${upstream} refused the connection (nothing listens on that port?)`, { cause: err });
  }
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ENOTFOUND' || code === 'EAI_AGAIN'
    || code === 'EADDRNOTAVAIL') {
    return new UpstreamError(ErrorCodes.UPSTREAM_UNREACHABLE, upstream,
      `the VM at ${upstream} is unreachable (${code}: is the VM running and its IP right?)`, { cause: err });
  }
  if (code === 'ECONNECT_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new UpstreamError(ErrorCodes.UPSTREAM_UNREACHABLE, upstream,
      `the VM at ${upstream} is unreachable (no connection within upstream.connectTimeoutMs: is the VM running and its IP right?)`,
      { cause: err });
  }
  if (code === 'ETIMEDOUT' || code === 'EDGE_UPSTREAM_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT') {
    return new UpstreamError(ErrorCodes.UPSTREAM_TIMEOUT, upstream,
      `the VM's service at ${upstream} did not answer in time`, { cause: err });
  }
  if (code === 'EPROTO' || /wrong version number|packet length too long/i.test(detail)) {
    return new UpstreamError(ErrorCodes.UPSTREAM_TLS, upstream,
      `the VM's service at ${upstream} does not speak TLS (${code || 'EPROTO'}: ${detail}); if it serves plain HTTP, set protocol: http on the proxy`,
      { cause: err });
  }
  if (isTlsFailureCode(code)) {
    return new UpstreamError(ErrorCodes.UPSTREAM_TLS, upstream,
      `the VM's certificate at ${upstream} failed verification (${code}: ${detail}); ${tlsVerifyHint(code, tls)}`, { cause: err });
  }
  // undici's UND_ERR_SOCKET: the VM closed the connection ("other side closed") or reset it.
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET' || /socket hang up/i.test(detail)) {
    return new UpstreamError(ErrorCodes.UPSTREAM_RESET, upstream,
      `the VM's service at ${upstream} closed the connection before answering`, { cause: err });
  }
  if (code.startsWith('HPE_')) {
    return new UpstreamError(ErrorCodes.UPSTREAM_FAILED, upstream,
      `the VM's service at ${upstream} sent a response that is not valid HTTP/1.1 (${code}: ${e.reason ?? detail})`, { cause: err });
  }
  // undici's parser errors (8.13) carry llhttp's reason in the message but no code.
  if ((e as Error)?.name === 'HTTPParserError' || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
    const reason = /\((.*)\)$/.exec(detail)?.[1] ?? detail;
    return new UpstreamError(ErrorCodes.UPSTREAM_FAILED, upstream,
      `the VM's service at ${upstream} sent a response that is not valid HTTP/1.1 (${reason})`, { cause: err });
  }
  return new UpstreamError(ErrorCodes.UPSTREAM_FAILED, upstream,
    `talking to the VM's service at ${upstream} failed (${code || 'error'}: ${detail})`, { cause: err });
}
