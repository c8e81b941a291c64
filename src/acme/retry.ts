/**
 * Retries of one request to the CA, done here instead of by acme-client. Its own retry (in an axios
 * response interceptor) sleeps `Retry-After` or 5 s x attempt on timers no signal reaches (a refused CA
 * took 60 s to fail with default settings), and when its retries run out on a request that got no response
 * it throws `TypeError: Cannot read properties of undefined (reading 'config')` instead of the network
 * error. So the transport turns acme-client's retry off per request and wraps axios' http adapter with this:
 * 5xx and 429 answers (RFC 8555 section 6.6) and network errors are retried `retryMaxAttempts` times after
 * the CA's Retry-After (capped at maxRetryAfterSeconds: a longer one ends the attempt, and the renewal
 * backoff honours it) or exponential delays, every sleep ends when the attempt's signal aborts, and the
 * real error of the last try is kept for the message. A request timeout is not retried (acme-client did
 * not either): the renewal backoff retries a CA that hangs.
 */
import { createRequire } from 'node:module';
import type { Clock } from '../clock.ts';
import { sleep } from './poll.ts';

/** What one request's retries record for messages and classification (client.ts keeps one per run()). */
export interface RetryState {
  readonly signal: AbortSignal | undefined;
  /** The last error without a response (refused, reset, timeout, TLS), the real one behind acme-client's TypeError. */
  transportError: Error | undefined;
  /** `HTTP 503 from POST https://ca/new-order`, or `ECONNREFUSED from GET …`: the last failed try. */
  lastFailure: string | undefined;
  /** How many times the last failed request was retried. */
  retries: number;
}

export interface RetryPolicy {
  readonly retryMaxAttempts: number;
  readonly maxRetryAfterSeconds: number;
  /** First delay without a Retry-After; doubles per retry up to maxDelayMs. */
  readonly firstDelayMs: number;
  readonly maxDelayMs: number;
  readonly clock: Clock;
}

interface AxiosLikeError extends Error {
  code?: string;
  response?: { status: number; headers: Record<string, unknown> };
}

interface RequestConfig { method?: string; url?: string }
export type Adapter = (config: RequestConfig) => Promise<unknown>;

/** axios' own http adapter, from the copy of axios that acme-client loads (no second axios is involved). */
export function axiosHttpAdapter(): Adapter {
  const axios = createRequire(import.meta.resolve('acme-client'))('axios') as { getAdapter(name: string): Adapter };
  return axios.getAdapter('http');
}

/** Retry-After as seconds from now: delta-seconds or an HTTP-date (RFC 9110 section 10.2.3). */
export function parseRetryAfter(value: unknown, nowMs: number): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

// Aborted on purpose (timeout, signal), or an answer the CA meant: never retried.
const FINAL_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'ERR_CANCELED', 'ERR_BAD_OPTION_VALUE']);

/**
 * `adapter` with the retries described above. acme-client makes every response a rejection (it validates
 * statuses itself), so an answer other than 5xx/429 is passed on untouched.
 */
export function withRetries(adapter: Adapter, policy: RetryPolicy, state: RetryState): Adapter {
  return async (config) => {
    for (let retry = 0; ; retry++) {
      try {
        return await adapter(config);
      } catch (e) {
        const err = e as AxiosLikeError;
        const status = err.response?.status;
        if (status !== undefined && status !== 429 && status < 500) throw err;
        const request = `${(config.method ?? 'get').toUpperCase()} ${config.url ?? ''}`;
        state.lastFailure = `${status !== undefined ? `HTTP ${status}` : err.code ?? err.message} from ${request}`;
        if (status === undefined) state.transportError = err;
        const retryAfter = status !== undefined ? parseRetryAfter(err.response!.headers['retry-after'], policy.clock.now().getTime()) : undefined;
        state.retries = retry;
        if (retry >= policy.retryMaxAttempts || state.signal?.aborted || FINAL_CODES.has(err.code ?? '')
          || (retryAfter !== undefined && retryAfter > policy.maxRetryAfterSeconds)) throw err;
        await sleep(retryAfter !== undefined ? retryAfter * 1000 : Math.min(policy.firstDelayMs * 2 ** retry, policy.maxDelayMs), state.signal);
      }
    }
  };
}
