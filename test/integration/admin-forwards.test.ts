/**
 * Port forwards through the admin API and the CLI: GET/PUT/DELETE /api/v1/forwards/{protocol}/{port}
 * adding and removing a forward while another forward's connection stays open, POST /api/v1/import/forwards
 * with the platform's CSV (all rows or none, bad rows by line and column), `idcs-edge import forwards`,
 * `idcs-edge hash-password`, and the OpenAPI document naming the new paths.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { parsePasswordHash, verifyPassword } from '../../src/policy/password.ts';
import { adminClientOf } from '../helpers/admin.ts';
import { runCli } from '../helpers/cli.ts';
import { baseConfig, startTestEdge } from '../helpers/edge.ts';
import { connect, freePortRange, tcpEcho } from '../helpers/forwards.ts';
import { waitFor } from '../helpers/net.ts';

describe('admin API: forwards', () => {
  it('adds, reads, replaces and removes a forward while another forward\'s connection stays open', async (t) => {
    const echo = await tcpEcho(t);
    const base = await freePortRange(['127.0.0.1'], 2);
    const { edge, configFile } = await startTestEdge(t, { admin: { listen: '127.0.0.1:0' },
      forwards: [{ protocol: 'tcp', port: base, target: '127.0.0.1', targetPort: echo.port, note: 'kept' }] });
    const api = adminClientOf(edge.admin);
    const held = await connect(base);
    held.socket.write('a;');
    await waitFor('the echo', () => held.received() === 'a;');

    const put = await api.call('PUT', `/api/v1/forwards/tcp/${base + 1}`, { json: { target: '127.0.0.1', targetPort: echo.port, note: 'Web' } });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    const c = await connect(base + 1);
    c.socket.end('b');
    await c.closed;
    assert.equal(c.received(), 'b', 'served as soon as the answer arrives');
    assert.deepEqual(parse(readFileSync(configFile, 'utf8')).forwards[1], { target: '127.0.0.1', targetPort: echo.port, note: 'Web', protocol: 'tcp', port: base + 1 });

    const got = await api.call('GET', `/api/v1/forwards/tcp/${base + 1}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.note, 'Web');
    assert.ok(got.headers.get('etag'));
    assert.equal((await api.call('GET', '/api/v1/forwards')).body.forwards.length, 2);
    assert.equal((await api.call('PUT', `/api/v1/forwards/tcp/${base + 1}`, { json: { port: 1, target: '127.0.0.1' } })).status, 400, 'the body names another forward');
    const bad = await api.call('PUT', `/api/v1/forwards/udp/${base + 1}`, { json: { target: '127.0.0.1', proxyProtocol: 'v1' } });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.error.issues.map((i: { path: string }) => i.path), ['forwards[2].proxyProtocol']);
    assert.equal((await api.call('GET', '/api/v1/forwards/sctp/1')).status, 400);
    assert.equal((await api.call('GET', '/api/v1/forwards/tcp/1')).status, 404);

    const del = await api.call('DELETE', `/api/v1/forwards/tcp/${base + 1}`);
    assert.equal(del.status, 200, JSON.stringify(del.body));
    await assert.rejects(connect(base + 1), /ECONNREFUSED/);
    assert.equal((await api.call('DELETE', `/api/v1/forwards/tcp/${base + 1}`)).status, 404);

    held.socket.write('still;');
    await waitFor('the held connection to still echo', () => held.received() === 'a;still;');
    held.socket.destroy();
  });

  it('imports the platform\'s CSV: all rows or none, bad rows by line and column', async (t) => {
    const echo = await tcpEcho(t);
    const base = await freePortRange(['127.0.0.1'], 12);
    const { edge, configFile } = await startTestEdge(t, { admin: { listen: '127.0.0.1:0' },
      forwards: [{ port: base, target: '127.0.0.1', targetPort: 9, note: 'replaced by the import' }] });
    const api = adminClientOf(edge.admin);
    const before = readFileSync(configFile, 'utf8');
    const bad = [
      'protocol,host_port,vm_ip,vm_port,note',
      `tcp,${base + 1},127.0.0.1,${echo.port},Web`, // line 2
      `tcp,${base + 2},127.0.0.1,99999,bad port`, // line 3: vm_port
      `sctp,${base + 3},127.0.0.1,22,`, // line 4: protocol
      `tcp,${base + 1},127.0.0.1,80,again`, // line 5: duplicate
      `tcp,${base + 4},,22,no address`, // line 6: vm_ip
      `udp,${base + 5}`, // line 7: fields
    ].join('\n');
    const r = await api.call('POST', '/api/v1/import/forwards', { csv: bad });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'EDGE_ERR_CSV_INVALID');
    assert.deepEqual(r.body.error.issues.map((i: { line: number; column: string }) => [i.line, i.column]),
      [[3, 'vm_port'], [4, 'protocol'], [5, 'host_port'], [6, 'vm_ip'], [7, null]]);
    assert.match(r.body.error.issues[2].message, /already on line 2/);
    assert.equal(readFileSync(configFile, 'utf8'), before);
    await assert.rejects(connect(base + 1), /ECONNREFUSED/, 'nothing applied');

    // Rows fine on their own that the whole config refuses (overlapping ports) are told by line too.
    const overlap = await api.call('POST', '/api/v1/import/forwards', { csv: `tcp,${base + 1}-${base + 3},127.0.0.1,,\ntcp,${base + 3},127.0.0.1,${echo.port},\n` });
    assert.equal(overlap.status, 400);
    assert.deepEqual(overlap.body.error.issues.map((i: { line: number; column: string }) => [i.line, i.column]), [[2, 'host_port']]);

    // No header line needed; a row with the port of an existing forward replaces it.
    const csv = `tcp,${base},127.0.0.1,${echo.port},replaced\ntcp,${base + 1}-${base + 10},127.0.0.1,${echo.port}-${echo.port + 9},range\nudp,${base + 11},127.0.0.1,53,DNS\n`;
    const ok = await api.call('POST', '/api/v1/import/forwards', { csv });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body.import, { rows: 3, added: 2, replaced: 1 });
    const c = await connect(base);
    c.socket.end('hello');
    await c.closed;
    assert.equal(c.received(), 'hello');
    assert.deepEqual(parse(readFileSync(configFile, 'utf8')).forwards.map((f: { port: unknown; note: string }) => [f.port, f.note]),
      [[base, 'replaced'], [`${base + 1}-${base + 10}`, 'range'], [base + 11, 'DNS']]);
  });

  it('idcs-edge import forwards edits the file when no edge runs; hash-password prints a usable hash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-fwd-import-'));
    const csvFile = join(dir, 'forwards.csv');
    const configFile = join(dir, 'edge.yaml');
    writeFileSync(configFile, `# hand-kept\n${stringify({ ...baseConfig(dir), forwards: [] })}`);
    writeFileSync(csvFile, 'protocol,host_port,vm_ip,vm_port,note\ntcp,8080,10.0.0.5,80,Web\nudp,5353,10.0.0.5,53,"DNS, internal"\n');
    const r = await runCli(['import', 'forwards', csvFile, '--config', configFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /imported 2 forwards \(2 added, 0 replaced\) into .*edge\.yaml/);
    const doc = readFileSync(configFile, 'utf8');
    assert.match(doc, /^# hand-kept\n/);
    assert.deepEqual(parse(doc).forwards[1], { protocol: 'udp', port: 5353, target: '10.0.0.5', targetPort: 53, note: 'DNS, internal' });
    writeFileSync(csvFile, 'tcp,8081,10.0.0.5,0,Web\n');
    const bad = await runCli(['import', 'forwards', csvFile, '--config', configFile]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /line 1, column vm_port: expected/);

    const child = spawn(process.execPath, ['src/cli.ts', 'hash-password'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stdin.end('correct horse\n');
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(code, 0);
    assert.match(stdout, /^\$scrypt\$ln=15,r=8,p=1\$[^\n]+\n$/, 'the hash alone on one line');
    const hash = parsePasswordHash(stdout.trim())!;
    assert.equal(await verifyPassword('correct horse', hash), true);
    assert.equal(await verifyPassword('correct horse\n', hash), false, 'the trailing newline is not part of the password');
  });

  it('documents the forward paths in the OpenAPI document', async (t) => {
    const { edge } = await startTestEdge(t, { admin: { listen: '127.0.0.1:0' } });
    const doc = (await adminClientOf(edge.admin).call('GET', '/api/v1/openapi.json')).body;
    assert.deepEqual(Object.keys(doc.paths['/api/v1/forwards/{protocol}/{port}']).sort(), ['delete', 'get', 'put']);
    assert.ok(doc.paths['/api/v1/import/forwards'].post);
    assert.ok(doc.components.schemas.Forward.properties.proxyProtocol);
  });
});
