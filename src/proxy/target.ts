/**
 * The request target and body coding, checked before a request is routed. Pure: it reads and rewrites a
 * request's url and Host, nothing else. A few char-code checks on the common path (a path beginning `/`,
 * no Transfer-Encoding); the rest only for the requests that need it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { CHALLENGE_PATH_PREFIX, isValidToken } from '../acme/challenges.ts';
import { ErrorCodes, type Failure } from '../errors.ts';

/** What the checks read and may rewrite (an IncomingMessage satisfies it). */
export interface TargetRequest {
  url?: string | undefined;
  readonly method?: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

const badTarget = (message: string): Failure => ({ code: ErrorCodes.BAD_TARGET, message });

/**
 * RFC 9112 3.2.2: a server must accept the absolute-form (`http://host/path`, what a client sends a
 * forward proxy), and its authority replaces Host. Rewritten to origin-form with that authority as Host,
 * so the name the edge routes by is the name the VM sees. The path is kept byte for byte (no URL parser:
 * it would resolve dot segments and re-encode, and the VM must see what the client sent).
 */
function absoluteToOrigin(req: TargetRequest, url: string): Failure | null {
  const m = /^https?:\/\/([^/?#]*)(.*)$/is.exec(url);
  if (!m) return badTarget(`the request target ${JSON.stringify(url.slice(0, 100))} is neither a path nor an http(s) URL`);
  const authority = m[1]!;
  if (authority === '' || authority.includes('@')) {
    return badTarget(`the absolute-form target ${JSON.stringify(url.slice(0, 100))} has no host, or user information (RFC 9110 4.2.4)`);
  }
  const rest = m[2]!;
  req.url = rest === '' || rest.charCodeAt(0) === 35 /* # */ ? '/' : rest.charCodeAt(0) === 63 /* ? */ ? `/${rest}` : rest;
  req.headers.host = authority;
  return null;
}

/**
 * HTTP-01 answers are the one path the edge serves itself, and the one path an HTTPS-only route serves
 * over plain HTTP (a VM may run its own ACME client). So a path under the challenge prefix must be exactly
 * one token (RFC 8555 8.3: base64url): `../x`, `%2e%2e`, an encoded slash or a `/` in the token would let
 * a plain-HTTP request reach the VM at another path past the HTTPS redirect.
 */
function challengePathProblem(url: string): Failure | null {
  const q = url.indexOf('?');
  const token = url.slice(CHALLENGE_PATH_PREFIX.length, q < 0 ? url.length : q);
  return isValidToken(token) ? null
    : badTarget(`${JSON.stringify(url.slice(0, 100))} is under ${CHALLENGE_PATH_PREFIX} but is not one ACME token (base64url characters only)`);
}

/**
 * Checks (and for absolute-form, rewrites) the request's target and its Transfer-Encoding; returns why it
 * must be refused, or null. Node's parser has already refused what is not HTTP/1.1 at all.
 */
export function checkRequestTarget(req: TargetRequest): Failure | null {
  const url = req.url ?? '';
  if (url.charCodeAt(0) !== 47 /* / */) {
    // node:http hands CONNECT to its own event; over HTTP/2 it arrives as a request without a path.
    if (req.method === 'CONNECT') {
      return { code: ErrorCodes.NOT_IMPLEMENTED, message: `CONNECT ${JSON.stringify(String(req.headers.host ?? '').slice(0, 100))}: this edge is a reverse proxy, not a forward proxy` };
    }
    if (url === '*') {
      if (req.method !== 'OPTIONS') return badTarget(`the target * is for OPTIONS only, not ${req.method}`);
    } else {
      const f = absoluteToOrigin(req, url);
      if (f) return f;
    }
  }
  if (req.url!.startsWith(CHALLENGE_PATH_PREFIX)) {
    const f = challengePathProblem(req.url!);
    if (f) return f;
  }
  const te = req.headers['transfer-encoding'];
  // RFC 9112 6.1: a transfer coding the server does not understand is a 501. The parser guarantees chunked
  // comes last; any other coding before it (gzip, identity) would reach the VM decoded wrongly.
  if (te !== undefined && !(te.length === 7 && te.toLowerCase() === 'chunked')) {
    return { code: ErrorCodes.NOT_IMPLEMENTED, message: `the request's Transfer-Encoding ${JSON.stringify(te.slice(0, 100))} has a coding other than chunked` };
  }
  return null;
}
