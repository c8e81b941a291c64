/**
 * The transport under acme-client: an https agent that trusts `acme.caFile` on top of the default roots, a
 * deadline per request, an abort signal that reaches every request and every retry sleep, retries of our
 * own (retry.ts), and capture of what the CA said (problem document, Retry-After, network error) so that
 * errors can be classified at our boundary instead of surfacing as acme-client's bare `Error(detail)`.
 *
 * acme-client sends every request through ONE module-level axios instance (`acme.axios`) and offers no
 * per-client transport option. Each transport therefore adds its own interceptors to that instance when it
 * is made and ejects them in close(); they act only on requests made inside the transport's own `run()`
 * (an AsyncLocalStorage per transport), so two issuers with different CAs in one process do not see each
 * other's agent, limits or errors, and nothing outlives the issuer. No default of the shared instance is
 * written: acme-client's retry is turned off per request (it compares `config.retryAttempt` with its limit)
 * and the request's adapter is ours.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import acme from 'acme-client';
import type { Clock } from '../clock.ts';
import { AcmeError, AcmeErrorCodes, classifyAcmeError, type AcmeProblem } from './errors.ts';
import { axiosHttpAdapter, parseRetryAfter, withRetries, type RetryState } from './retry.ts';

export interface AcmeTransportOptions {
  readonly directoryUrl: string;
  /** PEM file of extra CA(s) trusted for the ACME server. */
  readonly caFile?: string | undefined;
  readonly requestTimeoutMs: number;
  readonly retryMaxAttempts: number;
  readonly maxRetryAfterSeconds: number;
  /** First and longest delay between retries without a Retry-After. */
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  readonly clock: Clock;
}

export interface AcmeTransport {
  readonly directoryUrl: string;
  /**
   * Runs `fn` (acme-client calls) over this transport; rejects with an AcmeError about `domain`. When
   * `signal` aborts, every request in flight is cancelled, every retry sleep ends, and the run rejects at
   * once with the abort reason.
   */
  run<T>(domain: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Removes this transport's hooks from acme-client and closes its sockets. */
  close(): void;
}

interface CallContext extends RetryState {
  problem: AcmeProblem | undefined;
}

type AxiosConfig = Parameters<NonNullable<Parameters<typeof acme.axios.interceptors.request.use>[0]>>[0] & { retryAttempt?: number };
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
  const calls = new AsyncLocalStorage<CallContext>();
  const agent = new https.Agent({
    keepAlive: false,
    // `default` = bundled roots + NODE_EXTRA_CA_CERTS (+ system store with --use-system-ca); passing `ca`
    // replaces the defaults, so they are listed explicitly.
    ...(extraCa ? { ca: [...tls.getCACertificates('default'), extraCa] } : {}),
  });
  const http = axiosHttpAdapter();
  const policy = { retryMaxAttempts: opts.retryMaxAttempts, maxRetryAfterSeconds: opts.maxRetryAfterSeconds,
    firstDelayMs: opts.retryMinMs, maxDelayMs: opts.retryMaxMs, clock: opts.clock };

  const ax = acme.axios;
  const captureProblem = makeProblemCapture(calls, opts);
  const requestHook = ax.interceptors.request.use((config: AxiosConfig) => {
    const ctx = calls.getStore();
    if (!ctx) return config;
    ctx.signal?.throwIfAborted();
    // An HTTPS_PROXY in the environment must never capture ACME traffic (or loopback traffic in tests).
    config.proxy = false;
    config.httpsAgent ??= agent;
    // The deadline of one request: axios aborts it (ECONNABORTED). A socket timeout would not do: axios
    // resets it on the request it makes.
    config.timeout = opts.requestTimeoutMs;
    if (ctx.signal) config.signal = ctx.signal as NonNullable<AxiosConfig['signal']>;
    // acme-client retries while retryAttempt <= its limit: never, so that only ours (abortable) run.
    config.retryAttempt = Number.MAX_SAFE_INTEGER;
    config.adapter = withRetries(http, policy, ctx) as NonNullable<AxiosConfig['adapter']>;
    const fns = (Array.isArray(config.transformResponse) ? config.transformResponse
      : config.transformResponse ? [config.transformResponse] : []) as Transform[];
    if (!fns.includes(captureProblem)) config.transformResponse = [...fns, captureProblem] as typeof config.transformResponse;
    return config;
  });
  // After acme-client's own handler, which turns a request that got no response into a TypeError: the
  // error the request really failed with is what the user must read.
  const responseHook = ax.interceptors.response.use(undefined, (err: unknown) => {
    const ctx = calls.getStore();
    if (ctx && err instanceof TypeError && ctx.transportError) throw ctx.transportError;
    throw err;
  });

  return {
    directoryUrl: opts.directoryUrl,
    async run(domain, fn, signal) {
      const ctx: CallContext = { signal, problem: undefined, transportError: undefined, lastFailure: undefined, retries: 0 };
      const work = calls.run(ctx, fn);
      try {
        return await (signal ? untilAborted(work, signal) : work);
      } catch (err) {
        // A cancelled attempt is the caller's decision, not a CA failure: pass the reason through unchanged.
        if (signal?.aborted) throw signal.reason;
        if ((err as Error)?.name === 'AbortError') throw err;
        throw classifyAcmeError(err, domain, { problem: ctx.problem, transportError: ctx.transportError, directoryUrl: opts.directoryUrl,
          lastFailure: ctx.lastFailure, retries: ctx.retries });
      }
    },
    close() {
      ax.interceptors.request.eject(requestHook);
      ax.interceptors.response.eject(responseHook);
      agent.destroy();
    },
  };
}

/** `work`, or the signal's reason as soon as it aborts (work that does not watch the signal is left to finish). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * A transformResponse step that runs inside axios for every response: records the CA's problem document
 * and Retry-After in the current call context.
 */
function makeProblemCapture(calls: AsyncLocalStorage<CallContext>, opts: AcmeTransportOptions): Transform {
  return function captureProblem(data, headers, status) {
    const ctx = calls.getStore();
    if (!ctx || status === undefined) return data;
    if (status >= 400) {
      const retryAfter = parseRetryAfter(headers?.['retry-after'], opts.clock.now().getTime());
      const doc = data as { type?: unknown; detail?: unknown } | undefined;
      if (doc && typeof doc === 'object' && typeof doc.type === 'string') {
        ctx.problem = { type: doc.type, detail: String(doc.detail ?? ''), status, source: 'response', ...(retryAfter ? { retryAfter } : {}) };
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
