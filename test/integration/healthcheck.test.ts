/**
 * The Dockerfile's HEALTHCHECK command (`node src/healthcheck.ts`, as the image runs it, with the image's
 * environment) against a running edge and a stopped one: it asks the admin listener's /healthz, or the HTTP
 * listener without one, and a config file being edited (invalid, or not even YAML) does not make a running
 * edge unhealthy.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { exitWithin, startEdgeProcess } from '../helpers/edge-process.ts';
import { refusedPort, startBackend } from '../helpers/net.ts';

/** The HEALTHCHECK line of the Dockerfile, as an argv (exec form). */
function healthcheckArgv(): string[] {
  const docker = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
  const m = /HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])/.exec(docker);
  assert.ok(m, 'the Dockerfile has a HEALTHCHECK with an exec-form CMD');
  return JSON.parse(m[1]!) as string[];
}

function run(argv: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    // The image's `node` is Node 24; here it is the one running the tests.
    const child = spawn(argv[0] === 'node' ? process.execPath : argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.once('exit', (code) => resolve({ code, out }));
  });
}

describe('the Docker HEALTHCHECK', () => {
  it('asks the admin listener of a running edge, keeps saying healthy while the config is being edited, and 1 once it stopped', async (t) => {
    const argv = healthcheckArgv();
    const vm = await startBackend(t, 'vm');
    const adminPort = await refusedPort();
    const e = await startEdgeProcess(t, { admin: { listen: `127.0.0.1:${adminPort}` },
      proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: vm.port }] }, { entry: 'bin' });
    const env = { IDCS_EDGE_CONFIG: e.file };
    const healthy = await run(argv, env);
    assert.equal(healthy.code, 0, healthy.out);
    assert.match(healthy.out, new RegExp(`^healthy: admin 127\\.0\\.0\\.1:${adminPort} /healthz answered 200`));

    // Someone is editing the file: a value the edge would refuse, then text that is not YAML at all. The
    // image sets IDCS_EDGE_HTTP_PORT, so without a readable admin.listen the HTTP listener is asked.
    const text = readFileSync(e.file, 'utf8');
    writeFileSync(e.file, text.replace(/targetPort: \d+/, 'targetPort: not-a-port'));
    assert.equal((await run(argv, env)).code, 0, 'a refused edit');
    writeFileSync(e.file, `${text}\n  - [unclosed\n`);
    const broken = await run(argv, { ...env, IDCS_EDGE_HTTP_PORT: String(e.http) });
    assert.equal(broken.code, 0, broken.out);
    assert.match(broken.out, new RegExp(`^healthy: http://127\\.0\\.0\\.1:${e.http}/ answered 404`));

    e.child.kill('SIGTERM');
    assert.equal(await exitWithin(e.exited, 15_000, 'the edge'), 0);
    writeFileSync(e.file, text);
    const stopped = await run(argv, env);
    assert.equal(stopped.code, 1, stopped.out);
    assert.match(stopped.out, /^unhealthy: admin 127\.0\.0\.1:\d+ did not answer: ECONNREFUSED/);
  });

  it('without an admin listener asks the HTTP listener', async (t) => {
    const argv = healthcheckArgv();
    const vm = await startBackend(t, 'vm');
    const e = await startEdgeProcess(t, { proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: vm.port }] });
    const ok = await run(argv, { IDCS_EDGE_CONFIG: e.file });
    assert.equal(ok.code, 0, ok.out);
    assert.match(ok.out, new RegExp(`^healthy: http://127\\.0\\.0\\.1:${e.http}/ answered 404`));
    e.child.kill('SIGTERM');
    await exitWithin(e.exited, 15_000, 'the edge');
    const down = await run(argv, { IDCS_EDGE_CONFIG: e.file });
    assert.equal(down.code, 1, down.out);
  });
});
