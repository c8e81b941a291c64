/**
 * The change-notification half of the storage contract suite (see contract.ts): a watcher hears puts, sets and
 * deletes made by another client under its prefix, not changes in other namespaces, and nothing after
 * close(). "Not called" is checked against a barrier: a second watcher that did see a later change.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { waitFor } from '../helpers/net.ts';
import { open, type MakeStorage } from './contract.ts';

function counter() {
  let n = 0;
  return { inc: () => { n++; }, get: () => n };
}

export function watchSuite(make: MakeStorage): void {
  it('a watcher hears another client\'s puts and deletes under its prefix, and not other namespaces', async (t) => {
    const { a, other } = await open(t, make);
    const b = await other();
    const certs = counter();
    const tokens = counter();
    const w1 = a.watch('certs/', certs.inc);
    const w2 = a.watch('challenges', tokens.inc);
    t.after(() => { w1.close(); w2.close(); });

    await b.put('certs/w.example.com/cert.pem', 'one');
    await waitFor('the put to be seen', () => certs.get() >= 1);
    const afterPut = certs.get();
    await b.delete('certs/w.example.com/cert.pem');
    await waitFor('the delete to be seen', () => certs.get() > afterPut);
    const afterDelete = certs.get();
    await b.putAll([{ key: 'certs/w.example.com/cert.pem', value: 'two' }, { key: 'certs/w.example.com/meta.json', value: '{}' }]);
    await waitFor('the set to be seen', () => certs.get() > afterDelete);
    // Both watchers were polled meanwhile: had the certificate writes reached the token watcher, it would show.
    assert.equal(tokens.get(), 0);

    await b.put('challenges/tok1', 'x');
    await waitFor('the token put to be seen', () => tokens.get() >= 1);
  });

  it('a closed watcher is not called again', async (t) => {
    const { a, other } = await open(t, make);
    const b = await other();
    const closed = counter();
    const barrier = counter();
    const w = a.watch('state', closed.inc);
    await b.put('state/w/one', '1');
    await waitFor('the first change to be seen', () => closed.get() >= 1);
    w.close();
    const before = closed.get();
    const open2 = a.watch('state', barrier.inc);
    t.after(() => open2.close());
    await b.put('state/w/two', '2');
    await waitFor('a watcher opened after close to see the second change', () => barrier.get() >= 1);
    assert.equal(closed.get(), before);
  });
}
