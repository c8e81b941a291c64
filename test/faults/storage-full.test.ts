/**
 * A full disk under the certificate store (a small tmpfs, filled): renewals and applies fail with ENOSPC and
 * leave nothing behind (no temp file, no empty lock file that would block the next attempt for minutes), the
 * old certificate keeps serving, the error is recorded for `idcs-edge certs` as soon as there is room for a
 * few bytes, and once space is freed the next renewal and apply succeed at once. Skips where mount is
 * forbidden.
 */
import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.ts';
import { edgeConfig, launchEdge, type EdgeProcess } from '../helpers/edge-process.ts';
import { mountTmpfs } from '../helpers/mounts.ts';
import { peerCertificate, request, startBackend, waitFor } from '../helpers/net.ts';

const PAGE = 4096;

/** Writes `file` until the file system refuses (ENOSPC). */
function fill(file: string): void {
  const fd = openSync(file, 'w');
  try {
    for (const size of [64 * 1024, PAGE]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try { writeSync(fd, chunk); } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Every file below `dir`, with its size. */
function tree(dir: string, prefix = ''): Array<{ path: string; size: number }> {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory()
    ? tree(join(dir, d.name), `${prefix}${d.name}/`)
    : [{ path: `${prefix}${d.name}`, size: statSync(join(dir, d.name)).size }]));
}

const files = (dir: string) => ['cert.pem', 'key.pem', 'meta.json'].map((f) => readFileSync(join(dir, f), 'utf8'));
const fingerprint = async (e: EdgeProcess) => (await peerCertificate(e.https, 'a.example.com')).fingerprint256;
const renew = (e: EdgeProcess) => runCli(['--config', e.file, '--renew-ssl', '--force', '--domain', 'a.example.com']);

describe('full disk', () => {
  it('fails writes cleanly, keeps the old certificate, records the error, and recovers once space is freed', async (t) => {
    const b = await startBackend(t, 'b');
    const proxy = (n: string) => ({ domain: `${n}.example.com`, target: '127.0.0.1', targetPort: b.port, ssl: true });
    const c = await edgeConfig(t, { proxies: [proxy('a')] });
    const certs = join(c.dir, 'certs');
    const why = mountTmpfs(t, certs, 512, c.dir);
    if (why) { t.skip(`cannot mount a tmpfs here (${why})`); return; }
    const e = await launchEdge(t, c);
    const before = { fp: await fingerprint(e), files: files(join(certs, 'a.example.com')) };
    const stored = tree(certs);
    const filler = join(certs, 'filler');
    fill(filler);

    // Completely full: not even the lock file fits. Nothing is left behind, the certificate is unchanged.
    const full = await renew(e);
    assert.equal(full.code, 1, full.stdout);
    assert.match(full.stdout, /a\.example\.com .*failed .*EDGE_ERR_CERT_STORE .*ENOSPC/);
    assert.deepEqual(tree(certs).filter((f) => f.path !== 'filler'), stored, 'no temp, lock or empty file was left');
    c.write({ proxies: [proxy('a'), proxy('b')] });
    await waitFor('the refused apply', () => e.lines().some((l) => String(l.msg).startsWith('config not applied') && /ENOSPC/.test(JSON.stringify(l))));

    // Room for two blocks: the lock file and the failure record fit, a certificate's three new files do not
    // (they are all written before any replaces its predecessor). The failure is recorded where `certs` shows it.
    truncateSync(filler, statSync(filler).size - 2 * PAGE);
    const almost = await renew(e);
    assert.equal(almost.code, 1, almost.stdout);
    assert.match(almost.stdout, /ENOSPC/);
    assert.deepEqual(files(join(certs, 'a.example.com')), before.files, 'the stored set is the one before');
    const listed = await runCli(['--config', e.file, 'certs']);
    assert.match(listed.stdout, /^a\.example\.com .*EDGE_ERR_CERT_STORE: .*ENOSPC/m, listed.stdout);
    assert.equal(await fingerprint(e), before.fp, 'the old certificate keeps serving');
    assert.equal((await request(e.https, 'a.example.com', { https: true })).status, 200);
    assert.deepEqual(tree(certs).filter((f) => !f.path.startsWith('.state/') && !f.path.startsWith('.generation') && f.path !== 'filler'),
      stored.filter((f) => !f.path.startsWith('.state/') && !f.path.startsWith('.generation')), 'still nothing half-written');

    // Space freed: the next renewal and the next apply succeed at once (no lock left to wait for).
    rmSync(filler);
    const again = await renew(e);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /a\.example\.com .*renewed/);
    await waitFor('the edge to serve the renewed certificate', async () => (await fingerprint(e)) !== before.fp);
    e.child.kill('SIGHUP');
    await waitFor('b to be served', async () => (await request(e.https, 'b.example.com', { https: true })).status === 200);
    assert.doesNotMatch((await runCli(['--config', e.file, 'certs'])).stdout, /ENOSPC/, 'the renewal cleared the error');
    e.child.kill('SIGTERM');
    assert.equal(await e.exited, 0, e.output());
  });
});
