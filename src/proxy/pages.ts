/**
 * Replies the edge writes itself: error pages, the HTTPS redirect and the challenge answer. Error pages are
 * public: a visitor reads what happened in plain words, the code and the request ID, which is what they
 * quote to the operator; the operator finds the detail (addresses, TLS reasons, inventory facts) in the log
 * line with that ID. `errorPages.detail: operator` puts the detail on the page too. A proxy's own page files
 * replace the built-in page for their status. Both a ServerResponse form and a raw-socket form (refused
 * upgrades, where no ServerResponse exists) share one renderer.
 */
import type { ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { publicMessageOf, statusOf, type Failure } from '../errors.ts';

export type PageDetail = 'public' | 'operator';

/** Everything a page needs, decided before rendering. */
export interface PageInput {
  readonly failure: Failure;
  readonly requestId: string;
  readonly detail: PageDetail;
  /** A proxy's own page for this status (its file's text), with `{{status}}`, `{{code}}`, `{{requestId}}`, `{{message}}`. */
  readonly custom?: string | undefined;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function titleOf(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? 'Error'}`;
}

/** Renders the page: a proxy's own HTML, else built-in HTML for browsers and plain text for everything else. */
export function renderErrorPage(p: PageInput, acceptsHtml: boolean): { status: number; type: string; body: string } {
  const status = statusOf(p.failure.code);
  const words = publicMessageOf(p.failure);
  const detail = p.detail === 'operator' && p.failure.message !== words ? p.failure.message : null;
  if (p.custom !== undefined) {
    const vars: Record<string, string> = { status: String(status), code: p.failure.code, requestId: p.requestId, message: words };
    const body = p.custom.replace(/\{\{(status|code|requestId|message)\}\}/g, (_m, k: string) => escapeHtml(vars[k]!));
    return { status, type: 'text/html; charset=utf-8', body };
  }
  const title = titleOf(status);
  if (!acceptsHtml) {
    return { status, type: 'text/plain; charset=utf-8',
      body: `${title}\n${words}\n${detail ? `${detail}\n` : ''}(${p.failure.code}, request ${p.requestId}, idcs-edge)\n` };
  }
  const body = `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>`
    + '<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;color:#222}code{color:#555}</style>'
    + `</head><body><h1>${title}</h1><p>${escapeHtml(words)}</p>${detail ? `<p>${escapeHtml(detail)}</p>` : ''}`
    + `<p><code>${p.failure.code}</code> &middot; request <code>${escapeHtml(p.requestId)}</code> &middot; idcs-edge</p></body></html>\n`;
  return { status, type: 'text/html; charset=utf-8', body };
}

function wantsHtml(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes('text/html');
}

/** Sends an error page on a ServerResponse, unless headers already went out (then the connection is cut). */
export function sendErrorPage(res: ServerResponse, accept: string | undefined, p: PageInput): number {
  const page = renderErrorPage(p, wantsHtml(accept));
  if (res.headersSent) {
    res.destroy();
    return page.status;
  }
  res.writeHead(page.status, {
    'content-type': page.type,
    'content-length': Buffer.byteLength(page.body),
    'cache-control': 'no-store',
    'x-edge-error': p.failure.code,
    'x-request-id': p.requestId,
  });
  res.end(page.body);
  return page.status;
}

/** The whole HTTP/1.1 error reply (status line, headers, plain-text page) for writing on a raw socket; it closes the connection. */
export function rawErrorReply(p: PageInput, extraHeaders = ''): { status: number; text: string } {
  const page = renderErrorPage(p, false);
  return { status: page.status, text: `HTTP/1.1 ${page.status} ${STATUS_CODES[page.status] ?? 'Error'}\r\n`
    + `content-type: ${page.type}\r\ncontent-length: ${Buffer.byteLength(page.body)}\r\nx-edge-error: ${p.failure.code}\r\n`
    + `x-request-id: ${p.requestId}\r\n${extraHeaders}connection: close\r\n\r\n${page.body}` };
}

/** Writes an error reply on a raw socket (refused upgrades, requests the parser refused) and closes it; returns the status sent. */
export function sendErrorOnSocket(socket: Duplex, p: PageInput, extraHeaders = ''): number {
  const reply = rawErrorReply(p, extraHeaders);
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return reply.status;
  }
  socket.end(reply.text);
  // end() flushes; destroy after the flush so the pair never lingers half-open.
  socket.once('finish', () => socket.destroy());
  return reply.status;
}

/** 308 to HTTPS, keeping method and body (RFC 9110 15.4.9). */
export function sendHttpsRedirect(res: ServerResponse, host: string, httpsPort: number, url: string, requestId: string): number {
  const location = `https://${host}${httpsPort === 443 ? '' : `:${httpsPort}`}${url.startsWith('/') ? url : `/${url}`}`;
  res.writeHead(308, { location, 'content-length': 0, 'cache-control': 'no-store', 'x-request-id': requestId });
  res.end();
  return 308;
}

/** The key authorization of an HTTP-01 challenge (RFC 8555 8.3), never cached. */
export function sendChallengeAnswer(res: ServerResponse, keyAuthorization: string, head: boolean, requestId: string): number {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(keyAuthorization),
    'cache-control': 'no-store', 'x-request-id': requestId });
  res.end(head ? undefined : keyAuthorization);
  return 200;
}
