/**
 * A DNS hook that hangs after starting a program of its own: at acme.dnsHookTimeoutMs the hook AND that
 * program are killed (the hook runs in its own process group), and the error says it timed out. An
 * abandoned attempt kills it the same way at once.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createDnsHook } from '../../src/acme/dns01.ts';
import { AcmeError } from '../../src/acme/errors.ts';
import { silentLogger } from '../../src/log.ts';
import { tempDir } from '../helpers/acme.ts';
import { waitFor } from '../helpers/net.ts';
import { processGone } from '../helpers/proc.ts';

/** A hook that starts `sleep 300` in the background, writes its PID to `pidFile`, and waits for it. */
function hangingHook(dir: string): { path: string; pidFile: string } {
  const path = join(dir, 'hook.sh');
  const pidFile = join(dir, 'sleep.pid');
  writeFileSync(path, `#!/bin/sh\nsleep 300 &\necho $! > '${pidFile}'\necho "waiting for the provider" >&2\nwait\n`, { mode: 0o755 });
  return { path, pidFile };
}

const pidIn = (file: string) => waitFor('the hook to start its child', () => Number(readFileSync(file, 'utf8').trim()) || null, 5_000);

describe('the DNS hook', () => {
  it('is killed with everything it started at acme.dnsHookTimeoutMs', async (t) => {
    const hook = hangingHook(tempDir(t));
    const dns = createDnsHook({ hookPath: hook.path, timeoutMs: 1_000, log: silentLogger() });

    const err = await dns.set('_acme-challenge.user1.example.com', 'v').then(() => null, (e: unknown) => e);

    assert.ok(err instanceof AcmeError, String(err));
    assert.equal(err.code, 'EDGE_ERR_ACME_DNS');
    assert.match(err.message, /set _acme-challenge\.user1\.example\.com timed out after 1000 ms \(acme\.dnsHookTimeoutMs\): waiting for the provider/);
    const child = await pidIn(hook.pidFile);
    await waitFor(`the hook's child ${child} to be gone`, () => processGone(child), 5_000);
  });

  it('is killed with everything it started when the attempt is abandoned', async (t) => {
    const hook = hangingHook(tempDir(t));
    const dns = createDnsHook({ hookPath: hook.path, timeoutMs: 60_000, log: silentLogger() });
    const stop = new AbortController();

    const result = dns.set('_acme-challenge.user1.example.com', 'v', stop.signal).then(() => null, (e: unknown) => e);
    const child = await pidIn(hook.pidFile);
    stop.abort(new Error('shutting down'));

    assert.equal(((await result) as Error).message, 'shutting down');
    await waitFor(`the hook's child ${child} to be gone`, () => processGone(child), 5_000);
  });
});
