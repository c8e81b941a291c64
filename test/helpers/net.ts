/**
 * Real servers on 127.0.0.1 port 0 for integration tests, with cleanup registered where they are made,
 * and a poll-with-deadline helper (tests never sleep for a fixed time).
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { TestContext } from 'node:test';
import tls from 'node:tls';
import { WebSocketServer, WebSocket } from 'ws';

type Ctx = Pick<TestContext, 'after'> | { after(fn: () => unknown): void };

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function listen0(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

/**
 * Listens on 127.0.0.1 port 0 and, when the test ends, closes `server` with every connection it has
 * (WebSockets of `wss` first, terminated); resolves with the port.
 */
export async function serveOnLoopback(t: Ctx, server: http.Server, wss?: WebSocketServer): Promise<number> {
  const port = await listen0(server);
  t.after(() => new Promise<void>((r) => {
    if (wss) {
      for (const c of wss.clients) c.terminate();
      wss.close();
    }
    server.closeAllConnections();
    server.close(() => r());
  }));
  return port;
}

export interface Backend {
  readonly port: number;
  /** TCP connections the backend has accepted (to count upstream reconnects). */
  connections(): number;
  readonly requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>;
}

/**
 * A VM-like backend: answers every request with JSON naming itself and echoing what it received, and echoes
 * WebSocket messages prefixed with its name. `/slow?ms=N` answers after N ms; `/hang` never answers.
 */
export async function startBackend(t: Ctx, name: string, opts: { tls?: { cert: string; key: string } } = {}): Promise<Backend> {
  const requests: Backend['requests'] = [];
  let connections = 0;
  const handler: http.RequestListener = (req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    if (req.url === '/hang') return;
    const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms') ?? 0);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      setTimeout(() => {
        const body = JSON.stringify({ backend: name, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-backend': name });
        res.end(body);
      }, ms);
    });
  };
  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : http.createServer(handler);
  server.on(opts.tls ? 'secureConnection' : 'connection', () => { connections++; });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    ws.on('message', (data) => ws.send(`${name}:${req.headers['x-forwarded-proto']}:${data.toString()}`));
  });
  const port = await serveOnLoopback(t, server, wss);
  return { port, connections: () => connections, requests };
}

/**
 * Ports refusedPort handed out in this test process: the kernel may give a port just closed to the next
 * listen(0), and `{ http: await refusedPort(), https: await refusedPort() }` must get two.
 */
const handedOut = new Set<number>();

/**
 * A loopback port that was free a moment ago, for a listener the test starts next (connections to it are
 * refused until then), never one this process was given before. Another process may take it meanwhile;
 * for a VM that must refuse, use deadPort.
 */
export async function refusedPort(): Promise<number> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const s = net.createServer();
    const port = await listen0(s);
    await new Promise((r) => s.close(r));
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`listen(0) gave only ports handed out before (${handedOut.size} of them)`);
}

/**
 * A loopback port that refuses connections for as long as the test runs: the local port of a connected
 * client socket, which is not listening (a SYN to it gets a reset) and which no other socket can bind (or be
 * given by listen(0)) while it is held. A port merely closed again can be taken by a parallel test at once.
 */
export async function deadPort(t: Ctx): Promise<number> {
  const server = net.createServer();
  const accepted = new Set<net.Socket>();
  server.on('connection', (c) => accepted.add(c));
  const port = await listen0(server);
  const client = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
  // The server side is not needed any more: the client socket alone holds the port.
  server.close();
  t.after(() => {
    client.destroy();
    for (const c of accepted) c.destroy();
  });
  return client.localPort!;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The certificate the server presented (HTTPS only). */
  cert?: tls.PeerCertificate;
}

/**
 * One request to the edge at 127.0.0.1:port with the given Host (and SNI for HTTPS); a fresh connection.
 * Rejects after `timeoutMs` (default 15 s) without an answer, so a hung request fails its test.
 */
export function request(port: number, host: string, opts: { https?: boolean; path?: string; method?: string;
  headers?: Record<string, string>; body?: string; servername?: string; ca?: string; timeoutMs?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const mod = opts.https ? https : http;
    const req = mod.request({
      host: '127.0.0.1', port, path: opts.path ?? '/', method: opts.method ?? 'GET', agent: false,
      headers: { host, ...opts.headers },
      ...(opts.https ? { servername: opts.servername ?? host.replace(/:\d+$/, ''), rejectUnauthorized: !!opts.ca, ...(opts.ca ? { ca: opts.ca } : {}) } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      const cert = opts.https ? (res.socket as tls.TLSSocket).getPeerCertificate() : undefined;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), ...(cert ? { cert } : {}) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(opts.timeoutMs ?? 15_000, () => req.destroy(new Error(`no answer within ${opts.timeoutMs ?? 15_000} ms`)));
    req.end(opts.body);
  });
}

/** The certificate a TLS handshake with the given SNI name presents (no HTTP involved). */
export function peerCertificate(port: number, servername: string | undefined): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ...(servername ? { servername } : {}), rejectUnauthorized: false }, () => {
      const c = s.getPeerCertificate();
      s.destroy();
      resolve(c);
    });
    s.on('error', reject);
  });
}

/** Opens a WebSocket through the edge and resolves once it is open. */
export function openWebSocket(port: number, host: string, opts: { https?: boolean; path?: string } = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${opts.https ? 'wss' : 'ws'}://127.0.0.1:${port}${opts.path ?? '/'}`, {
      headers: { host }, ...(opts.https ? { servername: host, rejectUnauthorized: false } : {}),
    });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

export function echo(ws: WebSocket, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    ws.once('message', (d) => resolve(d.toString()));
    ws.once('error', reject);
    ws.send(msg);
  });
}

export function closed(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve(1006);
    ws.once('close', (code) => resolve(code));
  });
}
