/**
 * The process killed (SIGKILL) in the middle of writing a certificate: a child stores two certificates in
 * turn, as fast as it can, under the name's lock, and is killed by its pid wherever it happens to be. After
 * every kill the store holds one of the two certificates whole, or nothing usable (never a key of one with
 * the other), the lock of the dead process does not hold up the next writer, and an edge started on the
 * folder serves a certificate whose key matches.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { makeLeaf, type TestLeaf } from '../helpers/certs.ts';
import { edgeConfig, launchEdge } from '../helpers/edge-process.ts';
import { peerCertificate, request, startBackend, waitFor } from '../helpers/net.ts';
import { testCertStore } from '../helpers/storage.ts';
import { LEFTOVER_AGE_MS } from '../../src/storage/atomic.ts';

const NAME = 'a.example.com';
type Ctx = { after(fn: () => unknown): void };

/** A child that writes `pairs` (a JSON file) in turn for NAME until killed, printing a line per write. */
function startWriter(t: Ctx, certsDir: string, pairsFile: string) {
  const code = `
    const { readFileSync } = await import('node:fs');
    const { createCertStore } = await import(${JSON.stringify(resolve('src/tls/store.ts'))});
    const { storageFor } = await import(${JSON.stringify(resolve('src/storage/open.ts'))});
    const { silentLogger } = await import(${JSON.stringify(resolve('src/log.ts'))});
    const pairs = JSON.parse(readFileSync(${JSON.stringify(pairsFile)}, 'utf8'));
    const store = createCertStore({ storage: storageFor({ certs: { dir: ${JSON.stringify(certsDir)} } }, silentLogger()),
      log: silentLogger(), clock: { now: () => new Date() } });
    for (let i = 0; ; i++) {
      const p = pairs[i % pairs.length];
      await store.withLock(${JSON.stringify(NAME)}, () => store.write(${JSON.stringify(NAME)}, { certPem: p.certPem, keyPem: p.keyPem, meta: { source: 'self-signed' } }));
      process.stdout.write('wrote\\n');
    }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  let writes = 0;
  child.stdout!.on('data', (b: Buffer) => { writes += b.toString().split('\n').length - 1; });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return { child, writes: () => writes, exited };
}

describe('killed mid-write', () => {
  it('never leaves a half-written certificate that is read or served, nor a lock that holds up the next writer', async (t) => {
    const b = await startBackend(t, 'b');
    const c = await edgeConfig(t, { proxies: [{ domain: NAME, target: '127.0.0.1', targetPort: b.port, ssl: true }] });
    const certs = join(c.dir, 'certs');
    const pairs: TestLeaf[] = await Promise.all([makeLeaf({ names: [NAME] }), makeLeaf({ names: [NAME] })]);
    const known = new Set(pairs.map((p) => new X509Certificate(p.certPem).fingerprint256));
    const pairsFile = join(c.dir, 'pairs.json');
    writeFileSync(pairsFile, JSON.stringify(pairs.map((p) => ({ certPem: p.certPem, keyPem: p.keyPem }))));

    const seen = { whole: 0, unusable: 0 };
    for (let round = 1; round <= 8; round++) {
      const w = startWriter(t, certs, pairsFile);
      // Each round kills after a different number of writes, so the kill lands at different points of one.
      await waitFor(`round ${round}: the writer to store ${round} certificates`, () => w.writes() >= round, 30_000);
      // Not a wait for anything: a varying delay moves the kill through the phases of the next write.
      await new Promise((r) => setTimeout(r, round % 4));
      w.child.kill('SIGKILL');
      await w.exited;
      const stored = await testCertStore(t, certs).read(NAME);
      if (stored) {
        assert.ok(known.has(stored.meta.fingerprint256), `round ${round}: the stored certificate is one the writer wrote`);
        seen.whole++;
      } else {
        seen.unusable++;
      }
    }
    t.diagnostic(`after the kills: ${seen.whole} whole, ${seen.unusable} treated as missing`);

    // What the killed writers left (temp files, one of them a private key) goes with the next write, once
    // it is older than a write in progress on another host could be (aged here instead of waited for).
    const folder = join(certs, NAME);
    const leftovers = () => readdirSync(folder).filter((f) => f.startsWith('.'));
    const old = new Date(Date.now() - 2 * LEFTOVER_AGE_MS);
    for (const f of leftovers()) utimesSync(join(folder, f), old, old);
    const store = testCertStore(t, certs);
    await store.withLock(NAME, () => store.write(NAME, { certPem: pairs[0]!.certPem, keyPem: pairs[0]!.keyPem, meta: { source: 'self-signed' } }));
    assert.deepEqual(leftovers(), []);

    // The last kill may have left its lock and a mixed set: an edge starts at once (the dead pid's lock is
    // taken over) and serves a certificate with its own key: one the writer stored, or a new one.
    const e = await launchEdge(t, c);
    const served = await peerCertificate(e.https, NAME);
    assert.ok(served.fingerprint256, 'a TLS handshake succeeded, so the served key matches its certificate');
    assert.equal((await request(e.https, NAME, { https: true })).status, 200);
    const stored = await testCertStore(t, certs).read(NAME);
    assert.equal(stored?.meta.fingerprint256, served.fingerprint256, 'the edge serves what the store holds, whole');
    e.child.kill('SIGTERM');
    assert.equal(await e.exited, 0, e.output());
  });
});
