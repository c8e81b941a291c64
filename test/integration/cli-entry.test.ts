/**
 * How the CLI starts: `./idcs-edge` runs the Node 24 that `npm ci` installed whatever `node` is on PATH,
 * `bin/idcs-edge.js` under an older Node says in one line what it needs, and a bad flag gets one line
 * naming it instead of a parser message and the whole help.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { describe, it } from 'node:test';

/** A `node` on PATH older than 24 (a fresh machine's system Node), if this machine has one. */
function oldNode(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, 'node');
    if (!existsSync(p) || dir.includes('node_modules')) continue;
    const v = spawnSync(p, ['-p', 'process.versions.node'], { encoding: 'utf8' });
    if (v.status === 0 && Number(v.stdout.split('.')[0]) < 24) return realpathSync(p);
  }
  return null;
}

const old = oldNode();

describe('starting the CLI', () => {
  it('./idcs-edge runs on the installed Node 24 with an old node first on PATH', { skip: old ? false : 'no Node older than 24 on this machine' }, () => {
    const r = spawnSync('./idcs-edge', ['--version'], { encoding: 'utf8', env: { ...process.env, PATH: `${dirname(old!)}${delimiter}/usr/bin${delimiter}/bin` } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\d+\.\d+\.\d+\n$/);
  });

  it('bin/idcs-edge.js refuses an old Node in one line', { skip: old ? false : 'no Node older than 24 on this machine' }, () => {
    const r = spawnSync(old!, ['bin/idcs-edge.js', 'certs'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^idcs-edge needs Node 24, this is Node \d+\.\d+\.\d+: run \.\/idcs-edge .*npm ci.*https:\/\/nodejs\.org/);
  });

  it('an unknown or incomplete flag gets one line naming it and the --help hint', () => {
    const cases: Array<[string[], string]> = [
      [['--frobnicate'], 'idcs-edge: unknown option --frobnicate (see idcs-edge --help)'],
      [['certs', '-x'], 'idcs-edge: unknown option -x (see idcs-edge --help)'],
      [['--config'], 'idcs-edge: --config needs a value (see idcs-edge --help)'],
      [['--renew-ssl', '--force=yes'], 'idcs-edge: --force takes no value (see idcs-edge --help)'],
    ];
    for (const [args, line] of cases) {
      const r = spawnSync(process.execPath, ['src/cli.ts', ...args], { encoding: 'utf8' });
      assert.equal(r.status, 2, args.join(' '));
      assert.equal(r.stderr, `${line}\n`);
      assert.equal(r.stdout, '');
    }
  });
});
