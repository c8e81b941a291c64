import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfigFile, validateConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

function issuesOf(doc: unknown): string[] {
  try {
    validateConfig(doc);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.code, 'EDGE_ERR_CONFIG_INVALID');
    return e.issues.map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail('expected the config to be refused');
}

const ok = { domain: 'app.example.com', target: '10.0.0.5', targetPort: 80 };

describe('config validation names the path of every problem', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['port out of range', { proxies: [ok, ok, { ...ok, domain: 'c.example.com', targetPort: 70000 }] }, /^proxies\[2\]\.targetPort: expected 1-65535/],
    ['port not a number', { proxies: [{ ...ok, targetPort: '80' }] }, /^proxies\[0\]\.targetPort: expected a target port number 1-65535/],
    ['unknown key', { proxies: [{ ...ok, tagret: 'x' }] }, /^proxies\[0\]: unknown key: tagret/],
    ['unknown top-level key', { listne: {} }, /^\(root\): unknown key: listne/],
    ['bad protocol', { proxies: [{ ...ok, protocol: 'ftp' }] }, /^proxies\[0\]\.protocol: expected "http" or "https"/],
    ['bad cert source', { proxies: [{ ...ok, certSource: 'acme' }] }, /^proxies\[0\]\.certSource: expected one of: self-signed, upload, letsencrypt/],
    ['upload without files', { proxies: [{ ...ok, certSource: 'upload' }] }, /^proxies\[0\]\.certFile: certSource: upload needs certFile/],
    ['target with scheme', { proxies: [{ ...ok, target: 'http://10.0.0.5' }] }, /^proxies\[0\]\.target: expected an IP address or host name/],
    ['missing target', { proxies: [{ domain: 'a.example.com' }] }, /^proxies\[0\]\.target: expected the VM address/],
    ['owner on exact domain', { proxies: [{ domain: 'a.example.com', owner: 'u1' }] }, /^proxies\[0\]\.owner: owner makes a wildcard template/],
    ['target and owner', { proxies: [{ domain: '*.u.example.com', owner: 'u', target: '10.0.0.1' }] }, /^proxies\[0\]\.owner: give either target/],
    ['wildcard in the middle', { proxies: [{ ...ok, domain: 'a.*.example.com' }] }, /^proxies\[0\]\.domain: expected a domain name/],
    ['bare wildcard', { proxies: [{ ...ok, domain: '*.com' }] }, /^proxies\[0\]\.domain:/],
    ['duplicate domain', { proxies: [ok, { ...ok, domain: 'APP.example.com' }] }, /^proxies\[1\]\.domain: app\.example\.com is already proxied by proxies\[0\]/],
    ['duplicate VM', { vms: [{ name: 'a', owner: 'u', ip: '10.0.0.1' }, { name: 'A', owner: 'u', ip: '10.0.0.2' }] }, /^vms\[1\]\.name: u already has a VM named a/],
    ['bad trusted proxy', { trustedProxies: ['10.0.0.0/33'] }, /^trustedProxies\[0\]: expected an IP address or CIDR/],
    ['bad listen port', { listen: { http: -1 } }, /^listen\.http: expected 0-65535/],
    ['alert webhook not a URL', { alerts: { webhook: 'hooks.example.com' } }, /^alerts\.webhook: expected an http\(s\) URL/],
    ['alert webhook over ftp', { alerts: { webhook: 'ftp://hooks.example.com/' } }, /^alerts\.webhook: expected an http\(s\) URL/],
    ['alert headers without a webhook', { alerts: { webhookHeaders: { authorization: 'Bearer x' } } }, /^alerts\.webhookHeaders: webhookHeaders needs webhook/],
    ['alert header with a line break', { alerts: { webhook: 'https://h.example.com/', webhookHeaders: { 'x-a': 'a\r\nb: c' } } }, /^alerts\.webhookHeaders\.x-a: a header value cannot hold line breaks/],
    ['empty data dir', { data: { dir: '' } }, /^data\.dir:/],
    ['same port twice', { listen: { http: 8080, https: 8080 } }, /^listen\.https: http and https cannot share a port/],
    ['upstreamTls on http', { proxies: [{ ...ok, upstreamTls: { insecureSkipVerify: true } }] }, /^proxies\[0\]\.upstreamTls: upstreamTls only applies with protocol: https/],
    ['bad log level', { log: { level: 'loud' } }, /^log\.level: expected one of/],
    ['reserved store name', { proxies: [{ ...ok, domain: 'default' }] }, /^proxies\[0\]\.domain: the names "default" and "acme" are reserved/],
    ['bad workers', { workers: 0 }, /^workers: expected/],
  ];
  for (const [name, doc, re] of cases) {
    it(name, () => {
      const issues = issuesOf(doc);
      assert.ok(issues.some((i) => re.test(i)), `no issue matched ${re}: ${JSON.stringify(issues)}`);
    });
  }
});

