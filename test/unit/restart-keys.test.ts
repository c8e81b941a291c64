import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { validateConfig } from '../../src/config/load.ts';
import { RESTART_ONLY, withRunningValues } from '../../src/config/restart.ts';

describe('restart-only keys', () => {
  it('the README lists exactly the keys the code treats as restart-only', () => {
    const line = readFileSync(new URL('../../README.md', import.meta.url), 'utf8').split('\n').find((l) => l.startsWith('Restart-only keys:'));
    assert.ok(line, 'README has a "Restart-only keys:" line');
    const listed = [...line.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    assert.deepEqual(listed.sort(), [...RESTART_ONLY].sort());
  });

  const running = validateConfig({ listen: { http: 8080, https: 8443 }, workers: 2, acme: { challengeDir: '/srv/a' },
    upstream: { timeoutMs: 1000 }, log: { file: '/var/log/a.log', level: 'info' } }, { baseDir: '/' });
  const cases: Array<[string, Record<string, unknown>, string[]]> = [
    ['nothing restart-only', { upstream: { timeoutMs: 2000 } }, []],
    ['a listen port', { listen: { http: 80, https: 8443 } }, ['listen']],
    ['workers and the log file', { workers: 4, log: { file: '/var/log/b.log', level: 'debug' } }, ['workers', 'log.file']],
    ['the challenge folder', { acme: { challengeDir: '/srv/b' } }, ['acme.challengeDir']],
    ['the schedule', { renewal: { schedule: '0 3 * * *' } }, ['renewal.schedule']],
    ['the TLS handshake deadline, not the other inbound keys', { timeouts: { tlsHandshakeMs: 5000, requestHeadersMs: 5000 },
      limits: { maxConnections: 10 } }, ['timeouts.tlsHandshakeMs']],
  ];
  for (const [what, change, keys] of cases) {
    it(`changing ${what} reports ${JSON.stringify(keys)} and keeps the running values`, () => {
      const base = { listen: { http: 8080, https: 8443 }, workers: 2, acme: { challengeDir: '/srv/a' }, upstream: { timeoutMs: 1000 },
        log: { file: '/var/log/a.log', level: 'info' } };
      const next = validateConfig({ ...base, ...change }, { baseDir: '/' });
      const { config, restartRequired } = withRunningValues(next, running);
      assert.deepEqual(restartRequired, keys);
      assert.deepEqual(config.listen, running.listen);
      assert.equal(config.workers, running.workers);
      assert.equal(config.log.file, running.log.file);
      assert.equal(config.acme?.challengeDir, running.acme?.challengeDir);
      assert.equal(config.renewal.schedule, running.renewal.schedule);
      // Everything else is the new config's.
      assert.equal(config.upstream.timeoutMs, next.upstream.timeoutMs);
      assert.equal(config.log.level, next.log.level);
    });
  }
});
