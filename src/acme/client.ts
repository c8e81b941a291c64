/**
 * The transport under acme-client: an https agent that trusts `acme.caFile` on top of the default roots, a
 * per-request timeout, and capture of what the CA said (problem document, Retry-After, socket error) so that
 * errors can be classified at our boundary instead of surfacing as acme-client's bare `Error(detail)`.
 *
 * acme-client sends every request through ONE module-level axios instance (`acme.axios`) and offers no
 * per-client transport option. Rather than pinning one CA/agent into its defaults, we install two hooks on
 * that instance once (idempotent, marked with a symbol) that read the current transport from an
 * AsyncLocalStorage: each issuer's calls run inside `transport.run()`, so two issuers with different CAs in
 * one process do not see each other's agent or errors. The only default we do set is
 * `acmeSettings.retryMaxAttempts`, because acme-client reads it from the instance and nowhere else: the last
 * transport created wins, which is fine because a process has one `acme` config.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import acme from 'acme-client';
import type { Clock } from '../clock.ts';
import { AcmeError, AcmeErrorCodes, classifyAcmeError, type AcmeProblem } from './errors.ts';

export interface AcmeTransportOptions {
  readonly directoryUrl: string;
  /** PEM file of extra CA(s) trusted for the ACME server. */
  readonly caFile?: string | undefined;
  readonly requestTimeoutMs: number;
  readonly retryMaxAttempts: number;
  readonly maxRetryAfterSeconds: number;
  readonly clock: Clock;
}

export interface AcmeTransport {
  readonly directoryUrl: string;
  /** Runs `fn` (acme-client calls) over this transport; rejects with an AcmeError about `domain`. */
  run<T>(domain: string, fn: () => Promise<T>): Promise<T>;
  /** Closes idle sockets. */
  close(): void;
}

interface CallContext {
  readonly agent: https.Agent;
  readonly maxRetryAfterSeconds: number;
  readonly clock: Clock;
  problem: AcmeProblem | undefined;
  transportError: Error | undefined;
}

const calls = new AsyncLocalStorage<CallContext>();
const HOOKED = Symbol.for('idcs-edge.acme.hooks');

type AxiosLike = typeof acme.axios & { [HOOKED]?: true; defaults: { acmeSettings?: { retryMaxAttempts: number } } };
type Transform = (this: unknown, data: unknown, headers: Record<string, unknown> | undefined, status?: number) => unknown;

/** Builds a transport; throws AcmeError(EDGE_ERR_ACME_CONFIG) when caFile cannot be read. */
export function createAcmeTransport(opts: AcmeTransportOptions): AcmeTransport {
  let extraCa: string | undefined;
  if (opts.caFile) {
    try {
      extraCa = readFileSync(opts.caFile, 'utf8');
    } catch (err) {
      throw new AcmeError(AcmeErrorCodes.CONFIG, '', `cannot read acme.caFile ${opts.caFile}: ${(err as Error).message}`, { cause: err });
    }
  }
  const agent = new https.Agent({
    keepAlive: false,
    // `default` = bundled roots + NODE_EXTRA_CA_CERTS (+ system store with --use-system-ca); passing `ca`
    // replaces the defaults, so they are listed explicitly.
    ...(extraCa ? { ca: [...tls.getCACertificates('default'), extraCa] } : {}),
  });
  const create = agent.createConnection.bind(agent);
  // acme-client turns a failed request without a response into a TypeError, losing the socket's error code;
  // the socket tells us first. The timeout is at socket level so that acme-client retries it like a network
  // error (an axios timeout is ECONNABORTED, which it neither retries nor reports).
  agent.createConnection = (options, cb) => {
    const socket = create(options, cb) as Duplex & { setTimeout?(ms: number, fn: () => void): void } | null | undefined;
    const ctx = calls.getStore();
    socket?.on('error', (err: Error) => { if (ctx) ctx.transportError = err; });
    socket?.setTimeout?.(opts.requestTimeoutMs, () => socket.destroy(Object.assign(
      new Error(`no answer from the ACME CA within ${opts.requestTimeoutMs} ms`), { code: 'ETIMEDOUT' })));
    return socket;
  };
  installHooks(opts.retryMaxAttempts);
  return {
    directoryUrl: opts.directoryUrl,
    async run(domain, fn) {
      const ctx: CallContext = { agent, maxRetryAfterSeconds: opts.maxRetryAfterSeconds, clock: opts.clock,
        problem: undefined, transportError: undefined };
      try {
        return await calls.run(ctx, fn);
      } catch (err) {
        // A cancelled attempt is the caller's decision, not a CA failure: pass it through unchanged.
        if ((err as Error)?.name === 'AbortError') throw err;
        throw classifyAcmeError(err, domain, { problem: ctx.problem, transportError: ctx.transportError, directoryUrl: opts.directoryUrl });
      }
    },
    close: () => agent.destroy(),
  };
}

