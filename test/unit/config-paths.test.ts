/** Relative file paths of a config section, resolved against the base directory (pure). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveAcmePaths } from '../../src/acme/config.ts';
import { resolvePathKeys } from '../../src/config/paths.ts';
import { resolveStoragePaths } from '../../src/storage/config.ts';

describe('resolvePathKeys', () => {
  const cases: Array<{ name: string; section: { file?: string; n?: number; other?: string }; want: Record<string, unknown> }> = [
    { name: 'a relative path is resolved', section: { file: 'keys/a.pem', n: 1 }, want: { file: '/srv/edge/keys/a.pem', n: 1 } },
    { name: 'an absolute path stays', section: { file: '/etc/a.pem' }, want: { file: '/etc/a.pem' } },
    { name: 'dot segments are folded', section: { file: '../shared/a.pem' }, want: { file: '/srv/shared/a.pem' } },
    { name: 'an unset key stays unset', section: { other: 'x' }, want: { other: 'x' } },
    { name: 'an empty string stays empty', section: { file: '' }, want: { file: '' } },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(resolvePathKeys(c.section, ['file'], '/srv/edge'), c.want));
  }

  it('leaves the section it was given as it was', () => {
    const s = Object.freeze({ file: 'a.pem' });
    assert.deepEqual(resolvePathKeys(s, ['file'], '/srv'), { file: '/srv/a.pem' });
    assert.equal(s.file, 'a.pem');
  });

  it('resolves the storage and ACME sections\' file keys, and only those', () => {
    const storage = resolveStoragePaths({ type: 'redis', passwordFile: 'p', encryptionKeyFile: 'k', caFile: 'ca.pem', keyPrefix: 'x:' } as never, '/b');
    assert.deepEqual(storage, { type: 'redis', passwordFile: '/b/p', encryptionKeyFile: '/b/k', caFile: '/b/ca.pem', keyPrefix: 'x:' });
    const acme = resolveAcmePaths({ email: 'a@example.com', caFile: 'ca.pem', dnsHook: 'hooks/dns.sh', challengeDir: 'ch' } as never, '/b');
    assert.deepEqual(acme, { email: 'a@example.com', caFile: '/b/ca.pem', dnsHook: '/b/hooks/dns.sh', challengeDir: '/b/ch' });
  });
});
