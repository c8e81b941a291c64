import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { acmeConfigSchema, acmeRequirementIssues, challengeDirFor, KNOWN_DIRECTORIES, parseResolver, resolveAcmePaths } from '../../src/acme/config.ts';

describe('acme config fragment', () => {
  it('defaults: Let\'s Encrypt production, no ToS agreement, self-check on', () => {
    const c = acmeConfigSchema.parse({});
    assert.equal(c.directoryUrl, KNOWN_DIRECTORIES.letsencrypt);
    assert.equal(c.agreeTos, false);
    assert.equal(c.skipChallengeVerification, false);
    assert.equal(c.challenge, 'auto');
    // Deadlines: seconds for a self-check, one bound on a whole attempt, the hook below it.
    assert.deepEqual([c.selfCheckTimeoutMs, c.selfCheckHttpPort, c.resolvers, c.attemptTimeoutMs, c.dnsHookTimeoutMs], [10_000, 80, [], 90_000, 60_000]);
  });
  it('reads resolvers as ip, ip:port, v6 and [v6]:port', () => {
    const cases: Array<[string, { host: string; port: number } | null]> = [
      ['192.0.2.53', { host: '192.0.2.53', port: 53 }], ['127.0.0.1:5353', { host: '127.0.0.1', port: 5353 }],
      ['2001:db8::53', { host: '2001:db8::53', port: 53 }], ['[2001:db8::53]:5353', { host: '2001:db8::53', port: 5353 }],
      ['[192.0.2.53]:53', { host: '192.0.2.53', port: 53 }], ['dns.example.com', null], ['192.0.2.53:0', null], ['[::1', null],
    ];
    for (const [input, want] of cases) assert.deepEqual(parseResolver(input), want, input);
  });
  const ok: Array<[string, Record<string, unknown>, Partial<Record<string, unknown>>]> = [
    ['staging short name', { directoryUrl: 'letsencrypt-staging' }, { directoryUrl: KNOWN_DIRECTORIES['letsencrypt-staging'] }],
    ['any https directory', { directoryUrl: 'https://127.0.0.1:14000/dir' }, { directoryUrl: 'https://127.0.0.1:14000/dir' }],
    ['eab', { eab: { kid: 'k', hmacKey: 'abc-_' } }, {}],
    ['dns-01 everywhere', { challenge: 'dns-01', dnsHook: './h.sh' }, { challenge: 'dns-01' }],
    ['self-check deadline and port', { selfCheckTimeoutMs: 2_000, selfCheckHttpPort: 8080 }, { selfCheckTimeoutMs: 2_000, selfCheckHttpPort: 8080 }],
  ];
  for (const [what, input, want] of ok) {
    it(`accepts ${what}`, () => {
      const c = acmeConfigSchema.parse(input) as Record<string, unknown>;
      for (const [k, v] of Object.entries(want)) assert.equal(c[k], v);
    });
  }
  const bad: Array<[string, Record<string, unknown>, string]> = [
    ['plain http directory', { directoryUrl: 'http://ca.example/dir' }, 'directoryUrl'],
    ['unknown short name', { directoryUrl: 'zerossl' }, 'directoryUrl'],
    ['bad email', { email: 'ops' }, 'email'],
    ['string agreeTos', { agreeTos: 'yes' }, 'agreeTos'],
    ['eab without key', { eab: { kid: 'k' } }, 'eab.hmacKey'],
    ['unknown key', { agreeToS: true }, ''],
    ['unknown challenge', { challenge: 'tls-alpn-01' }, 'challenge'],
    ['a resolver given by name', { resolvers: ['dns.example.com'] }, 'resolvers.0'],
    ['a resolver port out of range', { resolvers: ['192.0.2.53:70000'] }, 'resolvers.0'],
    ['a self-check port out of range', { selfCheckHttpPort: 0 }, 'selfCheckHttpPort'],
  ];
  for (const [what, input, path] of bad) {
    it(`rejects ${what}`, () => {
      const r = acmeConfigSchema.safeParse(input);
      assert.equal(r.success, false);
      assert.equal(r.error!.issues[0]!.path.join('.'), path);
    });
  }
});

describe('acme requirements across the config', () => {
  const le = (domain: string) => ({ domain, certSource: 'letsencrypt' });
  const parsed = (x: Record<string, unknown>) => acmeConfigSchema.parse(x);
  it('nothing needed when no proxy asks for letsencrypt', () => {
    assert.deepEqual(acmeRequirementIssues(undefined, [{ domain: 'a.example.com', certSource: 'self-signed' }], '/srv/certs'), []);
  });
  it('letsencrypt without agreeTos is a config error', () => {
    const issues = acmeRequirementIssues(undefined, [le('a.example.com')], '/srv/certs');
    assert.deepEqual(issues.map((i) => i.path), [['acme']]);
    assert.match(issues[0]!.message, /agreeTos: true/);
  });
  it('a wildcard needs a DNS hook', () => {
    const issues = acmeRequirementIssues(parsed({ agreeTos: true }), [le('a.example.com'), le('*.u1.example.com')], '/srv/certs');
    assert.deepEqual(issues.map((i) => i.path), [['proxies', 1, 'certSource']]);
    assert.deepEqual(acmeRequirementIssues(parsed({ agreeTos: true, dnsHook: '/h' }), [le('*.u1.example.com')], '/srv/certs'), []);
  });
  it('the challenge folder may not be inside certs.dir', () => {
    const issues = acmeRequirementIssues(parsed({ agreeTos: true, challengeDir: '/srv/certs/ch' }), [le('a.example.com')], '/srv/certs');
    assert.deepEqual(issues.map((i) => i.path), [['acme', 'challengeDir']]);
    // Also without letsencrypt proxies: every start opens the storage on these folders.
    assert.deepEqual(acmeRequirementIssues(parsed({ challengeDir: '/srv/certs' }), [], '/srv/certs').map((i) => i.path), [['acme', 'challengeDir']]);
  });
  it('default challenge folder sits next to certs.dir', () => {
    assert.equal(challengeDirFor({}, '/srv/edge/certs'), '/srv/edge/acme-challenges');
    assert.equal(challengeDirFor({ challengeDir: '/var/ch' }, '/srv/edge/certs'), '/var/ch');
  });
  it('relative paths resolve against the base directory', () => {
    const c = resolveAcmePaths(parsed({ caFile: 'ca.pem', dnsHook: './hooks/dns.sh', challengeDir: 'ch' }), '/etc/edge');
    assert.deepEqual([c.caFile, c.dnsHook, c.challengeDir], ['/etc/edge/ca.pem', '/etc/edge/hooks/dns.sh', '/etc/edge/ch']);
  });
});
