/**
 * Shutdown with WebSockets and requests in flight: each WebSocket gets a Close frame with 1001 Going Away
 * on both sides (the client through the edge, the VM behind it), in-flight requests finish, and the edge
 * exits 0 before the grace period is used up. A real `ws` client and server, the real CLI.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { startEdgeProcess } from '../helpers/edge-process.ts';
import { closed, echo, openWebSocket, request, serveOnLoopback, waitFor } from '../helpers/net.ts';

/** A VM with a WebSocket echo that records the close codes it receives, and `/slow` answering after 1 s. */
async function startVm(t: { after(fn: () => unknown): void }) {
  const closeCodes: number[] = [];
  let slowSeen = 0;
  // 'half' starts a 1,000-byte text frame and sends its first 500 bytes; finish() sends the rest.
  let finish: (() => void) | null = null;
  const server = http.createServer((req, res) => {
    if (req.url !== '/slow') { res.end('ok'); return; }
    slowSeen++;
    setTimeout(() => res.end('slow done'), 1000);
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => {
    // A large message keeps frames crossing chunk boundaries; the edge must still close between frames.
    ws.on('message', (d) => {
      if (d.toString() === 'half') {
        const raw = (ws as unknown as { _socket: import('node:net').Socket })._socket;
        raw.write(Buffer.concat([Buffer.from([0x81, 126, 0x03, 0xe8]), Buffer.alloc(500, 'a')]));
        // Busy sending: the VM reads nothing (the edge's Close frame included) until its frame is out.
        raw.pause();
        finish = () => {
          raw.write(Buffer.alloc(500, 'b'));
          raw.resume();
        };
        return;
      }
      ws.send(d.toString() === 'big' ? 'x'.repeat(256 * 1024) : `echo:${d.toString()}`);
    });
    ws.on('close', (code) => closeCodes.push(code));
  });
  return { port: await serveOnLoopback(t, server, wss), closeCodes, slowSeen: () => slowSeen, finish: () => finish };
}

describe('shutdown', () => {
  it('WebSockets get 1001 Going Away on both sides, in-flight requests finish, the edge exits 0 within the grace', async (t) => {
    const vm = await startVm(t);
    const e = await startEdgeProcess(t, {
      shutdown: { graceMs: 30_000 },
      proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: vm.port, ssl: true, websocket: true }],
    });
    const clients: WebSocket[] = [];
    for (let i = 0; i < 3; i++) {
      const ws = await openWebSocket(e.https, 'a.example.com', { https: true });
      t.after(() => ws.terminate());
      assert.equal(await echo(ws, `hi${i}`), `echo:hi${i}`);
      clients.push(ws);
    }
    const codes = clients.map((ws) => closed(ws));
    // One connection is receiving a large message when the stop comes.
    const big = new Promise<number>((resolve) => { clients[0]!.once('message', (d: Buffer) => resolve(d.length)); });
    clients[0]!.send('big');
    const slow = request(e.https, 'a.example.com', { https: true, path: '/slow' });
    await waitFor('the slow request to reach the VM', () => vm.slowSeen() === 1);

    e.child.kill('SIGTERM');
    assert.deepEqual(await Promise.all(codes), [1001, 1001, 1001], 'every client got Close 1001');
    assert.equal(await big, 256 * 1024, 'the message in flight arrived whole before the Close frame');
    const r = await slow;
    assert.equal(r.status, 200);
    assert.equal(r.body, 'slow done', 'the in-flight request finished');
    assert.equal(await e.exited, 0, e.output());
    await waitFor('the VM to see every close', () => vm.closeCodes.length === 3);
    assert.deepEqual(vm.closeCodes, [1001, 1001, 1001], 'the VM got Close 1001 from the edge (masked, as a client sends it)');
    const m = e.lines().map((l) => l.msg);
    assert.ok(!m.includes('grace period over: closing requests still in flight'), 'nothing had to be cut at the end of the grace');
  });

  it('a frame half sent when the stop comes is relayed whole, then the Close frame follows it', async (t) => {
    const vm = await startVm(t);
    const e = await startEdgeProcess(t, {
      shutdown: { graceMs: 30_000 },
      proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: vm.port, websocket: true }],
    });
    const ws = await openWebSocket(e.http, 'a.example.com');
    t.after(() => ws.terminate());
    const message = new Promise<string>((resolve) => { ws.once('message', (d: Buffer) => resolve(d.toString())); });
    const code = closed(ws);
    ws.send('half');
    const finish = await waitFor('the VM to send half a frame', () => vm.finish());
    e.child.kill('SIGTERM');
    await waitFor('the edge to begin its shutdown', () => e.lines().some((l) => l.msg === 'shutting down'));
    finish();
    assert.equal(await message, 'a'.repeat(500) + 'b'.repeat(500), 'the frame arrived whole, not cut by the Close frame');
    assert.equal(await code, 1001);
    assert.equal(await e.exited, 0, e.output());
  });
});
