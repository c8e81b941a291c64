/**
 * An HTTP/2 client for tests (node:http2 over real TLS to 127.0.0.1), with the session closed after the
 * test, and one request that resolves to everything the client received: status, headers, body, trailers,
 * or the RST_STREAM code when the stream was reset.
 */
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';

type Ctx = { after(fn: () => unknown): void };

export interface H2Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  trailers: IncomingHttpHeaders | null;
  /** Set when the stream ended in RST_STREAM (or the session went away) instead of an answer. */
  rstCode: number | null;
}

/** Opens an HTTP/2 session to 127.0.0.1:port with `servername` as SNI (certificates are not verified). */
export async function h2Connect(t: Ctx, port: number, servername: string, opts: { ca?: string } = {}): Promise<ClientHttp2Session> {
  const session = http2.connect(`https://127.0.0.1:${port}`, {
    servername, ...(opts.ca ? { ca: opts.ca, checkServerIdentity: () => undefined } : { rejectUnauthorized: false }),
  });
  t.after(() => { if (!session.destroyed) session.destroy(); });
  session.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return session;
}

/**
 * One request on `session`: `headers` without `:authority` get `authority`; `body` is sent and the stream
 * ended (with `trailers` after it, when given). Rejects after `timeoutMs` without an end.
 */
export function h2Request(session: ClientHttp2Session, authority: string, headers: OutgoingHttpHeaders,
  opts: { body?: string | Buffer; trailers?: OutgoingHttpHeaders; timeoutMs?: number } = {}): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const hasBody = opts.body !== undefined;
    const stream = session.request({ ':authority': authority, ...headers },
      { endStream: !hasBody, ...(opts.trailers ? { waitForTrailers: true } : {}) });
    if (opts.trailers) stream.once('wantTrailers', () => stream.sendTrailers(opts.trailers!));
    const chunks: Buffer[] = [];
    const reply: H2Reply = { status: 0, headers: {}, body: Buffer.alloc(0), trailers: null, rstCode: null };
    const timer = setTimeout(() => { stream.close(); reject(new Error(`no end within ${opts.timeoutMs ?? 15_000} ms`)); }, opts.timeoutMs ?? 15_000);
    stream.on('response', (h) => { reply.headers = h; reply.status = Number(h[':status']); });
    stream.on('trailers', (h) => { reply.trailers = h; });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => {});
    stream.on('close', () => {
      clearTimeout(timer);
      reply.body = Buffer.concat(chunks);
      if (stream.rstCode !== undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) reply.rstCode = stream.rstCode;
      resolve(reply);
    });
    if (hasBody) stream.end(opts.body);
  });
}
