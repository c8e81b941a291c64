/**
 * Clients that abort thousands of requests and WebSockets mid-flight, at every phase (before the request
 * is complete, while the VM thinks, mid-upload, mid-download, before and after the 101). Afterwards the
 * edge holds no extra connection on either side and no extra file descriptor: counted through
 * `edge.stats()`, `/proc/self/fd` (the edge runs in this process) and the VM's own open connection count,
 * not assumed. Loops are bounded by count; concurrency is bounded too.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { WebSocketServer, WebSocket } from 'ws';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { openFds } from '../helpers/fault-vms.ts';
import { request, serveOnLoopback, waitFor } from '../helpers/net.ts';

const APP = 'app.example.com';
const REQUESTS = 2_000;
const WEBSOCKETS = 500;
const IDLE_POOL = 8;

interface Vm {
  readonly port: number;
  /** TCP connections open on the VM now. */
  open(): number;
}

/** A VM with a slow answer, a large download, an upload sink and a WebSocket echo; counts its open connections. */
async function startVm(t: TestContext): Promise<Vm> {
  const sockets = new Set<net.Socket>();
  const big = Buffer.alloc(1024 * 1024, 0x64);
  const server = http.createServer((req, res) => {
    req.on('error', () => {});
    res.on('error', () => {});
    if (req.url === '/slow') return void setTimeout(() => res.end('slow'), 50);
    if (req.url === '/big') return void res.end(big);
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (d) => ws.send(d));
  });
  return { port: await serveOnLoopback(t, server, wss), open: () => sockets.size };
}

/** Runs `n` tasks, `concurrency` at a time. */
async function bounded(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) await task(next++);
  }));
}

/** One raw client that does `phase` and then destroys its socket (a reset when data is unread). */
function abortRequest(port: number, phase: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let done = false;
    const cut = () => {
      if (done) return;
      done = true;
      s.destroy();
      resolve();
    };
    s.on('error', cut);
    s.on('close', cut);
    s.once('connect', () => {
      switch (phase) {
        case 0: // before a byte
          return cut();
        case 1: // in the middle of the header block
          s.write(`GET /slow HTTP/1.1\r\nHost: ${APP}\r\nX-Half`);
          return setImmediate(cut);
        case 2: // while the VM is thinking
          s.write(`GET /slow HTTP/1.1\r\nHost: ${APP}\r\n\r\n`);
          return void setTimeout(cut, 5);
        case 3: // mid-upload
          s.write(`POST /up HTTP/1.1\r\nHost: ${APP}\r\nContent-Length: 100000\r\n\r\n${'u'.repeat(20_000)}`);
          return void setTimeout(cut, 5);
        default: // mid-download: once the first bytes of the 1 MiB answer arrive
          s.write(`GET /big HTTP/1.1\r\nHost: ${APP}\r\n\r\n`);
          s.once('data', cut);
      }
    });
  });
}

/** One WebSocket that is cut at `phase`. */
function abortWebSocket(port: number, phase: number): Promise<void> {
  return new Promise((resolve) => {
    if (phase === 0) {
      // The upgrade request, then gone before the 101.
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.write(`GET /ws HTTP/1.1\r\nHost: ${APP}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n`
          + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
        setImmediate(() => { s.destroy(); resolve(); });
      });
      s.on('error', () => resolve());
      return;
    }
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { host: APP } });
    const end = () => resolve();
    ws.on('error', end);
    ws.on('close', end);
    ws.on('open', () => {
      if (phase === 1) return ws.terminate();
      if (phase === 2) {
        // A large message, cut while it is being sent.
        ws.send(Buffer.alloc(256 * 1024, 0x77));
        return void setImmediate(() => ws.terminate());
      }
      ws.once('message', () => ws.close(1000));
      ws.send('hello');
    });
  });
}

async function settled(te: TestEdge, vm: Vm): Promise<void> {
  await waitFor('the edge to hold no client connection, request or WebSocket', () => {
    const s = te.edge.stats();
    return s.connections === 0 && s.inFlight === 0 && s.webSockets === 0;
  }, 20_000);
  await waitFor(`the VM to hold at most the idle pool (${IDLE_POOL})`, () => vm.open() <= IDLE_POOL, 20_000);
}

describe('clients that abort mid-flight', () => {
  it(`${REQUESTS} aborted requests and ${WEBSOCKETS} aborted WebSockets leave no socket and no descriptor behind`, async (t) => {
    const vm = await startVm(t);
    const te = await startTestEdge(t, {
      upstream: { maxIdleSocketsPerTarget: IDLE_POOL },
      proxies: [{ domain: APP, target: '127.0.0.1', targetPort: vm.port }],
    });
    // Warm up (the pool, lazily loaded modules, the logger), then count.
    assert.equal((await request(te.edge.httpPort!, APP, { path: '/slow' })).status, 200);
    await settled(te, vm);
    const fdsBefore = openFds();
    const vmBefore = vm.open();

    await bounded(REQUESTS, 50, (i) => abortRequest(te.edge.httpPort!, i % 5));
    await bounded(WEBSOCKETS, 25, (i) => abortWebSocket(te.edge.httpPort!, i % 4));
    await settled(te, vm);

    // What is left open is the idle pool to the VM; each pooled connection is two descriptors in this
    // process (the edge's end and the VM's end). Nothing else may remain.
    const pooled = Math.max(0, vm.open() - vmBefore);
    await waitFor('descriptors back to the count before the storm', () => openFds() - fdsBefore <= 2 * pooled, 20_000);
    t.diagnostic(`fds before ${fdsBefore}, after ${openFds()}; VM connections before ${vmBefore}, after ${vm.open()}`);
    const s = te.edge.stats();
    assert.deepEqual([s.connections, s.inFlight, s.webSockets], [0, 0, 0]);
    // And the edge still serves, over HTTP and WebSocket.
    assert.equal((await request(te.edge.httpPort!, APP, { path: '/slow' })).status, 200);
    await abortWebSocket(te.edge.httpPort!, 3);
    const failed = te.logs.filter((l) => l.msg === 'request handling failed');
    assert.deepEqual(failed, [], 'no request crashed the pipeline');
  });
});
