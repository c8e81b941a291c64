/**
 * Waiting on the CA without ever outliving the attempt: an abortable sleep, and the polling of an
 * authorization or order until it is no longer pending (RFC 8555 section 7.5.1: "the client SHOULD NOT
 * poll more frequently than the server's Retry-After, and should back off"). acme-client's own
 * waitForValidStatus sleeps on timers that no signal reaches, so a SIGTERM waited for the next poll (up to
 * pollMaxMs) and its timer kept the process alive; ours stop the moment the signal aborts.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { AcmeError, AcmeErrorCodes } from './errors.ts';

/** Resolves after `ms`; rejects with the signal's reason as soon as `signal` aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  try {
    await delay(ms, undefined, signal ? { signal } : {});
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw err;
  }
}

export interface PollOptions {
  /** The certificate name, for the error. */
  readonly domain: string;
  readonly minMs: number;
  readonly maxMs: number;
  readonly attempts: number;
  readonly signal?: AbortSignal | undefined;
}

const PENDING = new Set(['pending', 'processing']);

/**
 * Calls `fetch` until the item it returns has `status` `valid` (or `ready`, when `ready` counts), with
 * exponential delays from minMs to maxMs. An `invalid` item rejects with an Error naming `what` (the
 * transport has captured the CA's problem document from that same response); a pending one after
 * `attempts` polls rejects with AcmeError(EDGE_ERR_ACME_FAILED) naming `what` and the number of polls.
 */
export async function waitForStatus<T extends { status: string }>(what: string, fetch: () => Promise<T>, opts: PollOptions,
  accept: readonly string[] = ['valid']): Promise<T> {
  let wait = opts.minMs;
  for (let poll = 1; ; poll++) {
    opts.signal?.throwIfAborted();
    const item = await fetch();
    if (accept.includes(item.status)) return item;
    if (!PENDING.has(item.status)) throw new Error(`${what} is ${item.status}`);
    if (poll >= opts.attempts) {
      throw new AcmeError(AcmeErrorCodes.FAILED, opts.domain, `the ACME CA left ${what} ${item.status} after ${poll} polls (acme.pollAttempts)`);
    }
    await sleep(wait, opts.signal);
    wait = Math.min(wait * 2, opts.maxMs);
  }
}
