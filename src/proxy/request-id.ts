/**
 * Request IDs: one per request, on the response (`X-Request-Id`), on the error page, in the log lines and
 * sent to the VM, so that a user can quote one ID and the operator can find both sides. An ID is a random
 * per-process prefix and a counter: unique across workers and edges without a random draw per request.
 * A client's own `X-Request-Id` is kept only from a trusted proxy (one in front of the edge that set it),
 * and only when it is a short run of visible characters, so it can never inject into headers or logs.
 */
import { randomBytes } from 'node:crypto';

export interface RequestIds {
  /** A new ID. */
  next(): string;
  /** The ID to use: `incoming` when the peer is trusted and the value is acceptable, else a new one. */
  forRequest(incoming: string | string[] | undefined, trustedPeer: boolean): string;
}

/** Visible ASCII without spaces, 1-128 characters. */
export function isAcceptableRequestId(v: string): boolean {
  if (v.length === 0 || v.length > 128) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

export function createRequestIds(): RequestIds {
  const prefix = randomBytes(6).toString('hex');
  let n = 0;
  const next = () => `${prefix}${(++n).toString(36).padStart(6, '0')}`;
  return {
    next,
    forRequest(incoming, trustedPeer) {
      if (trustedPeer && typeof incoming === 'string' && isAcceptableRequestId(incoming)) return incoming;
      return next();
    },
  };
}