describe('valid config', () => {
  it('keeps traffic statistics in ./data unless told, resolved like every path', () => {
    assert.equal(validateConfig({}, { baseDir: '/srv/edge' }).data.dir, '/srv/edge/data');
    assert.equal(validateConfig({ data: { dir: 'stats' } }, { baseDir: '/srv/edge' }).data.dir, '/srv/edge/stats');
  });

  it('fills defaults, normalises domains and freezes the result', () => {
    const c = validateConfig({ proxies: [{ domain: 'App.Example.com.', target: '10.0.0.5' }] }, { baseDir: '/srv/edge' });
    assert.equal(c.listen.http, 80);
    assert.equal(c.listen.https, 443);
    assert.equal(c.proxies[0]!.domain, 'app.example.com');
    assert.equal(c.proxies[0]!.websocket, true);
    assert.equal(c.certs.dir, '/srv/edge/certs');
    assert.ok(Object.isFrozen(c.proxies[0]));
    assert.throws(() => { (c.listen as { http: number }).http = 1; }, TypeError);
  });

  it('reads YAML and JSON files, and reports parse errors with a line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-cfg-'));
    writeFileSync(join(dir, 'a.yaml'), 'proxies:\n  - domain: a.example.com\n    target: 10.0.0.5\n');
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ proxies: [{ domain: 'b.example.com', target: '10.0.0.6' }] }));
    writeFileSync(join(dir, 'bad.yaml'), 'proxies:\n  - domain: [\n');
    assert.equal(loadConfigFile(join(dir, 'a.yaml')).proxies[0]!.domain, 'a.example.com');
    assert.equal(loadConfigFile(join(dir, 'a.json')).proxies[0]!.target, '10.0.0.6');
    assert.throws(() => loadConfigFile(join(dir, 'bad.yaml')), (e: unknown) => e instanceof ConfigError && e.code === 'EDGE_ERR_CONFIG_READ' && /line \d+/.test(e.message));
    assert.throws(() => loadConfigFile(join(dir, 'missing.yaml')), /config file not found/);
  });

  it('the shipped config/edge.yaml is valid', () => {
    const c = loadConfigFile('config/edge.yaml');
    assert.equal(c.demo.enabled, true);
    assert.ok(c.proxies.some((p) => p.domain === 'app.example.com'));
  });
});

describe('renewal settings', () => {
  it('defaults to daily 02:00 UTC and refuses a bad schedule or time zone', () => {
    const c = validateConfig({});
    assert.equal(c.renewal.schedule, '0 2 * * *');
    assert.equal(c.renewal.timezone, 'UTC');
    assert.ok(issuesOf({ renewal: { schedule: 'every night' } }).some((i) => /^renewal\.schedule: expected a cron expression/.test(i)));
    assert.ok(issuesOf({ renewal: { timezone: 'Mars/Olympus' } }).some((i) => /^renewal\.timezone: expected an IANA time zone/.test(i)));
  });
});
