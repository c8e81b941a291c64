/**
 * The CSV import: through the API (10,000 rows in one apply; a dry run that changes nothing; bad rows
 * reported by file line and column with nothing applied) and through `idcs-edge import proxies`, which
 * uses the running edge's API when one answers, and edits the file otherwise.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { adminClientOf } from '../helpers/admin.ts';
import { runCli } from '../helpers/cli.ts';
import { baseConfig, startTestEdge } from '../helpers/edge.ts';
import { refusedPort, request, startBackend } from '../helpers/net.ts';

const HEADER = 'domain,target,target_port,protocol,ssl,cert_source,websocket,note';

describe('admin API: CSV import', () => {
  it('imports 10,000 rows in one apply (a dry run first changes nothing)', async (t) => {
    const b = await startBackend(t, 'b');
    const web = await startBackend(t, 'web');
    const { edge, configFile, logs } = await startTestEdge(t, { admin: { listen: '127.0.0.1:0' },
      vms: [{ name: 'web', owner: 'user1', ip: '127.0.0.1', port: web.port }],
      proxies: [{ domain: 's5.example.com', target: '127.0.0.1', targetPort: 9, note: 'replaced by the import' }] });
    const api = adminClientOf(edge.admin);
    const rows = Array.from({ length: 9_999 }, (_, i) => `s${i}.example.com,127.0.0.1,${b.port},http,no,,yes,"row ${i}, imported"`);
    const csv = `${HEADER}\n${rows.join('\n')}\n*.user1.example.com,owner:user1,,http,false,,true,template\n`;
    const before = readFileSync(configFile, 'utf8');

    const dry = await api.call('POST', '/api/v1/import/proxies?dryRun=1', { csv });
    assert.equal(dry.status, 200, JSON.stringify(dry.body));
    assert.deepEqual([dry.body.dryRun, dry.body.import], [true, { rows: 10_000, added: 9_999, replaced: 1 }]);
    assert.equal(readFileSync(configFile, 'utf8'), before);
    assert.equal((await request(edge.httpPort!, 's1.example.com')).status, 404);

    const applies = () => logs.filter((l) => l.msg === 'config applied').length;
    const n = applies();
    const r = await api.call('POST', '/api/v1/import/proxies', { csv });
    assert.equal(r.status, 200, JSON.stringify(r.body).slice(0, 500));
    assert.deepEqual(r.body.import, { rows: 10_000, added: 9_999, replaced: 1 });
    assert.equal(r.body.changes.routesAdded.length, 9_999);
    assert.deepEqual(r.body.changes.routesChanged, ['s5.example.com']);
    assert.equal(applies(), n + 1, 'one apply');
    for (const host of ['s0.example.com', 's5.example.com', 's5000.example.com', 's9998.example.com']) {
      assert.equal(JSON.parse((await request(edge.httpPort!, host)).body).backend, 'b', host);
    }
    assert.equal(JSON.parse((await request(edge.httpPort!, 'web.user1.example.com')).body).backend, 'web');
    const proxies = parse(readFileSync(configFile, 'utf8')).proxies;
    assert.equal(proxies.length, 10_000);
    assert.deepEqual(proxies[0], { domain: 's5.example.com', target: '127.0.0.1', targetPort: b.port, protocol: 'http', ssl: false, websocket: true, note: 'row 5, imported' });
    assert.deepEqual(proxies[9_999], { domain: '*.user1.example.com', owner: 'user1', protocol: 'http', ssl: false, websocket: true, note: 'template' });
  });

  it('reports every bad row by its line and column, and applies nothing', async (t) => {
    const b = await startBackend(t, 'b');
    const { edge, configFile } = await startTestEdge(t, { admin: { listen: '127.0.0.1:0' }, acme: { agreeTos: true } });
    const api = adminClientOf(edge.admin);
    const before = readFileSync(configFile, 'utf8');
    const csv = [
      HEADER,
      `ok.example.com,127.0.0.1,${b.port},http,false,,true,fine`, // line 2
      'port.example.com,127.0.0.1,99999,http,false,,true,', // line 3: port
      'multi.example.com,127.0.0.1,80,http,false,,true,"a note, with a comma', // lines 4-5: a quoted newline
      'and a second line"',
      'ssl.example.com,127.0.0.1,80,http,maybe,,true,', // line 6: ssl
      'ok.example.com,127.0.0.1,80,http,false,,true,again', // line 7: duplicate
      'proto.example.com,127.0.0.1,80,gopher,false,,true,', // line 8: protocol
      'short.example.com,127.0.0.1', // line 9: fields
      '', // line 10: empty, skipped
      '*.w.example.com,127.0.0.1,80,http,true,letsencrypt,true,', // line 11: needs a DNS hook (the whole config says so)
    ].join('\n');
    const r = await api.call('POST', '/api/v1/import/proxies', { csv });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'EDGE_ERR_CSV_INVALID');
    assert.deepEqual(r.body.error.issues.map((i: { line: number; column: string }) => [i.line, i.column]),
      [[3, 'target_port'], [6, 'ssl'], [7, 'domain'], [8, 'protocol'], [9, null]]);
    assert.match(r.body.error.issues[2].message, /already on line 2/);
    assert.equal(readFileSync(configFile, 'utf8'), before);
    assert.equal((await request(edge.httpPort!, 'ok.example.com')).status, 404, 'nothing applied');

    // Rows that pass on their own but that the whole config refuses are told by line too.
    const whole = await api.call('POST', '/api/v1/import/proxies', { csv: [HEADER, csv.split('\n')[1], csv.split('\n')[3], csv.split('\n')[4], csv.split('\n')[10]].join('\n') });
    assert.equal(whole.status, 400);
    assert.deepEqual(whole.body.error.issues.map((i: { line: number; column: string }) => [i.line, i.column]), [[5, 'cert_source']]);
    assert.equal(readFileSync(configFile, 'utf8'), before);
    const header = await api.call('POST', '/api/v1/import/proxies', { csv: 'domain,target\na.example.com,127.0.0.1\n' });
    assert.deepEqual([header.status, header.body.error.issues[0].line], [400, 1]);
    assert.match(header.body.error.issues[0].message, /missing: target_port/);
  });

  it('idcs-edge import proxies: edits the file when no edge runs, and goes through the API when one does', async (t) => {
    const b = await startBackend(t, 'b');
    const dir = mkdtempSync(join(tmpdir(), 'edge-import-'));
    const csvFile = join(dir, 'proxies.csv');
    writeFileSync(csvFile, `${HEADER}\ncli.example.com,127.0.0.1,${b.port},http,false,,true,"from, the CLI"\n`);
    const adminPort = await refusedPort();
    const configFile = join(dir, 'edge.yaml');
    writeFileSync(configFile, `# hand-kept\n${stringify({ ...baseConfig(dir), admin: { listen: `127.0.0.1:${adminPort}` }, proxies: [] })}`);

    const dry = await runCli(['import', 'proxies', csvFile, '--dry-run', '--config', configFile]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /1 rows valid \(1 would be added, 0 replaced\); nothing changed/);
    assert.deepEqual(parse(readFileSync(configFile, 'utf8')).proxies, []);
    const offline = await runCli(['import', 'proxies', csvFile, '--config', configFile]);
    assert.equal(offline.code, 0, offline.stderr);
    assert.match(offline.stdout, /imported 1 proxies \(1 added, 0 replaced\) into .*edge\.yaml/);
    assert.match(readFileSync(configFile, 'utf8'), /^# hand-kept\n/);
    assert.equal(parse(readFileSync(configFile, 'utf8')).proxies[0].note, 'from, the CLI');

    const { edge } = await startTestEdge(t, { __dir: dir, ...parse(readFileSync(configFile, 'utf8')) });
    writeFileSync(csvFile, `${HEADER}\napi.example.com,127.0.0.1,${b.port},http,false,,true,\n`);
    const online = await runCli(['import', 'proxies', csvFile, '--config', configFile]);
    assert.equal(online.code, 0, online.stderr);
    assert.match(online.stdout, new RegExp(`through the running edge at http://127\\.0\\.0\\.1:${adminPort}`));
    assert.equal(JSON.parse((await request(edge.httpPort!, 'api.example.com')).body).backend, 'b', 'served as soon as the CLI returns');

    writeFileSync(csvFile, `${HEADER}\nbad.example.com,127.0.0.1,0,http,false,,true,\n`);
    const bad = await runCli(['import', 'proxies', csvFile, '--config', configFile]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /EDGE_ERR_CSV_INVALID/);
    assert.match(bad.stderr, /line 2, column target_port: expected 1-65535/);
  });
});
