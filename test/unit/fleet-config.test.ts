import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { validateConfig } from '../../src/config/load.ts';
import { configSchema } from '../../src/config/schema.ts';
import { ConfigError } from '../../src/errors.ts';
import { fleetEtag } from '../../src/fleet/document.ts';
import { FLEET_KEYS, HOST_KEYS, fleetDocumentIssues, hostFileIssues, mergeRules, rulesOf } from '../../src/fleet/split.ts';
import { isLocallyKept } from '../../src/storage/cached.ts';
import { readEncryptionKey } from '../../src/storage/open.ts';

function issuesOf(doc: unknown): string[] {
  try {
    validateConfig(doc);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

describe('the split between the fleet document and an edge\'s own file', () => {
  it('places every top-level key of the schema on exactly one side', () => {
    const all = Object.keys(configSchema.shape).sort();
    assert.deepEqual([...FLEET_KEYS, ...HOST_KEYS].sort(), all);
    assert.equal(new Set([...FLEET_KEYS, ...HOST_KEYS]).size, all.length);
  });

  const fleetFile = { config: { source: 'redis' }, storage: { type: 'redis', url: 'redis://127.0.0.1:6379/0' } };
  const fileCases: Array<[string, Record<string, unknown>, string[]]> = [
    ['a fleet edge\'s host keys', { ...fleetFile, listen: { http: 80 }, timeouts: {}, shutdown: {} }, []],
    ['fleet keys in a fleet edge\'s file', { ...fleetFile, proxies: [], acme: {} }, ['proxies', 'acme']],
    ['the same keys with config.source: file', { proxies: [], acme: {} }, []],
  ];
  for (const [what, doc, paths] of fileCases) {
    it(`edge file: ${what} -> ${JSON.stringify(paths)}`, () => {
      const issues = hostFileIssues(doc);
      assert.deepEqual(issues.map((i) => i.path), paths);
      for (const i of issues) assert.match(i.message, /lives in the fleet document/);
    });
  }

  const docCases: Array<[string, unknown, RegExp[]]> = [
    ['rules only', { proxies: [], vms: [], forwards: [], trustedProxies: [], acme: {}, renewal: {}, errorPages: {}, alerts: {} }, []],
    ['a host key', { proxies: [], listen: {} }, [/^listen: listen belongs to each edge's own file/]],
    ['an unknown key', { proxys: [] }, [/^proxys: unknown key: the fleet document holds proxies, vms/]],
    ['not a mapping', [], [/^\(root\): expected the fleet document as a mapping/]],
  ];
  for (const [what, doc, res] of docCases) {
    it(`fleet document: ${what}`, () => {
      const got = fleetDocumentIssues(doc).map((i) => `${i.path}: ${i.message}`);
      assert.equal(got.length, res.length, got.join('\n'));
      res.forEach((re, i) => assert.match(got[i]!, re));
    });
  }

  it('merges a file\'s host part with the fleet\'s rules, each side keeping only its own keys', () => {
    const host = { listen: { http: 8080 }, proxies: [{ domain: 'stale.example.com' }], config: { source: 'redis' } };
    const rules = { proxies: [{ domain: 'a.example.com' }], listen: { http: 1 } };
    assert.deepEqual(mergeRules(host, rules), { listen: { http: 8080 }, config: { source: 'redis' }, proxies: [{ domain: 'a.example.com' }] });
    assert.deepEqual(rulesOf({ listen: {}, vms: [1], acme: { email: 'a@example.com' } }), { vms: [1], acme: { email: 'a@example.com' } });
  });

  it('names the version and the content in a fleet document\'s ETag', () => {
    assert.match(fleetEtag(7, { proxies: [] }), /^"7-[0-9a-f]{16}"$/);
    assert.equal(fleetEtag(7, { a: 1, b: 2 }), fleetEtag(7, { b: 2, a: 1 }), 'key order does not matter');
    assert.notEqual(fleetEtag(7, { proxies: [] }), fleetEtag(8, { proxies: [] }));
    assert.notEqual(fleetEtag(7, { proxies: [] }), fleetEtag(7, { proxies: [{}] }));
  });
});

describe('the storage and config sections', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp[]]> = [
    ['the defaults', {}, []],
    ['redis with a url', { storage: { type: 'redis', url: 'rediss://user:pw@redis.internal:6380/2' }, config: { source: 'redis' } }, []],
    ['redis without a url', { storage: { type: 'redis' } }, [/^storage\.url: storage\.type: redis needs url/]],
    ['a url that is not redis', { storage: { type: 'redis', url: 'http://127.0.0.1:6379' } }, [/^storage\.url: expected a redis:\/\/ or rediss:\/\/ URL/]],
    ['redis keys with the file storage', { storage: { url: 'redis://127.0.0.1', encryptionKeyFile: '/k' } },
      [/^storage\.url: storage\.url is only used with storage\.type: redis/, /^storage\.encryptionKeyFile: .*only used with storage\.type: redis/]],
    ['a fleet without Redis', { config: { source: 'redis' } }, [/^config\.source: config\.source: redis needs storage\.type: redis/]],
    ['a bad key prefix', { storage: { type: 'redis', url: 'redis://127.0.0.1', keyPrefix: 'a b' } }, [/^storage\.keyPrefix: expected 1-64 characters/]],
    ['a lease too short', { storage: { leaseTtlMs: 10 } }, [/^storage\.leaseTtlMs: expected at least 1000 ms/]],
    ['an unknown source', { config: { source: 'etcd' } }, [/^config\.source: expected file or redis/]],
  ];
  for (const [what, doc, res] of cases) {
    it(what, () => {
      const got = issuesOf(doc);
      assert.equal(got.length, res.length, got.join('\n'));
      res.forEach((re, i) => assert.match(got[i]!, re));
    });
  }

  it('reads storage.encryptionKeyFile as 64 hex digits or base64 of 32 bytes, and nothing else', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-key-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = (name: string, text: string) => { writeFileSync(join(dir, name), text); return join(dir, name); };
    const key = Buffer.alloc(32, 7);
    assert.deepEqual(readEncryptionKey(file('hex', `${key.toString('hex')}\n`)), key);
    assert.deepEqual(readEncryptionKey(file('b64', key.toString('base64'))), key);
    assert.throws(() => readEncryptionKey(file('short', 'abcd')), /must hold a 32-byte key .* not 3 bytes/);
    assert.throws(() => readEncryptionKey(join(dir, 'missing')), /cannot read storage\.encryptionKeyFile/);
  });

  it('keeps certificates, the fleet document and renewal state in the local copy, and nothing else', () => {
    for (const k of ['certs', 'certs/', 'certs/a.example.com/key.pem', 'state/fleet/config', 'state/renewal/a.json', 'state/renewal/']) assert.ok(isLocallyKept(k), k);
    for (const k of ['challenges/tok', 'acme/account-1.key', 'state/fleet/edges/x', 'state/alerts/a.json', 'state/local-ca/ca.key', 'certsx/a']) assert.ok(!isLocallyKept(k), k);
  });
});
