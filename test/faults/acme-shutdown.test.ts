/**
 * SIGTERM in the middle of an issuance, to a real edge process: the work on the CA is abandoned (the
 * request in flight, the DNS hook and what it started), the edge logs that, and exits 0 within
 * shutdown.graceMs, whether the CA never answers or the DNS hook hangs.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { stringify } from 'yaml';
import { acmeSection, tempDir } from '../helpers/acme.ts';
import { spawnEdge } from '../helpers/cli.ts';
import { refusedPort, waitFor } from '../helpers/net.ts';
import { makeLoopbackTls, pebbleSkipReason, startPebble, writeDnsHook } from '../helpers/pebble.ts';
import { processGone } from '../helpers/proc.ts';

const GRACE_MS = 3_000;

/** Writes the edge's config and starts it; resolves once it listens. */
async function edgeWith(t: TestContext, dir: string, acme: Record<string, unknown>, domain: string) {
  const configFile = join(dir, 'edge.yaml');
  writeFileSync(configFile, stringify({
    listen: { http: await refusedPort(), https: await refusedPort(), host: '127.0.0.1' },
    certs: { dir: join(dir, 'certs') }, data: { dir: join(dir, 'data') }, log: { file: null, level: 'info' }, shutdown: { graceMs: GRACE_MS },
    acme, proxies: [{ domain, target: '127.0.0.1', targetPort: 1, ssl: true, certSource: 'letsencrypt' }],
  }));
  const edge = spawnEdge(t, configFile);
  await waitFor('the edge to listen', () => edge.output().includes('idcs-edge listening'), 15_000);
  return edge;
}

/** SIGTERM, then the exit code, failing the test if the edge is still running well after the grace period. */
async function terminate(edge: ReturnType<typeof spawnEdge>): Promise<number | null> {
  edge.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running ${GRACE_MS + 5_000} ms after SIGTERM:\n${edge.output().slice(-2000)}`)), GRACE_MS + 5_000);
  });
  try {
    return await Promise.race([edge.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('SIGTERM during issuance', () => {
  it('with a CA that accepts and never answers: abandons the request and exits 0', async (t) => {
    const dir = tempDir(t, 'edge-acme-stop-');
    const tls = makeLoopbackTls();
    writeFileSync(join(dir, 'ca.pem'), tls.ca);
    let asked = 0;
    const sockets = new Set<Socket>();
    const ca = https.createServer({ cert: tls.cert, key: tls.key }, () => { asked++; });
    ca.on('secureConnection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
    await new Promise<void>((r) => ca.listen(0, '127.0.0.1', () => r()));
    t.after(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); ca.close(() => r()); }));
    const directoryUrl = `https://127.0.0.1:${(ca.address() as AddressInfo).port}/dir`;
    // The default request timeout (30 s) is far longer than the grace period.
    const edge = await edgeWith(t, dir, acmeSection({ directoryUrl, caFile: join(dir, 'ca.pem') }, { requestTimeoutMs: 30_000 }), 'app.example.com');
    await waitFor('the edge to ask the CA', () => asked > 0, 15_000);

    assert.equal(await terminate(edge), 0, edge.output().slice(-2000));
    assert.match(edge.output(), /"name":"app\.example\.com".*"msg":"certificate issuance abandoned: the edge is shutting down"/);
    assert.doesNotMatch(edge.output(), /certificate renewal failed/);
  });

  it('with a DNS hook that hangs: kills the hook and what it started, and exits 0', { skip: pebbleSkipReason() }, async (t) => {
    const dir = tempDir(t, 'edge-acme-stop-');
    const pebble = await startPebble(t, { httpPort: await refusedPort() });
    const pidFile = join(dir, 'sleep.pid');
    const hook = join(dir, 'hook.sh');
    writeFileSync(hook, `#!/bin/sh\nif [ "$1" = set ]; then sleep 60 & echo $! > '${pidFile}'; wait; fi\nexec '${writeDnsHook(dir, pebble.mgmtUrl).path}' "$@"\n`,
      { mode: 0o755 });
    const edge = await edgeWith(t, dir, acmeSection(pebble, { dnsHook: hook, dnsHookTimeoutMs: 60_000 }), '*.user1.example.com');
    const sleeper = await waitFor('the hook to start', () => Number(readFileSync(pidFile, 'utf8').trim()) || null, 15_000);

    assert.equal(await terminate(edge), 0, edge.output().slice(-2000));
    assert.match(edge.output(), /"name":"\*\.user1\.example\.com".*"msg":"certificate issuance abandoned: the edge is shutting down"/);
    await waitFor(`the hook's sleep ${sleeper} to be gone`, () => processGone(sleeper), 5_000);
  });
});
