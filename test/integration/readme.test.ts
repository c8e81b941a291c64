/**
 * The README's Set-up, run as written: `npm start` on the shipped config in a copy of the checkout (its
 * tracked files, with this checkout's node_modules), then every command of the "With the edge running"
 * block and the WebSocket one-liner, each of which must exit 0 and print what the README says it does; then
 * Ctrl-C (SIGINT to the process group, as a terminal sends it) stops the edge. The shipped config has fixed
 * ports (8080, 8443, 8081, 8090), so all of it runs in a network namespace of its own (`unshare -rn`, the
 * loopback brought up inside), where nothing else listens; where namespaces are not allowed (a container
 * without the right), on this host's ports if all four are free, else the test skips saying which is taken.
 * `npm ci` itself is what `.ci/run` runs on a fresh clone before the tests.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const root = new URL('../..', import.meta.url).pathname;
const readme = readFileSync(join(root, 'README.md'), 'utf8');

const canUnshare = spawnSync('unshare', ['-rn', 'sh', '-c', 'ip link set lo up'], { stdio: 'ignore' }).status === 0;

/** The first of the shipped config's ports that something on this host listens on, or null. */
async function takenPort(): Promise<number | null> {
  for (const port of [8080, 8443, 8081, 8090]) {
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '0.0.0.0', () => s.close(() => resolve(true)));
    });
    if (!free) return port;
  }
  return null;
}

const taken = canUnshare ? null : await takenPort();
const skip = canUnshare || taken === null ? false : `no network namespace (unshare -rn) allowed here, and port ${taken} is taken`;

/** The ```sh blocks of a README section, each as its lines. */
function shBlocks(section: string): string[][] {
  const start = readme.indexOf(`\n## ${section}\n`);
  assert.ok(start >= 0, `README has a "## ${section}" section`);
  const end = readme.indexOf('\n## ', start + 4);
  const text = readme.slice(start, end < 0 ? undefined : end);
  return [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.split('\n').filter((l) => l.trim() !== ''));
}

/** What each command of the "With the edge running" block must print (stdout and stderr together), in order. */
const EXPECT: Array<[string, RegExp]> = [
  ['curl -k --resolve app.example.com:8443', /<h1>idcs-edge demo VM<\/h1>/],
  ['curl -k --http1.1', /<h1>idcs-edge demo VM<\/h1>/],
  ['curl -i --resolve app.example.com:8080', /^HTTP\/1\.1 308 [\s\S]*location: https:\/\/app\.example\.com:8443\//im],
  ['curl -k --resolve demo.demo.example.com', /<h1>idcs-edge demo VM<\/h1>/],
  ['curl -s -H "Authorization: Bearer $(cat config/admin.token)" http://127.0.0.1:8081/api/v1/proxies', /"domain":"app\.example\.com"[\s\S]*"status":"serving"/],
  ['curl -s -H "Authorization: Bearer $(cat config/admin.token)" http://127.0.0.1:8081/metrics', /idcs_edge_http_requests_total\{proxy="app\.example\.com"/],
  ['./idcs-edge certs', /app\.example\.com\s+self-signed\s+\d{4}-\d\d-\d\d/],
  ['./idcs-edge ca export > idcs-edge-ca.pem', /The local CA of this edge .*\n[\s\S]*update-ca-certificates/],
  ['curl --cacert idcs-edge-ca.pem', /<h1>idcs-edge demo VM<\/h1>/],
  ['./idcs-edge --check-config', /^config OK: config\/edge\.yaml[\s\S]*app\.example\.com/],
  ['./idcs-edge --renew-ssl --dry-run', /^DOMAIN\s+SOURCE[\s\S]*app\.example\.com\s+self-signed .* skipped/m],
  ['./idcs-edge traffic', /^traffic per VM in \d{4}-\d\d \(UTC\), from the running edge at http:\/\/127\.0\.0\.1:8081\n[\s\S]*demo\/demo/],
  ['printf %s \'s3cret\' | ./idcs-edge hash-password', /^\$scrypt\$/],
];

describe('the README', () => {
  it('Set-up: npm start serves the demo, and every command shown with it works as written', { skip }, async (t) => {
    const [start, tests, running] = shBlocks('Set-up');
    assert.deepEqual(start, ['npm ci && npm start']);
    assert.deepEqual(tests, ['npm ci && npm test']);
    assert.equal(running!.length, EXPECT.length, 'one expectation per command in the README block');
    running!.forEach((cmd, i) => assert.ok(cmd.startsWith(EXPECT[i]![0]), `command ${i + 1} is ${JSON.stringify(cmd)}`));
    const ws = /`(node -e "const W=require\('ws'\)[^`]*)`/.exec(readme)?.[1];
    assert.ok(ws, 'the README has the WebSocket one-liner');

    // A fresh checkout: the tracked files (a copy, so nothing here is written), this checkout's node_modules.
    const dir = mkdtempSync(join(tmpdir(), 'edge-readme-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const tracked = spawnSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' });
    const files = tracked.status === 0 ? tracked.stdout.split('\0').filter(Boolean)
      : ['package.json', 'package-lock.json', 'idcs-edge', 'bin', 'src', 'config/edge.yaml'];
    for (const f of files) cpSync(join(root, f), join(dir, f), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));

    // One shell in the namespace runs it all; each command (its own line: a README comment ends it) runs
    // in a subshell whose output is framed so it can be told apart.
    const commands = [...running!, ws!];
    const script = `set -u
${canUnshare ? 'ip link set lo up' : ''}
set -m
npm start > start.log 2>&1 &
edge=$!
set +m
deadline=$(( $(date +%s) + 60 ))
until curl -sk -o /dev/null --resolve app.example.com:8443:127.0.0.1 https://app.example.com:8443/ && [ -s config/admin.token ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { echo "### the edge did not come up"; cat start.log; kill -9 -- -"$edge"; exit 1; }
  kill -0 "$edge" 2>/dev/null || { echo "### npm start exited"; cat start.log; exit 1; }
  sleep 0.1
done
${commands.map((c, i) => `echo "### ${i} begin"\n(\n${c}\n) 2>&1\necho "### ${i} rc=$?"`).join('\n')}
kill -INT -- -"$edge"
wait "$edge"
echo "### stopped rc=$?"
`;
    writeFileSync(join(dir, 'readme.sh'), script);
    const child = canUnshare ? spawn('unshare', ['-rn', 'bash', 'readme.sh'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('bash', ['readme.sh'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    clearTimeout(timer);
    assert.equal(code, 0, out.slice(-3000));

    for (let i = 0; i < commands.length; i++) {
      const m = new RegExp(`### ${i} begin\\n([\\s\\S]*?)### ${i} rc=(\\d+)`).exec(out);
      assert.ok(m, `command ${i + 1} ran: ${commands[i]}`);
      assert.equal(m[2], '0', `${commands[i]} exited 0:\n${m[1]}`);
      const want = i < EXPECT.length ? EXPECT[i]![1] : /^hi\n$/;
      assert.match(m[1]!, want, `${commands[i]} printed:\n${m[1]}`);
    }
    assert.match(readFileSync(join(dir, 'idcs-edge-ca.pem'), 'utf8'), /^-----BEGIN CERTIFICATE-----\r?\n[\s\S]+-----END CERTIFICATE-----\r?\n$/);
    // Ctrl-C drained and stopped the edge; the log file has JSON lines.
    const log = readFileSync(join(dir, 'logs/http-proxy.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string });
    assert.ok(log.some((l) => l.msg === 'stopped'), 'the edge logged stopped');
    assert.match(out, /### stopped rc=\d+/);
  });
});
