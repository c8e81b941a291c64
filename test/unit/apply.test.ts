/**
 * The apply pipeline with recording parts: a refusal at any stage leaves every part as it was (nothing is
 * committed, everything prepared is aborted), applies never overlap, and the result says what changed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createApplier, type ConfigPart } from '../../src/config/apply.ts';
import { silentLogger } from '../../src/log.ts';

type Event = string;

function part(name: string, events: Event[], opts: { failOn?: (domains: string[]) => boolean; delayMs?: number } = {}): ConfigPart {
  return {
    name,
    async prepare(next) {
      const domains = next.proxies.map((p) => p.domain);
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
      events.push(`${name}:prepare:${domains.join(',')}`);
      if (opts.failOn?.(domains)) throw new Error(`${name} cannot use this config`);
      return {
        commit: () => { events.push(`${name}:commit:${domains.join(',')}`); },
        abort: () => { events.push(`${name}:abort:${domains.join(',')}`); },
      };
    },
  };
}

const doc = (...domains: string[]) => ({ document: { proxies: domains.map((domain) => ({ domain, target: '10.0.0.5' })) } });

describe('applyConfig', () => {
  it('commits every part in order when all prepare, and reports the route changes', async () => {
    const events: Event[] = [];
    const applier = createApplier({ parts: [part('a', events), part('b', events)], check: () => [], log: silentLogger() });
    assert.equal((await applier.apply(doc('x.example.com', 'y.example.com'), 'start')).ok, true);
    events.length = 0;
    const r = await applier.apply({ document: { proxies: [{ domain: 'x.example.com', target: '10.0.0.6' }, { domain: 'z.example.com', target: '10.0.0.5' }] } }, 'file');
    assert.equal(r.ok, true);
    assert.deepEqual(events, ['a:prepare:x.example.com,z.example.com', 'b:prepare:x.example.com,z.example.com',
      'a:commit:x.example.com,z.example.com', 'b:commit:x.example.com,z.example.com']);
    assert.deepEqual(r.changes?.routesAdded, ['z.example.com']);
    assert.deepEqual(r.changes?.routesRemoved, ['y.example.com']);
    assert.deepEqual(r.changes?.routesChanged, ['x.example.com']);
    assert.equal(r.version, 2);
  });

  const refusals: Array<[string, () => { parts: (e: Event[]) => ConfigPart[]; check?: () => Array<{ path: string; message: string }>; input: ReturnType<typeof doc> | { document: unknown } }]> = [
    ['the schema', () => ({ parts: (e) => [part('a', e)], input: { document: { proxies: [{ domain: 'x.example.com', target: '10.0.0.5', targetPort: 99999 }] } } })],
    ['the file checks', () => ({ parts: (e) => [part('a', e)], check: () => [{ path: 'proxies[0].certFile', message: 'missing' }], input: doc('bad.example.com') })],
    ['the second part', () => ({ parts: (e) => [part('a', e), part('b', e, { failOn: (d) => d.includes('bad.example.com') }), part('c', e)], input: doc('bad.example.com') })],
  ];
  for (const [stage, make] of refusals) {
    it(`a refusal by ${stage} leaves every part as it was`, async () => {
      const events: Event[] = [];
      const m = make();
      let checking = false;
      const applier = createApplier({ parts: m.parts(events), check: () => (checking ? m.check?.() ?? [] : []), log: silentLogger() });
      await applier.apply(doc('good.example.com'), 'start');
      checking = true;
      events.length = 0;
      const r = await applier.apply(m.input, 'file');
      assert.equal(r.ok, false);
      assert.ok(r.issues && r.issues.length > 0, 'the refusal names its problems');
      assert.ok(!events.some((e) => e.includes(':commit:')), `nothing was committed: ${events.join(' ')}`);
      // Every part that prepared was told to drop what it built.
      for (const e of events.filter((x) => x.includes(':prepare:') && !x.startsWith('b:') && !(stage === 'the second part' && x.startsWith('c:')))) {
        assert.ok(events.includes(e.replace(':prepare:', ':abort:')), `${e} was aborted`);
      }
      assert.deepEqual(applier.current()!.proxies.map((p) => p.domain), ['good.example.com']);
    });
  }

  it('never runs two applies at once, and a prepared apply holds the next until it settles', async () => {
    const events: Event[] = [];
    const applier = createApplier({ parts: [part('a', events, { delayMs: 20 })], check: () => [], log: silentLogger() });
    await applier.apply(doc('one.example.com'), 'start');
    events.length = 0;
    const prepared = await applier.prepare(doc('two.example.com'), 'primary');
    assert.ok('commit' in prepared);
    const third = applier.apply(doc('three.example.com'), 'file');
    await new Promise((r) => setTimeout(r, 60));
    assert.deepEqual(events, ['a:prepare:two.example.com'], 'the third apply waits for the prepared one');
    prepared.commit();
    await third;
    assert.deepEqual(events, ['a:prepare:two.example.com', 'a:commit:two.example.com', 'a:prepare:three.example.com', 'a:commit:three.example.com']);
  });
});
