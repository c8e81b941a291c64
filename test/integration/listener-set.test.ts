/**
 * The listener set over real sockets, with a small test kind (a TCP server that answers its spec's tag):
 * applies add and remove listeners without touching the others, a taken port refuses the whole apply with
 * the rule's path, and a listener bound for a refused apply is closed again.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { createApplier } from '../../src/config/apply.ts';
import type { EdgeConfig } from '../../src/config/schema.ts';
import { createListenerSet, type ListenerKind, type ListenerSpec } from '../../src/listeners/set.ts';
import { silentLogger } from '../../src/log.ts';
import { listenOn } from '../../src/proxy/listeners.ts';
import { refusedPort } from '../helpers/net.ts';

interface TagSpec extends ListenerSpec { tag: string }

/** A listener that writes its current tag to every connection and keeps the connection open. */
const tagKind: ListenerKind<TagSpec> = {
  async open(spec) {
    let tag = spec.tag;
    let active = false;
    const conns = new Set<net.Socket>();
    const server = net.createServer((c) => {
      if (!active) { c.destroy(); return; }
      conns.add(c);
      c.on('close', () => conns.delete(c));
      c.write(tag);
    });
    await listenOn(server, spec.port, spec.host, `test listener ${spec.key}`);
    return {
      activate: () => { active = true; },
      update: (s) => { tag = s.tag; },
      close: () => new Promise<void>((r) => { for (const c of conns) c.destroy(); server.close(() => r()); }),
    };
  },
};

// The test derives its listeners from the VM inventory: one per VM port, tagged with the VM's note.
const specsOf = (c: EdgeConfig): TagSpec[] => c.vms.map((v, i) => ({ key: `tag:127.0.0.1:${v.port}`, kind: 'tag', host: '127.0.0.1',
  port: v.port!, path: `vms[${i}].port`, tag: v.note ?? '' }));
const doc = (...vms: Array<[number, string]>) => ({ document: { vms: vms.map(([port, note], i) => ({ name: `vm${i}`, owner: 'o', ip: '10.0.0.1', port, note })) } });

function read(port: number): Promise<{ text: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('data', (d) => resolve({ text: d.toString(), socket: s }));
    s.once('error', reject);
  });
}

describe('listener set', () => {
  it('opens, updates and closes listeners per apply, leaving the others and their connections alone', async (t) => {
    const set = createListenerSet({ tag: tagKind }, specsOf);
    t.after(() => set.close(0));
    const applier = createApplier({ parts: [set], check: () => [], log: silentLogger() });
    const [p1, p2] = [await refusedPort(), await refusedPort()];
    assert.equal((await applier.apply(doc([p1, 'one']), 'start')).ok, true);
    const held = await read(p1);
    assert.equal(held.text, 'one');

    assert.equal((await applier.apply(doc([p1, 'uno'], [p2, 'two']), 'file')).ok, true);
    assert.equal((await read(p2)).text, 'two');
    assert.equal((await read(p1)).text, 'uno', 'a listener that stays takes its new settings');
    assert.ok(!held.socket.destroyed, 'its open connection was not touched');

    assert.equal((await applier.apply(doc([p2, 'two']), 'file')).ok, true);
    await assert.rejects(read(p1), /ECONNREFUSED/);
    assert.equal((await read(p2)).text, 'two');
    held.socket.destroy();
  });

  it('a taken port refuses the apply with the rule\'s path; listeners bound for it are closed again', async (t) => {
    const set = createListenerSet({ tag: tagKind }, specsOf);
    t.after(() => set.close(0));
    const applier = createApplier({ parts: [set], check: () => [], log: silentLogger() });
    const taken = net.createServer();
    await listenOn(taken, 0, '127.0.0.1', 'another program');
    t.after(() => new Promise((r) => taken.close(r)));
    const takenPort = (taken.address() as net.AddressInfo).port;
    const [free, other] = [await refusedPort(), await refusedPort()];
    assert.equal((await applier.apply(doc([other, 'o']), 'start')).ok, true);

    const r = await applier.apply(doc([other, 'o'], [free, 'f'], [takenPort, 't']), 'file');
    assert.equal(r.ok, false);
    assert.deepEqual(r.issues?.map((i) => i.path), ['vms[2].port']);
    assert.match(r.issues![0]!.message, /in use|EADDRINUSE/);
    await assert.rejects(read(free), /ECONNREFUSED/, 'the listener opened for the refused apply is gone');
    assert.equal((await read(other)).text, 'o');
    assert.deepEqual(set.keys(), [`tag:127.0.0.1:${other}`]);
  });
});
