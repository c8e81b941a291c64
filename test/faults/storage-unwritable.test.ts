/**
 * A certificate store that cannot be written, in the ways root cannot bypass: an immutable certificate file
 * (chattr +i), a read-only mount, a file where a certificate's folder should be. The old certificate keeps
 * serving, the stored set stays whole (never a new key with the old certificate), the error is shown, and
 * once the store is writable again the next renewal or apply succeeds. Tests skip, saying why, where the
 * environment forbids chattr or mount.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.ts';
import { edgeConfig, launchEdge, type EdgeProcess } from '../helpers/edge-process.ts';
import { makeImmutable, makeMutable, mountTmpfs, remount } from '../helpers/mounts.ts';
import { peerCertificate, request, startBackend, waitFor } from '../helpers/net.ts';

const fingerprint = async (e: EdgeProcess, host = 'a.example.com') => (await peerCertificate(e.https, host)).fingerprint256;
const files = (dir: string) => Object.fromEntries(['cert.pem', 'key.pem', 'meta.json'].map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
const renew = (e: EdgeProcess) => runCli(['--config', e.file, '--renew-ssl', '--force', '--domain', 'a.example.com']);
/** Temp and backup files a write leaves behind if it does not clean up (dot names next to the values). */
const leftovers = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.tmp') || f.endsWith('.old'));

async function proxiesOn(t: { after(fn: () => unknown): void }) {
  const b = await startBackend(t, 'b');
  return (...names: string[]) => names.map((n) => ({ domain: `${n}.example.com`, target: '127.0.0.1', targetPort: b.port, ssl: true }));
}

describe('unwritable certificate store', () => {
  it('an immutable cert.pem: renewal fails with EPERM, the stored set stays whole and keeps serving, recorded for certs', async (t) => {
    const proxies = await proxiesOn(t);
    const c = await edgeConfig(t, { proxies: proxies('a') });
    const e = await launchEdge(t, c);
    const folder = join(c.dir, 'certs', 'a.example.com');
    const before = { fp: await fingerprint(e), files: files(folder) };
    const why = makeImmutable(t, join(folder, 'cert.pem'), c.dir);
    if (why) { t.skip(`chattr +i is not available here (${why})`); return; }

    const r = await renew(e);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /a\.example\.com .*failed .*EDGE_ERR_CERT_STORE .*(EPERM|operation not permitted)/i);
    assert.deepEqual(files(folder), before.files, 'key, certificate and meta are the ones before: not a new key with the old certificate');
    assert.deepEqual(leftovers(folder), []);
    assert.equal(await fingerprint(e), before.fp, 'the old certificate keeps serving');
    const listed = await runCli(['--config', c.file, 'certs']);
    assert.match(listed.stdout, /^a\.example\.com .*EDGE_ERR_CERT_STORE: .*cannot store certificate a\.example\.com/m, listed.stdout);
    assert.doesNotMatch(listed.stdout, /do not match/);

    assert.equal(makeMutable(join(folder, 'cert.pem')), null);
    const again = await renew(e);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    await waitFor('the running edge to serve the renewed certificate', async () => (await fingerprint(e)) !== before.fp);
  });

  it('a read-only mount: renewal and applies fail cleanly, serving goes on, and all works after a remount rw', async (t) => {
    const proxies = await proxiesOn(t);
    const c = await edgeConfig(t, { proxies: proxies('a') });
    const certs = join(c.dir, 'certs');
    const why = mountTmpfs(t, certs, 4096, c.dir);
    if (why) { t.skip(`cannot mount a tmpfs here (${why})`); return; }
    const e = await launchEdge(t, c);
    const before = await fingerprint(e);
    assert.equal(remount(certs, 'ro'), null);

    const r = await renew(e);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /EDGE_ERR_CERT_STORE .*(EROFS|read-only file system)/i);
    // A new route needs a certificate written: the change is refused as a whole, the running config serves.
    c.write({ proxies: proxies('a', 'b') });
    await waitFor('the refused apply', () => e.lines().some((l) => String(l.msg).startsWith('config not applied') && /EDGE_ERR_CERT_STORE|read-only/i.test(JSON.stringify(l))));
    assert.equal(await fingerprint(e), before);
    assert.equal((await request(e.https, 'a.example.com', { https: true })).status, 200);

    assert.equal(remount(certs, 'rw'), null);
    e.child.kill('SIGHUP');
    await waitFor('b to be served after the store is writable again', async () => (await request(e.https, 'b.example.com', { https: true })).status === 200);
    const again = await renew(e);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    e.child.kill('SIGTERM');
    assert.equal(await e.exited, 0, e.output());
  });

  it('a file where a certificate folder should be: the apply is refused naming it, and works once it is gone', async (t) => {
    const proxies = await proxiesOn(t);
    const c = await edgeConfig(t, { proxies: proxies('a') });
    const e = await launchEdge(t, c);
    const blocker = join(c.dir, 'certs', 'b.example.com');
    writeFileSync(blocker, 'not a folder');
    c.write({ proxies: proxies('a', 'b') });
    await waitFor('the refused apply', () => e.lines().some((l) => String(l.msg).startsWith('config not applied') && JSON.stringify(l).includes('b.example.com')));
    assert.equal((await request(e.https, 'a.example.com', { https: true })).status, 200);
    rmSync(blocker);
    e.child.kill('SIGHUP');
    await waitFor('b to be served', async () => (await request(e.https, 'b.example.com', { https: true })).status === 200);
    e.child.kill('SIGTERM');
    assert.equal(await e.exited, 0, e.output());
  });
});
