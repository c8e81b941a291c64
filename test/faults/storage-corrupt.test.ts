/**
 * Certificate files corrupted on disk (garbage, a truncated write, a key of another certificate, a meta that
 * names another certificate): never served. A starting edge treats them as missing (self-signed ones are
 * made again) and logs it; a running edge keeps serving what it loaded; `idcs-edge certs` says so.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makeLeaf } from '../helpers/certs.ts';
import { runCli } from '../helpers/cli.ts';
import { startEdgeProcess, type EdgeProcess } from '../helpers/edge-process.ts';
import { peerCertificate, request, startBackend, waitFor } from '../helpers/net.ts';

const CORRUPTIONS: ReadonlyArray<{ name: string; file: 'cert.pem' | 'key.pem' | 'meta.json'; corrupt(path: string, other: { certPem: string; keyPem: string }): void }> = [
  { name: 'c1', file: 'cert.pem', corrupt: (p) => writeFileSync(p, 'garbage\u0000\u00ff not a certificate') },
  { name: 'c2', file: 'cert.pem', corrupt: (p) => truncateSync(p, 600) },
  { name: 'c3', file: 'key.pem', corrupt: (p, other) => writeFileSync(p, other.keyPem) },
  { name: 'c4', file: 'key.pem', corrupt: (p) => writeFileSync(p, '') },
  { name: 'c5', file: 'meta.json', corrupt: (p) => writeFileSync(p, '{"name": "c5.example.com", "fingerpr') },
  { name: 'c6', file: 'meta.json', corrupt: (p, other) => {
    const m = JSON.parse(readFileSync(p, 'utf8'));
    writeFileSync(p, JSON.stringify({ ...m, fingerprint256: new X509Certificate(other.certPem).fingerprint256 }));
  } },
];

const domain = (n: string) => `${n}.example.com`;
const fingerprints = async (e: EdgeProcess) => Object.fromEntries(await Promise.all(CORRUPTIONS.map(async (c) =>
  [c.name, (await peerCertificate(e.https, domain(c.name))).fingerprint256] as const)));

describe('corrupted certificate files', () => {
  it('are never served: a restart makes them again and logs it, a running edge keeps what it loaded, certs tells', async (t) => {
    const b = await startBackend(t, 'b');
    const other = await makeLeaf({ names: ['other.example.com'] });
    const proxies = [...CORRUPTIONS.map((c) => ({ domain: domain(c.name), target: '127.0.0.1', targetPort: b.port, ssl: true })),
      { domain: 'z.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true }];
    const first = await startEdgeProcess(t, { proxies, log: { level: 'debug' } }, { host: 'c1.example.com' });
    // The renewal scan at start reads the store too, and rightly makes a set it finds torn again: the
    // files are corrupted once it is done, so that what follows is the running edge's store watcher alone.
    await waitFor('the renewal scan at start', () => first.lines().some((l) => l.msg === 'renewal scan done' && l.reason === 'start'));
    const before = await fingerprints(first);
    const certs = join(first.dir, 'certs');
    for (const c of CORRUPTIONS) c.corrupt(join(certs, domain(c.name), c.file), other);

    // The running edge re-reads the store when it changes (here: another certificate renewed by the CLI);
    // the corrupted sets are not taken, the loaded certificates keep serving.
    const renewed = await runCli(['--config', first.file, '--renew-ssl', '--force', '--domain', 'z.example.com']);
    assert.equal(renewed.code, 0, renewed.stdout + renewed.stderr);
    await waitFor('the running edge to reload z', () => first.lines().some((l) => l.msg === 'certificate reloaded from the store' && l.name === 'z.example.com'));
    assert.deepEqual(await fingerprints(first), before, 'the running edge serves what it had loaded');

    const listed = await runCli(['--config', first.file, 'certs']);
    assert.equal(listed.code, 0, listed.stderr);
    for (const c of CORRUPTIONS.filter((x) => x.name !== 'c5')) {
      assert.match(listed.stdout, new RegExp(`^${domain(c.name).replace('.', '\\.')} .*stored files do not match`, 'm'), listed.stdout);
    }
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0, first.output());

    // A new edge on the same folder: every corrupted set is treated as missing and made again.
    const second = await startEdgeProcess(t, { proxies, certs: { dir: certs } }, { host: 'c1.example.com' });
    const after = await fingerprints(second);
    for (const c of CORRUPTIONS) {
      assert.notEqual(after[c.name], before[c.name], `${c.name} (${c.file}) was made again`);
      assert.equal((await request(second.https, domain(c.name), { https: true })).status, 200);
      assert.ok(second.lines().some((l) => l.msg === 'stored certificate is incomplete (interrupted write?): treating it as missing' && l.name === domain(c.name)),
        `${c.name}: logged`);
    }
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0, second.output());
  });
});