function installHooks(retryMaxAttempts: number): void {
  const ax = acme.axios as AxiosLike;
  if (ax.defaults.acmeSettings) ax.defaults.acmeSettings.retryMaxAttempts = retryMaxAttempts;
  if (ax[HOOKED]) return;
  ax[HOOKED] = true;
  ax.interceptors.request.use((config) => {
    const ctx = calls.getStore();
    if (!ctx) return config;
    // An HTTPS_PROXY in the environment must never capture ACME traffic (or loopback traffic in tests).
    config.proxy = false;
    // acme-client's own self-check passes an agent of its own for the HTTP-01 GET; keep that one.
    config.httpsAgent ??= ctx.agent;
    const fns = (Array.isArray(config.transformResponse) ? config.transformResponse
      : config.transformResponse ? [config.transformResponse] : []) as Transform[];
    if (!fns.includes(captureProblem)) config.transformResponse = [...fns, captureProblem] as typeof config.transformResponse;
    return config;
  });
}

/**
 * Runs inside axios for every response, before acme-client's retry interceptor: records the CA's problem
 * document and Retry-After in the current call context, and stops acme-client from sleeping through a long
 * Retry-After (it would otherwise wait hours on a Let's Encrypt rate limit).
 */
const captureProblem: Transform = function captureProblem(this: unknown, data, headers, status) {
  const ctx = calls.getStore();
  if (!ctx || status === undefined) return data;
  if (status >= 400) {
    const retryAfter = parseRetryAfter(headers?.['retry-after'], ctx.clock.now().getTime());
    const doc = data as { type?: unknown; detail?: unknown } | undefined;
    if (doc && typeof doc === 'object' && typeof doc.type === 'string') {
      ctx.problem = { type: doc.type, detail: String(doc.detail ?? ''), status, source: 'response', ...(retryAfter ? { retryAfter } : {}) };
    }
    if (retryAfter !== undefined && retryAfter > ctx.maxRetryAfterSeconds && this && typeof this === 'object') {
      // acme-client retries while `config.retryAttempt` <= retryMaxAttempts; this makes the next check fail.
      (this as { retryAttempt?: number }).retryAttempt = Number.MAX_SAFE_INTEGER;
    }
  } else {
    ctx.transportError = undefined;
    ctx.problem = invalidItemProblem(data, status);
  }
  return data;
};

/** An order, authorization or challenge polled with 200 but `status: invalid` carries the reason in `error`. */
function invalidItemProblem(data: unknown, status: number): AcmeProblem | undefined {
  const item = data as { status?: unknown; error?: { type?: unknown; detail?: unknown }; token?: unknown;
    challenges?: Array<{ error?: { type?: unknown; detail?: unknown } }> } | undefined;
  if (!item || typeof item !== 'object' || item.status !== 'invalid') return undefined;
  const error = item.error ?? item.challenges?.find((c) => c.error)?.error;
  if (!error || typeof error.type !== 'string') return undefined;
  const fromChallenge = item.token !== undefined || item.challenges !== undefined;
  return { type: error.type, detail: String(error.detail ?? ''), status, source: fromChallenge ? 'challenge' : 'response' };
}

/** Retry-After as seconds from now: delta-seconds or an HTTP-date (RFC 9110 section 10.2.3). */
export function parseRetryAfter(value: unknown, nowMs: number): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

export interface AcmeClientOptions {
  readonly directoryUrl: string;
  readonly accountKey: Buffer;
  readonly accountUrl?: string | undefined;
  readonly eab?: { readonly kid: string; readonly hmacKey: string } | undefined;
  readonly pollMinMs: number;
  readonly pollMaxMs: number;
  readonly pollAttempts: number;
}

/** An acme-client Client; its requests use the transport of the `run()` they are made in. */
export function createAcmeClient(opts: AcmeClientOptions): acme.Client {
  return new acme.Client({
    directoryUrl: opts.directoryUrl,
    accountKey: opts.accountKey,
    ...(opts.accountUrl ? { accountUrl: opts.accountUrl } : {}),
    ...(opts.eab ? { externalAccountBinding: { kid: opts.eab.kid, hmacKey: opts.eab.hmacKey } } : {}),
    backoffMin: opts.pollMinMs,
    backoffMax: opts.pollMaxMs,
    backoffAttempts: opts.pollAttempts,
  });
}
