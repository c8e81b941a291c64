/**
 * The transport under acme-client: an https agent that trusts `acme.caFile` on top of the default roots, a
 * deadline per request, an abort signal that reaches every request, a retry limit of its own, and capture of
 * what the CA said (problem document, Retry-After, socket error) so that errors can be classified at our
 * boundary instead of surfacing as acme-client's bare `Error(detail)`.
 *
 * acme-client sends every request through ONE module-level axios instance (`acme.axios`) and offers no
 * per-client transport option. Each transport therefore adds its own interceptors to that instance when it
 * is made and ejects them in close(); they act only on requests made inside the transport's own `run()`
 * (an AsyncLocalStorage per transport), so two issuers with different CAs in one process do not see each
 * other's agent, limits or errors, and nothing outlives the issuer. No default of the shared instance is
 * written: the retry limit is applied per request (acme-client compares `config.retryAttempt` with its
 * default limit, so a request starts that many attempts in).
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
  /**
   * Runs `fn` (acme-client calls) over this transport; rejects with an AcmeError about `domain`. When
   * `signal` aborts, every request in flight is cancelled and the run rejects with the abort reason.
   */
  run<T>(domain: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Removes this transport's hooks from acme-client and closes its sockets. */
  close(): void;
}

interface CallContext {
  readonly signal: AbortSignal | undefined;
  problem: AcmeProblem | undefined;
  transportError: Error | undefined;
}

type AxiosConfig = Parameters<NonNullable<Parameters<typeof acme.axios.interceptors.request.use>[0]>>[0] & { retryAttempt?: number };
type Transform = (this: unknown, data: unknown, headers: Record<string, unknown> | undefined, status?: number) => unknown;
type AcmeAxios = typeof acme.axios & { defaults: { acmeSettings?: { retryMaxAttempts?: number } } };

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
  const calls = new AsyncLocalStorage<CallContext>();
  const agent = new https.Agent({
    keepAlive: false,
    // `default` = bundled roots + NODE_EXTRA_CA_CERTS (+ system store with --use-system-ca); passing `ca`
    // replaces the defaults, so they are listed explicitly.
    ...(extraCa ? { ca: [...tls.getCACertificates('default'), extraCa] } : {}),
  });
  const create = agent.createConnection.bind(agent);
  // acme-client turns a failed request without a response into a TypeError, losing the socket's error code;
  // the socket tells us first.
  agent.createConnection = (options, cb) => {
    const socket = create(options, cb) as Duplex | null | undefined;
    const ctx = calls.getStore();
    socket?.on('error', (err: Error) => { if (ctx) ctx.transportError = err; });
    return socket;
  };

  const ax = acme.axios as AcmeAxios;
  const captureProblem = makeProblemCapture(calls, opts);
  const requestHook = ax.interceptors.request.use((config: AxiosConfig) => {
    const ctx = calls.getStore();
    if (!ctx) return config;
    ctx.signal?.throwIfAborted();
    // An HTTPS_PROXY in the environment must never capture ACME traffic (or loopback traffic in tests).
    config.proxy = false;
    // acme-client's own self-check passes an agent of its own for the HTTP-01 GET; keep that one.
    config.httpsAgent ??= agent;
    // The deadline of one request: axios aborts it (ECONNABORTED, which acme-client does not retry: the
    // renewal backoff does). A socket timeout would not do: axios resets it on the request it makes.
    config.timeout = opts.requestTimeoutMs;
    if (ctx.signal) config.signal = ctx.signal as NonNullable<AxiosConfig['signal']>;
    if (config.retryAttempt === undefined) {
      const theirs = ax.defaults.acmeSettings?.retryMaxAttempts ?? 0;
      config.retryAttempt = Math.max(0, theirs - opts.retryMaxAttempts);
    }
    const fns = (Array.isArray(config.transformResponse) ? config.transformResponse
      : config.transformResponse ? [config.transformResponse] : []) as Transform[];
    if (!fns.includes(captureProblem)) config.transformResponse = [...fns, captureProblem] as typeof config.transformResponse;
    return config;
  });
  // After acme-client's own handler: with retries exhausted it throws a TypeError for a request that got
  // no response; the error the socket reported is what the user must read.
  const responseHook = ax.interceptors.response.use(undefined, (err: unknown) => {
    const ctx = calls.getStore();
    if (ctx && err instanceof TypeError && ctx.transportError) throw ctx.transportError;
    throw err;
  });

  return {
    directoryUrl: opts.directoryUrl,
    async run(domain, fn, signal) {
      const ctx: CallContext = { signal, problem: undefined, transportError: undefined };
      try {
        return await calls.run(ctx, fn);
      } catch (err) {
        // A cancelled attempt is the caller's decision, not a CA failure: pass the reason through unchanged.
        if (signal?.aborted) throw signal.reason;
        if ((err as Error)?.name === 'AbortError') throw err;
        throw classifyAcmeError(err, domain, { problem: ctx.problem, transportError: ctx.transportError, directoryUrl: opts.directoryUrl });
      }
    },
    close() {
      ax.interceptors.request.eject(requestHook);
      ax.interceptors.response.eject(responseHook);
      agent.destroy();
    },
  };
}

/**
 * A transformResponse step that runs inside axios for every response, before acme-client's retry
 * interceptor: records the CA's problem document and Retry-After in the current call context, and stops
 * acme-client from sleeping through a long Retry-After (it would otherwise wait hours on a rate limit).
 */
function makeProblemCapture(calls: AsyncLocalStorage<CallContext>, opts: AcmeTransportOptions): Transform {
  return function captureProblem(this: unknown, data, headers, status) {
    const ctx = calls.getStore();
    if (!ctx || status === undefined) return data;
    if (status >= 400) {
      const retryAfter = parseRetryAfter(headers?.['retry-after'], opts.clock.now().getTime());
      const doc = data as { type?: unknown; detail?: unknown } | undefined;
      if (doc && typeof doc === 'object' && typeof doc.type === 'string') {
        ctx.problem = { type: doc.type, detail: String(doc.detail ?? ''), status, source: 'response', ...(retryAfter ? { retryAfter } : {}) };
      }
      if (retryAfter !== undefined && retryAfter > opts.maxRetryAfterSeconds && this && typeof this === 'object') {
        // acme-client retries while `config.retryAttempt` <= its limit; this makes the next check fail.
        (this as { retryAttempt?: number }).retryAttempt = Number.MAX_SAFE_INTEGER;
      }
    } else {
      ctx.transportError = undefined;
      ctx.problem = invalidItemProblem(data, status);
    }
    return data;
  };
}

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
