/**
 * Raw HTTP/1.1 on both sides, for requests no well-behaved client library would send: a client that writes
 * exact bytes and reads the whole reply, and a VM that records the exact bytes it received next to what a
 * real HTTP parser made of them (so a test can tell "one request with a body" from "two requests").
 */
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';

type Ctx = { after(fn: () => unknown): void };

export interface RawReply {
  /** Everything the edge sent before closing (or before the read deadline). */
  readonly text: string;
  readonly status: number;
  /** The edge closed the connection (as opposed to the deadline passing). */
  readonly closed: boolean;
}

/** true once `text` holds one whole response: its header block and a Content-Length body (or none). */
function complete(text: string): boolean {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const len = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end));
  if (len) return Buffer.byteLength(text.slice(end + 4), 'latin1') >= Number(len[1]);
  return /\r\ntransfer-encoding: *chunked/i.test(text.slice(0, end)) ? text.endsWith('0\r\n\r\n') : false;
}

/**
 * Sends `bytes` on a fresh connection to 127.0.0.1:port and collects the reply until one whole response
 * arrived, the edge closes, or `deadlineMs` passes. With `tls`, the handshake uses `servername` as SNI.
 * `halfClose` ends the write side after the bytes (node:http servers then abort the request); `localAddress`
 * connects from another loopback address (127.0.0.2) to play a second client.
 */
export function rawRequest(port: number, bytes: string | Buffer, opts: { tls?: boolean; servername?: string; deadlineMs?: number;
  halfClose?: boolean; localAddress?: string } = {}): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const local = opts.localAddress ? { localAddress: opts.localAddress } : {};
    const socket: net.Socket = opts.tls
      ? tls.connect({ host: '127.0.0.1', port, servername: opts.servername ?? 'localhost', rejectUnauthorized: false, ...local })
      : net.connect({ host: '127.0.0.1', port, ...local });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ text, status: m ? Number(m[1]) : 0, closed });
    };
    const timer = setTimeout(() => finish(false), opts.deadlineMs ?? 3000);
    socket.once(opts.tls ? 'secureConnect' : 'connect', () => {
      if (opts.halfClose) socket.end(bytes);
      else socket.write(bytes);
    });
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      if (complete(Buffer.concat(chunks).toString('latin1'))) finish(false);
    });
    socket.on('close', () => finish(true));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset after the reply still counts as the edge closing.
      if (chunks.length > 0 || err.code === 'ECONNRESET') finish(true);
      else if (!done) { done = true; clearTimeout(timer); reject(err); }
    });
  });
}

export interface RecordingVm {
  readonly port: number;
  /** What the VM's HTTP parser saw, in order. */
  readonly requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }>;
  /** Every byte the VM received, per connection, in order. */
  readonly raw: string[];
  rawAll(): string;
}

/** A VM that answers every request 200 `ok` and records both the parsed requests and the raw bytes. */
export async function startRecordingVm(t: Ctx): Promise<RecordingVm> {
  const requests: RecordingVm['requests'] = [];
  const raw: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('latin1') });
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
      res.end('ok');
    });
  });
  server.on('connection', (s: net.Socket) => {
    const i = raw.push('') - 1;
    s.on('data', (c: Buffer) => { raw[i] += c.toString('latin1'); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { port: (server.address() as net.AddressInfo).port, requests, raw, rawAll: () => raw.join('') };
}
