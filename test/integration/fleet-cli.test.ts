/**
 * `idcs-edge config import|export` and a fleet edge's own file, through the real CLI against a real
 * redis-server: an import is all or nothing and names a key on the wrong side; without a running edge it
 * is stored directly, with one through that edge's API; export gives back what was imported; an edge file
 * holding a fleet key is refused naming it.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { runCli } from '../helpers/cli.ts';
import { fleetEdgeFile, launchFleetEdge, plainProxy, servedBy } from '../helpers/fleet.ts';
import { startBackend, waitFor } from '../helpers/net.ts';
import { startRedis } from '../helpers/redis.ts';

describe('idcs-edge config import and export', () => {
  it('moves the fleet\'s rules to and from YAML and JSON, all or nothing', async (t) => {
    const redis = await startRedis(t);
    const edge = await fleetEdgeFile(t, { redisUrl: redis.url, keyPrefix: 'cli:' });
    const one = await startBackend(t, 'one');
    const two = await startBackend(t, 'two');
    const rules = join(edge.dir, 'rules.yaml');
    const write = (doc: unknown, file = rules) => { writeFileSync(file, stringify(doc)); return file; };
    const cli = (...args: string[]) => runCli([...args, '--config', edge.file]);

    write({ proxies: [{ domain: 'cli.example.com', ...plainProxy(one.port) }] });
    const empty = await cli('config', 'export');
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /no fleet document/);
    const dry = await cli('config', 'import', rules, '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /valid fleet document.*nothing changed/);

    // A key of the edge's own file, and an invalid value: refused whole, each named.
    const hostKey = await cli('config', 'import', write({ listen: { http: 1 }, proxies: [] }, join(edge.dir, 'bad.yaml')));
    assert.equal(hostKey.code, 2);
    assert.match(hostKey.stderr, /listen: listen belongs to each edge's own file/);
    const invalid = await cli('config', 'import', write({ proxies: [{ domain: 'x.example.com', target: '127.0.0.1', targetPort: 0 }] }, join(edge.dir, 'bad2.yaml')));
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /proxies\[0\]\.targetPort/);

    const imported = await cli('config', 'import', rules);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /as fleet document version 1 into redis:.*no edge answered/);
    const yaml = await cli('config', 'export');
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.match(yaml.stdout, /^# idcs-edge fleet document version 1 /);
    assert.deepEqual(parse(yaml.stdout), parse(readFileSync(rules, 'utf8')));
    const json = await cli('config', 'export', join(edge.dir, 'out.json'));
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(readFileSync(join(edge.dir, 'out.json'), 'utf8')), parse(readFileSync(rules, 'utf8')));
    const check = await cli('--check-config');
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /cli\.example\.com/);
    assert.match(check.stdout, /fleet document version 1/);

    // With the edge running, the import goes through its API and answers how the fleet took it.
    const running = await launchFleetEdge(t, edge);
    assert.equal(await servedBy(running, 'cli.example.com'), 'one');
    write({ proxies: [{ domain: 'cli.example.com', ...plainProxy(two.port) }] });
    const live = await cli('config', 'import', rules);
    assert.equal(live.code, 0, live.stderr);
    assert.match(live.stdout, /version 2 through the running edge at http:\/\/127\.0\.0\.1:\d+\n {2}applied by: /);
    await waitFor('the imported rule', async () => await servedBy(running, 'cli.example.com') === 'two');
  });

  it('imports CSV rows into the fleet document when no edge answers', async (t) => {
    const redis = await startRedis(t);
    const edge = await fleetEdgeFile(t, { redisUrl: redis.url, keyPrefix: 'csv:' });
    const csv = join(edge.dir, 'proxies.csv');
    writeFileSync(csv, 'domain,target,target_port,protocol,ssl,cert_source,websocket,note\ncsv.example.com,127.0.0.1,8080,,,,,\n');
    const r = await runCli(['import', 'proxies', csv, '--config', edge.file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /imported 1 proxies .* the fleet document was edited/);
    const exported = await runCli(['config', 'export', '--config', edge.file]);
    assert.deepEqual(parse(exported.stdout).proxies.map((p: { domain: string }) => p.domain), ['csv.example.com']);
    assert.doesNotMatch(readFileSync(edge.file, 'utf8'), /csv\.example\.com/, 'the edge\'s own file is not touched');
  });

  it('refuses an edge file with config.source: redis that holds a fleet key, naming it', async (t) => {
    const edge = await fleetEdgeFile(t, { redisUrl: 'redis://127.0.0.1:1/0', keyPrefix: 'x:' });
    edge.write({ ...edge.doc, proxies: [], vms: [] });
    const r = await runCli(['--check-config', '--config', edge.file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /proxies: with config\.source: redis, proxies lives in the fleet document/);
    assert.match(r.stderr, /vms: with config\.source: redis, vms lives in the fleet document/);
  });
});
