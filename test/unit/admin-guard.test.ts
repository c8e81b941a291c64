import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAdminListen } from '../../src/admin/config.ts';
import { validateConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';
import { createGuard } from '../../src/admin/guard.ts';
import { bearerMatches } from '../../src/admin/token.ts';

describe('admin guard', () => {
  const tcp = createGuard({ kind: 'tcp', host: '127.0.0.1', port: 8081 }, ['admin.internal', 'proxy.internal:443']);
  const unix = createGuard({ kind: 'unix', path: '/run/a.sock' }, []);
  const hosts: Array<[string, ReturnType<typeof createGuard>, string | undefined, boolean]> = [
    ['own address', tcp, '127.0.0.1:8081', true],
    ['localhost', tcp, 'localhost:8081', true],
    ['own address, other port', tcp, '127.0.0.1:8082', false],
    ['own address, no port (80)', tcp, '127.0.0.1', false],
    ['another site (DNS rebinding)', tcp, 'evil.example.com:8081', false],
    ['an allowed host, any port', tcp, 'Admin.Internal:9999', true],
    ['an allowed host:port', tcp, 'proxy.internal:443', true],
    ['an allowed host, other port', tcp, 'proxy.internal:8443', false],
    ['no Host', tcp, undefined, false],
    ['garbage', tcp, 'a b', false],
    ['unix socket, localhost', unix, 'localhost', true],
    ['unix socket, other name', unix, 'evil.example.com', false],
  ];
  for (const [what, guard, host, ok] of hosts) {
    it(`Host: ${what} is ${ok ? 'accepted' : 'refused'}`, () => assert.equal(guard.refusal({ host }, false) === null, ok));
  }
  const writes: Array<[string, Record<string, string>, boolean]> = [
    ['no browser headers (curl, a controller)', {}, true],
    ['same origin', { origin: 'http://127.0.0.1:8081', 'sec-fetch-site': 'same-origin' }, true],
    ['another origin', { origin: 'https://evil.example.com' }, false],
    ['an opaque origin', { origin: 'null' }, false],
    ['cross-site fetch metadata', { 'sec-fetch-site': 'cross-site' }, false],
    ['same-site fetch metadata', { 'sec-fetch-site': 'same-site' }, false],
  ];
  for (const [what, headers, ok] of writes) {
    it(`a write with ${what} is ${ok ? 'accepted' : 'refused'}`, () => {
      assert.equal(tcp.refusal({ host: '127.0.0.1:8081', ...headers }, true) === null, ok);
      assert.equal(tcp.refusal({ host: '127.0.0.1:8081', ...headers }, false), null, 'reads are not refused for it');
    });
  }
  it('parses admin.listen', () => {
    assert.deepEqual(parseAdminListen('127.0.0.1:8081'), { kind: 'tcp', host: '127.0.0.1', port: 8081 });
    assert.deepEqual(parseAdminListen('[::1]:0'), { kind: 'tcp', host: '::1', port: 0 });
    assert.deepEqual(parseAdminListen('unix:/run/idcs-edge/admin.sock'), { kind: 'unix', path: '/run/idcs-edge/admin.sock' });
    for (const bad of ['8081', '127.0.0.1', '127.0.0.1:70000', 'unix:relative.sock', '[1.2.3.4]:80', 'a b:1']) assert.equal(parseAdminListen(bad), null, bad);
  });
  it('the admin section: listen checked, never a public port, paths resolved', () => {
    const issues = (doc: unknown) => {
      try { validateConfig(doc, { baseDir: '/srv' }); return []; } catch (e) { return (e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`); }
    };
    assert.deepEqual(issues({ listen: { http: 8080, https: 8443 }, admin: { listen: '127.0.0.1:8080' } }),
      ['admin.listen: port 8080 is a public listener of the edge; the admin API needs a port of its own']);
    assert.match(issues({ admin: { listen: 'localhost' } })[0]!, /^admin\.listen: expected host:port/);
    assert.match(issues({ admin: { listen: '127.0.0.1:8081', colour: 1 } })[0]!, /^admin: unknown key: colour/);
    assert.match(issues({ admin: { allowedHosts: ['a b'] } })[0]!, /^admin\.allowedHosts\[0\]: expected a host name/);
    const c = validateConfig({ admin: { listen: '127.0.0.1:8081', tokenFile: 'config/admin.token' } }, { baseDir: '/srv' });
    assert.equal(c.admin?.tokenFile, '/srv/config/admin.token');
    assert.equal(c.admin?.maxBodyBytes, 16_777_216);
  });

  it('compares bearer tokens', () => {
    const token = 'x'.repeat(43);
    assert.equal(bearerMatches(`Bearer ${token}`, token), true);
    assert.equal(bearerMatches(`bearer ${token}`, token), true);
    for (const bad of [undefined, '', token, `Bearer ${token}y`, `Basic ${token}`, 'Bearer ']) assert.equal(bearerMatches(bad, token), false, String(bad));
  });
});
