/**
 * The pure parts of port forwards: the schema (ports and ranges, target or vm, overlaps, the edge's own
 * ports, unknown VMs), the listener specs a range expands to, the PROXY protocol headers, and the CSV.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CsvError } from '../../src/admin/csv.ts';
import { parseForwardCsv } from '../../src/admin/csv-forwards.ts';
import { validateConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';
import { proxyHeaderV1, proxyHeaderV2 } from '../../src/l4/proxy-protocol.ts';
import { forwardSpecsOf } from '../../src/l4/specs.ts';
import { compilePolicies } from '../../src/policy/policies.ts';

const base = { listen: { http: 8080, https: 8443, host: '0.0.0.0' } };

function issues(doc: Record<string, unknown>): Array<[string, string]> {
  try {
    validateConfig({ ...base, ...doc });
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.issues.map((i) => [i.path, i.message]);
  }
  return [];
}

describe('forwards config', () => {
  it('expands a range to one listener per port, each to its own target port, on listen.host by default', () => {
    const c = validateConfig({ ...base, vms: [{ owner: 'user1', name: 'web1', ip: '10.0.0.5' }], forwards: [
      { port: 10022, target: '10.0.0.5', targetPort: 22, note: 'SSH' },
      { protocol: 'udp', listen: '127.0.0.2', port: '2000-2002', vm: { owner: 'User1', name: 'WEB1' }, targetPort: '3000 - 3002' },
    ] });
    const specs = forwardSpecsOf(c, compilePolicies(c, null));
    assert.deepEqual(specs.map((s) => [s.key, s.id, `${s.target.host}:${s.target.port}`, s.path, s.vmKey ?? '-', s.idleTimeoutMs]), [
      ['tcp:0.0.0.0:10022', 'tcp/10022', '10.0.0.5:22', 'forwards[0].port', 'user1/web1', 600_000],
      ['udp:127.0.0.2:2000', 'udp/2000-2002', '10.0.0.5:3000', 'forwards[1].port', 'user1/web1', 60_000],
      ['udp:127.0.0.2:2001', 'udp/2000-2002', '10.0.0.5:3001', 'forwards[1].port', 'user1/web1', 60_000],
      ['udp:127.0.0.2:2002', 'udp/2000-2002', '10.0.0.5:3002', 'forwards[1].port', 'user1/web1', 60_000],
    ]);
  });

  const bad: Array<[string, Record<string, unknown>, Array<[string, RegExp]>]> = [
    ['a port out of range', { forwards: [{ port: 70000, target: '10.0.0.5' }] }, [['forwards[0].port', /expected ports 1-65535/]]],
    ['a range backwards', { forwards: [{ port: '2009-2000', target: '10.0.0.5' }] }, [['forwards[0].port', /ends before it starts/]]],
    ['target and vm both', { vms: [{ owner: 'o', name: 'v', ip: '10.0.0.5' }], forwards: [{ port: 22, target: '10.0.0.5', vm: { owner: 'o', name: 'v' } }] },
      [['forwards[0].target', /one of them/]]],
    ['neither target nor vm', { forwards: [{ port: 22 }] }, [['forwards[0].target', /one of them/]]],
    ['a target range of another length', { forwards: [{ port: '2000-2009', target: '10.0.0.5', targetPort: '3000-3001' }] },
      [['forwards[0].targetPort', /a range of 10 ports/]]],
    ['PROXY protocol on UDP', { forwards: [{ protocol: 'udp', port: 53, target: '10.0.0.5', proxyProtocol: 'v2' }] }, [['forwards[0].proxyProtocol', /TCP forwards only/]]],
    ['an overlap', { forwards: [{ port: '2000-2009', target: '10.0.0.5' }, { port: 2005, target: '10.0.0.6' }] },
      [['forwards[1].port', /tcp port 2005 is already forwarded by forwards\[0\] \(tcp\/2000-2009\)/]]],
    ['the HTTP port', { forwards: [{ port: '8000-8100', target: '10.0.0.5' }] }, [['forwards[0].port', /the edge's HTTP listener \(listen\.http\)/]]],
    ['an unknown VM', { forwards: [{ port: 22, vm: { owner: 'o', name: 'nope' } }] }, [['forwards[0].vm', /o has no VM named nope/]]],
    ['a plain password', { proxies: [{ domain: 'a.example.com', target: '10.0.0.5', auth: { users: [{ name: 'alice', hash: 'hunter2' }] } }] },
      [['proxies[0].auth.users[0].hash', /never the password itself/]]],
    ['a bad CIDR', { vms: [{ owner: 'o', name: 'v', ip: '10.0.0.5', access: { deny: ['10.0.0.0/33'] } }] }, [['vms[0].access.deny[0]', /expected an IP address or CIDR/]]],
    ['a cap without a rate', { proxies: [{ domain: 'a.example.com', target: '10.0.0.5', bandwidth: { burstKB: 64 } }] }, [['proxies[0].bandwidth', /ingressMbps, egressMbps or both/]]],
  ];
  for (const [what, doc, want] of bad) {
    it(`refuses ${what}`, () => {
      const got = issues(doc);
      assert.deepEqual(got.map(([p]) => p), want.map(([p]) => p), JSON.stringify(got));
      want.forEach(([, re], i) => assert.match(got[i]![1], re));
    });
  }

  it('allows the same port for UDP and TCP, and a TCP forward on the HTTP port of another address', () => {
    assert.deepEqual(issues({ forwards: [{ port: 53, target: '10.0.0.5' }, { protocol: 'udp', port: 53, target: '10.0.0.5' },
      { port: 8080, listen: '127.0.0.1', target: '10.0.0.5' }], listen: { http: 8080, https: 8443, host: '127.0.0.2' } }), []);
  });
});

describe('PROXY protocol headers', () => {
  const v4 = { remoteAddress: '::ffff:192.0.2.1', remotePort: 56324, localAddress: '::ffff:198.51.100.1', localPort: 443 };
  const v6 = { remoteAddress: '2001:db8::1', remotePort: 1000, localAddress: '::1', localPort: 22 };

  it('v1: one text line (IPv4-mapped written as TCP4), UNKNOWN for mixed families', () => {
    assert.equal(proxyHeaderV1(v4).toString(), 'PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n');
    assert.equal(proxyHeaderV1(v6).toString(), 'PROXY TCP6 2001:db8::1 ::1 1000 22\r\n');
    assert.equal(proxyHeaderV1({ ...v6, localAddress: '10.0.0.1' }).toString(), 'PROXY UNKNOWN\r\n');
  });

  it('v2: the signature, PROXY over TCP4 or TCP6, addresses and ports in network order', () => {
    const h4 = proxyHeaderV2(v4);
    assert.equal(h4.subarray(0, 12).toString('hex'), '0d0a0d0a000d0a515549540a');
    assert.deepEqual([...h4.subarray(12, 28)], [0x21, 0x11, 0, 12, 192, 0, 2, 1, 198, 51, 100, 1, 0xdc, 0x04, 0x01, 0xbb]);
    const h6 = proxyHeaderV2(v6);
    assert.deepEqual([h6[13], h6.readUInt16BE(14), h6.length], [0x21, 36, 16 + 36]);
    assert.equal(h6.subarray(16, 32).toString('hex'), '20010db8000000000000000000000001');
    assert.equal(h6.subarray(32, 48).toString('hex'), '00000000000000000000000000000001');
    assert.deepEqual([h6.readUInt16BE(48), h6.readUInt16BE(50)], [1000, 22]);
    assert.deepEqual([...proxyHeaderV2({ ...v6, localAddress: '10.0.0.1' }).subarray(12)], [0x20, 0, 0, 0], 'LOCAL');
  });
});

describe('forwards CSV', () => {
  it('reads protocol,host_port,vm_ip,vm_port,note rows, with or without the header', () => {
    const rows = parseForwardCsv('protocol,host_port,vm_ip,vm_port,note\ntcp,8080,10.0.0.5,80,Web\nUDP,2000-2009,10.0.0.6,3000-3009,"game, servers"\ntcp,10022,10.0.0.5,,\n');
    assert.deepEqual(rows, [
      { line: 2, item: { protocol: 'tcp', port: 8080, target: '10.0.0.5', targetPort: 80, note: 'Web' } },
      { line: 3, item: { protocol: 'udp', port: '2000-2009', target: '10.0.0.6', targetPort: '3000-3009', note: 'game, servers' } },
      { line: 4, item: { protocol: 'tcp', port: 10022, target: '10.0.0.5' } },
    ]);
    assert.equal(parseForwardCsv('tcp,8080,10.0.0.5,80,Web\n')[0]!.line, 1);
  });

  it('reports every bad row by line and column', () => {
    try {
      parseForwardCsv('tcp,0,10.0.0.5,80,\nicmp,80,10.0.0.5,80,\ntcp,81,not an ip,80,\ntcp,82,10.0.0.5\n\ntcp,8080,10.0.0.5,80,\ntcp,8080,10.0.0.5,81,\n');
      assert.fail('accepted');
    } catch (e) {
      assert.ok(e instanceof CsvError);
      assert.deepEqual(e.issues.map((i) => [i.line, i.column]), [[1, 'host_port'], [2, 'protocol'], [3, 'vm_ip'], [4, null], [7, 'host_port']]);
    }
  });
});
