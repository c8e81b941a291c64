/**
 * VMs that fail: refuse, never accept, accept and never answer, reset mid-body, answer garbage, present a
 * bad certificate. For each: what the client received, the `request failed` and access lines the edge
 * wrote (code and request ID), and that the edge still serves another route afterwards.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { makeCa, makeLeaf, writeTemp } from '../helpers/certs.ts';
import { startTestEdge, type TestEdge } from '../helpers/edge.ts';
import { logLine, silentTarget, startRawVm } from '../helpers/fault-vms.ts';
import { deadPort, request, startBackend, waitFor, type Reply } from '../helpers/net.ts';
import { rawRequest } from '../helpers/raw.ts';

const VM = 'vm.example.com';
const OK = 'ok.example.com';

/** An edge with the faulty route and a healthy one, with deadlines short enough for a test. */
async function edgeWith(t: TestContext, proxy: Record<string, unknown>): Promise<TestEdge> {
  const good = await startBackend(t, 'good');
  return startTestEdge(t, {
    upstream: { timeoutMs: 400, connectTimeoutMs: 300 },
    proxies: [{ domain: VM, ...proxy }, { domain: OK, target: '127.0.0.1', targetPort: good.port }],
  });
}

/** The client got the edge's page for `code`, the log has both lines with that request's ID, and OK is still served. */
async function assertFailure(te: TestEdge, reply: Reply, status: number, code: string): Promise<void> {
  assert.equal(reply.status, status, reply.body);
  assert.equal(reply.headers['x-edge-error'], code);
  const id = reply.headers['x-request-id'];
  assert.ok(typeof id === 'string' && reply.body.includes(id), 'the page names the request ID');
  const failed = await logLine(te.logs, 'request failed', { id, code });
  assert.equal(failed.level, 40, 'a VM failure is a warning');
  assert.equal(failed.host, VM);
  const access = await logLine(te.logs, 'access', { id });
  assert.equal(access.status, status);
  assert.equal(access.code, code);
  assert.equal((await request(te.edge.httpPort!, OK)).status, 200);
}

describe('VMs that fail before answering', () => {
  it('a VM that refuses: 502 EDGE_ERR_UPSTREAM_REFUSED', async (t) => {
    const te = await edgeWith(t, { target: '127.0.0.1', targetPort: await deadPort(t) });
    await assertFailure(te, await request(te.edge.httpPort!, VM), 502, 'EDGE_ERR_UPSTREAM_REFUSED');
  });

  it('a VM that never answers the SYN: 502 EDGE_ERR_UPSTREAM_UNREACHABLE after upstream.connectTimeoutMs', async (t) => {
    const silent = await silentTarget(t);
    t.diagnostic(`silence made by: ${silent.how}`);
    const te = await edgeWith(t, { target: silent.host, targetPort: silent.port });
    await assertFailure(te, await request(te.edge.httpPort!, VM), 502, 'EDGE_ERR_UPSTREAM_UNREACHABLE');
  });

  it('a VM that accepts and never answers: 504 EDGE_ERR_UPSTREAM_TIMEOUT after upstream.timeoutMs', async (t) => {
    const vm = await startRawVm(t, () => {});
    const te = await edgeWith(t, { target: '127.0.0.1', targetPort: vm.port });
    await assertFailure(te, await request(te.edge.httpPort!, VM), 504, 'EDGE_ERR_UPSTREAM_TIMEOUT');
    // The edge gave up on the VM's connection too.
    await waitFor('the VM connection to be closed by the edge', () => vm.open() === 0);
  });

  it('a VM that closes without answering: 502 EDGE_ERR_UPSTREAM_RESET', async (t) => {
    const vm = await startRawVm(t, (s) => s.destroy());
    const te = await edgeWith(t, { target: '127.0.0.1', targetPort: vm.port });
    await assertFailure(te, await request(te.edge.httpPort!, VM), 502, 'EDGE_ERR_UPSTREAM_RESET');
  });

  const malformed: Array<[string, string]> = [
    ['a status line that is not HTTP', 'SSH-2.0-OpenSSH_9.6\r\n\r\n'],
    ['a header line without a colon', 'HTTP/1.1 200 OK\r\nno colon here\r\n\r\n'],
    ['both Content-Length and Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
  ];
  for (const [what, bytes] of malformed) {
    it(`a VM that answers with ${what}: 502 EDGE_ERR_UPSTREAM_FAILED, or the answer is cut`, async (t) => {
      const vm = await startRawVm(t, (s) => s.end(bytes));
      const te = await edgeWith(t, { target: '127.0.0.1', targetPort: vm.port });
      if (what === 'a bad chunk size') {
        // The status line and headers were fine; the body then broke: the answer is cut, never completed.
        const reply = await rawRequest(te.edge.httpPort!, `GET / HTTP/1.1\r\nHost: ${VM}\r\n\r\n`);
        assert.equal(reply.closed, true, reply.text);
        const failed = await logLine(te.logs, 'request failed', { code: 'EDGE_ERR_UPSTREAM_FAILED' });
        assert.match(String(failed.err), /not valid HTTP\/1\.1 \(.*chunk size/i);
        const access = await logLine(te.logs, 'access', { id: failed.id });
        assert.equal(access.code, 'EDGE_ERR_UPSTREAM_FAILED');
        assert.equal(access.aborted, undefined, 'the client did not abort: the edge cut the answer');
        assert.equal((await request(te.edge.httpPort!, OK)).status, 200);
        return;
      }
      const reply = await request(te.edge.httpPort!, VM);
      await assertFailure(te, reply, 502, 'EDGE_ERR_UPSTREAM_FAILED');
      const failed = await logLine(te.logs, 'request failed', { id: reply.headers['x-request-id'] });
      assert.match(String(failed.err), /not valid HTTP\/1\.1 \(\w/);
    });
  }
});

interface Streamed {
  status: number;
  headers: http.IncomingHttpHeaders;
  bytes: number;
  /** The body arrived whole (as its framing declared). */
  complete: boolean;
}

/** GETs through the edge, calls `onFirstBytes` once some of the body arrived, and resolves when the response ends or is cut. */
function streamed(port: number, host: string, onFirstBytes: () => void): Promise<Streamed> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => {
      let bytes = 0;
      let first = true;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (first) { first = false; onFirstBytes(); }
      });
      res.on('error', () => {});
      res.on('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, complete: res.complete }));
    });
    req.on('error', reject);
  });
}

