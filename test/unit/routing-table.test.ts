import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateConfig } from '../../src/config/load.ts';
import { buildRouteTable } from '../../src/routing/table.ts';

const config = validateConfig({
  vms: [
    { name: 'web1', owner: 'user1', ip: '10.0.0.5' },
    { name: 'Web2', owner: 'user1', ip: '10.0.0.6', port: 8080 },
    { name: 'web1', owner: 'user2', ip: '10.0.0.7' },
  ],
  proxies: [
    { domain: 'app.example.com', target: '10.0.0.5', targetPort: 80 },
    { domain: 'secure.example.com', target: '10.0.0.9', protocol: 'https' },
    { domain: '*.user1.example.com', owner: 'user1', targetPort: 3000 },
    { domain: '*.static.example.com', target: '10.0.0.8', targetPort: 81 },
    { domain: 'special.user1.example.com', target: '10.0.0.99', targetPort: 9 },
    { domain: 'off.example.com', target: '10.0.0.1', enabled: false },
    { domain: 'v6.example.com', target: 'fd00::5', targetPort: 8080 },
  ],
});
const table = buildRouteTable(config);

describe('route table', () => {
  const cases: Array<{ host: string | undefined; expect: string; route?: string; vm?: string }> = [
    { host: 'app.example.com', expect: 'http://10.0.0.5:80', route: 'app.example.com' },
    { host: 'APP.Example.com.:8080', expect: 'http://10.0.0.5:80', route: 'app.example.com' },
    { host: 'secure.example.com', expect: 'https://10.0.0.9:443' },
    { host: 'web1.user1.example.com', expect: 'http://10.0.0.5:3000', route: '*.user1.example.com', vm: 'web1' },
    { host: 'WEB2.user1.example.com', expect: 'http://10.0.0.6:8080', vm: 'web2' },
    { host: 'special.user1.example.com', expect: 'http://10.0.0.99:9', route: 'special.user1.example.com' },
    { host: 'anything.static.example.com', expect: 'http://10.0.0.8:81', route: '*.static.example.com' },
    { host: 'v6.example.com', expect: 'http://[fd00::5]:8080' },
    { host: 'ghost.user1.example.com', expect: 'EDGE_ERR_NO_VM' },
    { host: 'web1.user3.example.com', expect: 'EDGE_ERR_NO_ROUTE' },
    { host: 'a.web1.user1.example.com', expect: 'EDGE_ERR_NO_ROUTE' },
    { host: 'user1.example.com', expect: 'EDGE_ERR_NO_ROUTE' },
    { host: 'off.example.com', expect: 'EDGE_ERR_NO_ROUTE' },
    { host: 'bad/label.static.example.com', expect: 'EDGE_ERR_NO_ROUTE' },
    { host: '', expect: 'EDGE_ERR_NO_HOST' },
    { host: undefined, expect: 'EDGE_ERR_NO_HOST' },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.host)} -> ${c.expect}`, () => {
      const r = table.resolve(c.host);
      if (r.ok) {
        assert.equal(r.upstream.origin, c.expect);
        if (c.route) assert.equal(r.route.domain, c.route);
        if (c.vm) assert.equal(r.vm, c.vm);
      } else {
        assert.equal(r.code, c.expect, r.message);
      }
    });
  }

  it('names the owner and the missing VM in the template miss', () => {
    const r = table.resolve('ghost.user1.example.com');
    assert.equal(r.ok, false);
    assert.match((r as { message: string }).message, /user1 has no VM named "ghost"/);
  });

  it('returns the same precomputed match object on every lookup (no per-request allocation)', () => {
    assert.equal(table.resolve('app.example.com'), table.resolve('app.example.com'));
    assert.equal(table.resolve('web1.user1.example.com'), table.resolve('web1.user1.example.com'));
  });

  it('shares one upstream object (and so one pool) between routes to the same VM service', () => {
    const t = buildRouteTable(validateConfig({ proxies: [
      { domain: 'a.example.com', target: '10.0.0.5' }, { domain: 'b.example.com', target: '10.0.0.5', targetPort: 80 },
    ] }));
    assert.equal(t.upstreams.length, 1);
  });

  it('resolves the last of 100,000 routes', () => {
    const proxies = Array.from({ length: 100_000 }, (_, i) => ({ domain: `r${i}.example.com`, target: '10.0.0.5' }));
    const big = buildRouteTable(validateConfig({ proxies }));
    const r = big.resolve('r99999.example.com');
    assert.ok(r.ok);
    assert.equal(r.route.index, 99_999);
  });
});
