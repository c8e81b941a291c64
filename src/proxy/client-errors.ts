/**
 * Requests node:http refuses before the pipeline sees them (its 'clientError' event): not valid HTTP/1.1
 * (llhttp's strict parser: both Content-Length and Transfer-Encoding, conflicting lengths, an obfuscated
 * Transfer-Encoding, control characters; RFC 9112 6.3 says a server must refuse these rather than guess),
 * a request line and header block over `limits.maxHeaderBytes`, or headers slower than
 * `timeouts.requestHeadersMs`. Each gets the edge's own error reply (code, request ID) and one
 * `request failed` line at info level: the client's fault, not the operator's. Nothing reaches a VM.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ErrorCodes, statusOf, type Failure } from '../errors.ts';
import type { Logger } from '../log.ts';
import { unmapV4 } from './forwarded.ts';
import type { InboundSettings } from './inbound.ts';
import { sendErrorOnSocket, type PageDetail } from './pages.ts';
import type { RequestIds } from './request-id.ts';

export interface ClientErrorDeps {
  readonly ids: RequestIds;
  readonly log: Logger;
  inbound(): InboundSettings;
  /** The running `errorPages.detail`. */
  detail(): PageDetail;
}

type ParserError = Error & { code?: string; reason?: string };

/** Errors of the HTTP parser and its deadline: the only ones a reply can be written for. */
function isHttpLevel(code: string | undefined): boolean {
  return code !== undefined && (code.startsWith('HPE_') || code === 'ERR_HTTP_REQUEST_TIMEOUT');
}

/** What the client did wrong, in the operator's words. */
export function clientFailure(err: ParserError, s: InboundSettings): Failure {
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    return { code: ErrorCodes.HEADERS_TOO_LARGE,
      message: `the request line and headers are larger than limits.maxHeaderBytes (${s.limits.maxHeaderBytes} bytes)` };
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { code: ErrorCodes.HEADERS_TIMEOUT,
      message: `the request's headers did not arrive within timeouts.requestHeadersMs (${s.timeouts.requestHeadersMs} ms)` };
  }
  return { code: ErrorCodes.BAD_REQUEST, message: `the request is not valid HTTP/1.1 (${err.code ?? 'error'}: ${err.reason ?? err.message})` };
}

/** The 'clientError' listener for both listeners. */
export function createClientErrorHandler(deps: ClientErrorDeps): (err: ParserError, socket: Duplex) => void {
  return (err, socket) => {
    const s = socket as Socket & { _httpMessage?: ServerResponse | null };
    // Anything else is the connection itself failing (a reset, or on HTTPS a failed or timed-out TLS
    // handshake, which node:https reports here too and the listener logs): nothing can be answered.
    if (!isHttpLevel(err.code) || !s.writable) {
      s.destroy();
      return;
    }
    // A connection that never sent a byte (a browser's speculative preconnect, a port scan) is closed
    // quietly at the headers deadline, as nginx does; one that began a request is told why.
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && s.bytesRead === 0) {
      s.destroy();
      return;
    }
    const failure = clientFailure(err, deps.inbound());
    const id = deps.ids.forRequest(undefined, false);
    deps.log.info({ id, client: unmapV4(s.remoteAddress ?? ''), status: statusOf(failure.code), code: failure.code, err: failure.message },
      'request failed');
    // A response of an earlier pipelined request is on its way: another reply would corrupt it.
    if (s._httpMessage?.headersSent) {
      s.destroy();
      return;
    }
    sendErrorOnSocket(s, { failure, requestId: id, detail: deps.detail() });
  };
}
