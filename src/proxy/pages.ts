/**
 * Error replies the edge itself writes (404, 400, 403, 502, 504, 308). Short, self-explanatory pages: the
 * person staring at a 502 should learn from the page what the log says in full. Both a raw-socket form
 * (for upgrade requests, where no ServerResponse exists) and a ServerResponse form share one renderer.
 */
import type { ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

const TITLES: Record<number, string> = {
  400: 'Bad request', 403: 'Forbidden', 404: 'Not found', 502: 'Bad gateway', 504: 'Gateway timeout',
};

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface ErrorPage {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/** Renders the page; HTML for browsers, plain text for everything else (curl, scripts). */
export function renderErrorPage(p: ErrorPage, acceptsHtml: boolean): { type: string; body: string } {
  const title = `${p.status} ${TITLES[p.status] ?? STATUS_CODES[p.status] ?? 'Error'}`;
  if (!acceptsHtml) return { type: 'text/plain; charset=utf-8', body: `${title}\n${p.message}\n(${p.code}, idcs-edge)\n` };
  const body = `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>`
    + '<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;color:#222}code{color:#555}</style>'
    + `</head><body><h1>${title}</h1><p>${escapeHtml(p.message)}</p><p><code>${p.code}</code> &middot; idcs-edge</p></body></html>\n`;
  return { type: 'text/html; charset=utf-8', body };
}

function wantsHtml(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes('text/html');
}

/** Sends an error page on a ServerResponse, unless headers already went out (then the socket is cut). */
export function sendErrorPage(res: ServerResponse, accept: string | undefined, p: ErrorPage): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { type, body } = renderErrorPage(p, wantsHtml(accept));
  res.writeHead(p.status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-edge-error': p.code,
  });
  res.end(body);
}

/** Writes an error reply on a raw socket (refused WebSocket upgrades) and closes it. */
export function sendErrorOnSocket(socket: Duplex, p: ErrorPage): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const { type, body } = renderErrorPage(p, false);
  socket.end(`HTTP/1.1 ${p.status} ${STATUS_CODES[p.status] ?? 'Error'}\r\n`
    + `content-type: ${type}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-edge-error: ${p.code}\r\n`
    + `connection: close\r\n\r\n${body}`);
  // end() flushes; destroy after the flush so the pair never lingers half-open.
  socket.once('finish', () => socket.destroy());
}

/** 308 to HTTPS, keeping method and body (RFC 9110 15.4.9). */
export function sendHttpsRedirect(res: ServerResponse, host: string, httpsPort: number, url: string): void {
  const location = `https://${host}${httpsPort === 443 ? '' : `:${httpsPort}`}${url.startsWith('/') ? url : `/${url}`}`;
  res.writeHead(308, { location, 'content-length': 0, 'cache-control': 'no-store' });
  res.end();
}