describe('a VM that resets mid-body', () => {
  it('cuts the client\'s body, logs EDGE_ERR_UPSTREAM_RESET with the request ID, and the access line is no clean 200', async (t) => {
    const declared = 200_000;
    let vmSocket: net.Socket | null = null;
    const vm = await startRawVm(t, (s) => {
      vmSocket = s;
      s.write(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${declared}\r\n\r\n`);
      s.write(Buffer.alloc(declared / 2, 0x61));
    });
    const te = await edgeWith(t, { target: '127.0.0.1', targetPort: vm.port });
    // The reset comes once the client has some of the body, so it is sure to land mid-body.
    const got = await streamed(te.edge.httpPort!, VM, () => vmSocket!.resetAndDestroy());
    assert.equal(got.status, 200, 'the VM\'s status went out before the reset');
    assert.equal(got.complete, false);
    assert.ok(got.bytes > 0 && got.bytes < declared, `the client got ${got.bytes} of ${declared} bytes`);
    const id = got.headers['x-request-id'];
    const failed = await logLine(te.logs, 'request failed', { id, code: 'EDGE_ERR_UPSTREAM_RESET' });
    assert.equal(failed.level, 40);
    const access = await logLine(te.logs, 'access', { id });
    assert.notEqual(access.status, 200);
    assert.equal(access.code, 'EDGE_ERR_UPSTREAM_RESET');
    assert.equal(access.aborted, undefined, 'the VM cut the answer, not the client');
    assert.equal((await request(te.edge.httpPort!, OK)).status, 200);
  });
});

describe('https VMs with a certificate the edge must not accept', () => {
  for (const [what, names, validity] of [
    ['an expired certificate', ['vm.internal'], { notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) }],
    ['a certificate for another name', ['other.internal'], {}],
  ] as const) {
    it(`${what}: 502 EDGE_ERR_UPSTREAM_TLS`, async (t) => {
      const ca = await makeCa();
      const leaf = await makeLeaf({ ca, names, ...validity });
      const files = await writeTemp(t, { 'ca.pem': ca.certPem });
      const vm = await startBackend(t, 'tls-vm', { tls: { cert: leaf.chainPem, key: leaf.keyPem } });
      const te = await edgeWith(t, { target: '127.0.0.1', targetPort: vm.port, protocol: 'https',
        upstreamTls: { caFile: files.path('ca.pem'), serverName: 'vm.internal' } });
      await assertFailure(te, await request(te.edge.httpPort!, VM), 502, 'EDGE_ERR_UPSTREAM_TLS');
      assert.equal(vm.requests.length, 0, 'no request was sent to a VM that failed verification');
    });
  }
});
