/**
 * Output for a person at a terminal: under a real pseudo-terminal (util-linux `script`), the edge prints a
 * start-up summary and readable log lines, while its log file keeps JSON lines; with stdout a pipe, stdout
 * is JSON too. Start-up says each thing once: one line per certificate made, no expiry warning for fresh
 * short-lived certificates.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { stripVTControlCharacters } from 'node:util';
import { edgeConfig } from '../helpers/edge-process.ts';
import { request, startBackend, waitFor } from '../helpers/net.ts';

const hasScript = spawnSync('script', ['--version']).status === 0;

/** The log file's lines, parsed (every one must be JSON). */
function fileLines(file: string): Array<Record<string, unknown>> {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : [];
}

describe('terminal output', () => {
  it('a terminal gets the summary and readable lines, the log file JSON', { skip: hasScript ? false : 'util-linux script is not installed' }, async (t) => {
    const vm = await startBackend(t, 'vm');
    const c = await edgeConfig(t, { proxies: [
      { domain: 'app.example.com', target: '127.0.0.1', targetPort: vm.port, ssl: true },
      { domain: 'plain.example.com', target: '127.0.0.1', targetPort: vm.port },
    ] });
    // script runs the command on a pty of its own and copies what it prints to our pipe.
    const cmd = `${JSON.stringify(process.execPath)} src/cli.ts --config ${JSON.stringify(c.file)}`;
    // A colour terminal, whatever the environment the tests run in (CI has no TERM, may set CI or NO_COLOR).
    const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color' };
    for (const k of ['NO_COLOR', 'NODE_DISABLE_COLORS', 'FORCE_COLOR', 'CI']) delete env[k];
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let tty = '';
    child.stdout.on('data', (d) => { tty += d; });
    child.stderr.on('data', (d) => { tty += d; });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    let pid = 0;
    t.after(() => { if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } });
    const listening = await waitFor(`the edge to listen (terminal so far: ${tty.slice(-300)})`,
      () => fileLines(c.logFile).find((l) => l.msg === 'idcs-edge listening'), 30_000);
    pid = listening.pid as number;
    assert.equal((await request(c.https, 'app.example.com', { https: true, path: '/hello' })).status, 200);
    const plain = () => stripVTControlCharacters(tty).replace(/\r/g, '');
    await waitFor('the summary and the access line on the terminal', () => plain().includes('try: curl') && /200 GET app\.example\.com\/hello/.test(plain()));
    process.kill(pid, 'SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(tty.includes('\u001b['), 'in colour');
    assert.match(plain(), /idcs-edge \d+\.\d+\.\d+ is up \(pid \d+\)/);
    assert.match(plain(), new RegExp(`https +127\\.0\\.0\\.1:${c.https} +\\(HTTP/2 and HTTP/1\\.1\\)`));
    assert.match(plain(), /DOMAIN +TARGET +SERVES +CERTIFICATE/);
    assert.match(plain(), /app\.example\.com +http:\/\/127\.0\.0\.1:\d+ +https h2 ws +local CA, /);
    assert.match(plain(), /plain\.example\.com +http:\/\/127\.0\.0\.1:\d+ +http ws +-/);
    assert.match(plain(), /\d\d:\d\d:\d\d\.\d{3} INFO +idcs-edge listening http=\d+/);
    assert.doesNotMatch(plain(), /\{"level":/, 'no JSON on the terminal');

    const lines = fileLines(c.logFile);
    assert.ok(lines.some((l) => l.msg === 'access' && l.path === '/hello' && l.status === 200), 'the access line, as JSON, in the file');
    // Quiet start-up: one line per certificate made, nothing about the default one, no expiry warnings.
    const made = lines.filter((l) => l.msg === 'self-signed certificate created').map((l) => l.name);
    assert.deepEqual(made, ['app.example.com']);
    assert.ok(!lines.some((l) => /expires|alert/.test(String(l.msg))), 'no expiry warning for a fresh 7-day certificate');
    assert.ok(!lines.some((l) => l.msg === 'certificate stored' || l.msg === 'certificate written to the store'));
  });

  it('with stdout a pipe, stdout gets JSON lines', async (t) => {
    const vm = await startBackend(t, 'vm');
    const c = await edgeConfig(t, { proxies: [{ domain: 'plain.example.com', target: '127.0.0.1', targetPort: vm.port }] });
    const child = spawn(process.execPath, ['src/cli.ts', '--config', c.file], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    await waitFor('the edge to listen', () => out.includes('"msg":"idcs-edge listening"'), 30_000);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    for (const l of out.split('\n').filter(Boolean)) JSON.parse(l);
    assert.doesNotMatch(out, /is up \(pid/);
  });
});
