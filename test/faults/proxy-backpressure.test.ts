/**
 * Memory per connection is bounded by backpressure: a large download to a client that stops reading, and a
 * large upload to a VM that stops reading, each stall the fast side after a bounded number of bytes in
 * flight (socket buffers of both hops, not the whole body in the edge's memory), then complete intact once
 * the slow side reads again. The body deadline does not blame a client that the VM keeps waiting.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { startTestEdge } from '../helpers/edge.ts';
import { serveOnLoopback, waitFor } from '../helpers/net.ts';

const APP = 'app.example.com';
const CHUNK = 64 * 1024;
/** The body: large enough that holding it in memory would show. */
const TOTAL = 256 * 1024 * 1024;
/**
 * Bytes that may be in flight between the two ends while one side does not read: the kernel's loopback
 * socket buffers (up to a few MiB per socket, two sockets per hop, two hops) plus Node's stream buffers.
 */
const IN_FLIGHT_MAX = 48 * 1024 * 1024;

/** Resolves once `counter()` has not moved across `polls` polls 25 ms apart (the writer is blocked), with its value. */
async function stalled(what: string, counter: () => number, polls = 8): Promise<number> {
  let last = -1;
  let same = 0;
  await waitFor(what, () => {
    const v = counter();
    same = v === last ? same + 1 : 0;
    last = v;
    return same >= polls;
  }, 20_000);
  return last;
}

async function edgeTo(t: TestContext, port: number) {
  return startTestEdge(t, {
    // A VM that stops reading must not trip the client's body deadline; the VM's own deadline is long here.
    timeouts: { requestBodyIdleMs: 500 },
    upstream: { timeoutMs: 30_000 },
    proxies: [{ domain: APP, target: '127.0.0.1', targetPort: port }],
  });
}

describe('backpressure', () => {
  it('a download to a client that stops reading stalls the VM; it then arrives whole', async (t) => {
    let produced = 0;
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': TOTAL });
      const block = Buffer.alloc(CHUNK, 0x62);
      const pump = () => {
        while (produced < TOTAL) {
          produced += CHUNK;
          if (!res.write(block)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const te = await edgeTo(t, await serveOnLoopback(t, server));

    const client = net.connect({ host: '127.0.0.1', port: te.edge.httpPort! });
    t.after(() => client.destroy());
    let received = 0;
    let paused = false;
    client.on('data', (c: Buffer) => {
      received += c.length;
      // Stop reading after the first bytes: from here on only the kernel's buffers can take more.
      if (!paused) {
        paused = true;
        client.pause();
      }
    });
    client.write(`GET /big HTTP/1.1\r\nHost: ${APP}\r\nConnection: close\r\n\r\n`);
    const atStall = await stalled('the VM to be blocked by the paused client', () => produced);
    assert.ok(atStall < TOTAL, 'the VM could not write the whole body');
    assert.ok(atStall - received <= IN_FLIGHT_MAX, `${atStall - received} bytes in flight while the client did not read`);
    t.diagnostic(`download: ${((atStall - received) / 1048576).toFixed(1)} MiB in flight at the stall`);
    const done = new Promise<void>((r) => client.on('end', r));
    client.resume();
    await done;
    const headerBytes = received - TOTAL;
    assert.ok(headerBytes > 0 && headerBytes < 1024, `the client got the whole body (${received} bytes with headers)`);
  });

  it('an upload to a VM that stops reading stalls the client without tripping its body deadline; it then arrives whole', async (t) => {
    let consumed = 0;
    let paused = false;
    let vmReq: http.IncomingMessage | null = null;
    const server = http.createServer((req, res) => {
      vmReq = req;
      req.on('data', (c: Buffer) => {
        consumed += c.length;
        if (!paused) {
          paused = true;
          req.pause();
        }
      });
      req.on('end', () => res.end(`got ${consumed}`));
    });
    const te = await edgeTo(t, await serveOnLoopback(t, server));

    const client = net.connect({ host: '127.0.0.1', port: te.edge.httpPort! });
    t.after(() => client.destroy());
    let sent = 0;
    let reply = '';
    client.on('data', (c: Buffer) => { reply += c.toString('latin1'); });
    const block = Buffer.alloc(CHUNK, 0x75);
    const pump = () => {
      while (sent < TOTAL) {
        sent += CHUNK;
        if (!client.write(block)) return void client.once('drain', pump);
      }
    };
    client.write(`POST /up HTTP/1.1\r\nHost: ${APP}\r\nContent-Length: ${TOTAL}\r\nConnection: close\r\n\r\n`);
    pump();
    await waitFor('the VM to stop reading', () => paused);
    // Blocked for longer than timeouts.requestBodyIdleMs (500 ms): 40 polls of 25 ms at least.
    const atStall = await stalled('the client to be blocked by the VM that does not read', () => sent, 40);
    assert.ok(atStall < TOTAL, 'the client could not send the whole body');
    assert.ok(atStall - consumed <= IN_FLIGHT_MAX, `${atStall - consumed} bytes in flight while the VM did not read`);
    t.diagnostic(`upload: ${((atStall - consumed) / 1048576).toFixed(1)} MiB in flight at the stall`);
    // The stall lasted longer than timeouts.requestBodyIdleMs: the edge saw it was the VM, not the client.
    assert.equal(te.logs.filter((l) => l.code === 'EDGE_ERR_BODY_TIMEOUT').length, 0);
    const ended = new Promise<void>((r) => client.on('close', r));
    vmReq!.resume();
    await ended;
    assert.match(reply, /^HTTP\/1\.1 200 /);
    assert.match(reply, new RegExp(`got ${TOTAL}$`));
  });
});
