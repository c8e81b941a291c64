/**
 * The admin API's edits (pure): each returns the next document and leaves the current one exactly as it
 * was, so the updaters can hand them the document they keep instead of a copy. The current document is
 * deep-frozen here, so an edit that changed it would throw.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deleteItem, importItems, putItem, replaceDocument } from '../../src/admin/edits.ts';
import { ConfigError, ErrorCodes } from '../../src/errors.ts';

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

const current = () => deepFreeze({
  listen: { http: 80 },
  proxies: [
    { domain: 'a.example.com', target: '10.0.0.5', targetPort: 80 },
    { domain: 'B.example.com.', target: '10.0.0.6', targetPort: 80 },
  ],
  vms: [{ owner: 'user1', name: 'web1', ip: '10.0.0.5' }],
  forwards: [{ protocol: 'tcp', port: 10022, target: '10.0.0.5', targetPort: 22 }],
});
const domains = (doc: Record<string, unknown>) => (doc.proxies as Array<{ domain: string }>).map((p) => p.domain);

describe('admin edits leave the current document unchanged', () => {
  it('putItem replaces in place, by the domain as the config compares it', () => {
    const doc = current();
    const r = putItem('proxies', 'b.example.com', { domain: 'b.example.com', target: '10.0.0.7', targetPort: 81 })(doc);
    assert.equal(r.detail.created, false);
    assert.deepEqual(domains(r.next), ['a.example.com', 'b.example.com']);
    assert.deepEqual(doc, current());
  });

  it('putItem adds at the end', () => {
    const doc = current();
    const r = putItem('vms', 'user1/web2', { owner: 'user1', name: 'web2', ip: '10.0.0.9' })(doc);
    assert.equal(r.detail.created, true);
    assert.equal((r.next.vms as unknown[]).length, 2);
    assert.deepEqual(doc, current());
  });

  it('deleteItem removes by key, and 404s an unknown one', () => {
    const doc = current();
    const r = deleteItem('forwards', 'tcp/10022', 'forward tcp/10022')(doc);
    assert.deepEqual(r.next.forwards, []);
    assert.throws(() => deleteItem('proxies', 'nope.example.com', 'proxy for nope.example.com')(doc), { code: ErrorCodes.ADMIN_NOT_FOUND });
    assert.deepEqual(doc, current());
  });

  it('importItems replaces and adds, and words a refusal by CSV line and column', () => {
    const doc = current();
    const r = importItems('proxies', [
      { line: 2, item: { domain: 'a.example.com', target: '10.0.0.8', targetPort: 8080 } },
      { line: 3, item: { domain: 'c.example.com', target: '10.0.0.9', targetPort: 80 } },
    ], { targetPort: 'target_port' })(doc);
    assert.deepEqual(r.detail, { rows: 2, added: 1, replaced: 1 });
    assert.deepEqual(domains(r.next), ['a.example.com', 'B.example.com.', 'c.example.com']);
    const worded = r.explain!(new ConfigError(ErrorCodes.CONFIG_INVALID, 'x', { issues: [{ path: 'proxies[2].targetPort', message: 'bad port' }] }));
    assert.deepEqual((worded as unknown as { issues: unknown[] }).issues, [{ line: 3, column: 'target_port', message: 'bad port' }]);
    assert.deepEqual(doc, current());
  });

  it('replaceDocument takes the body as the next document', () => {
    const doc = current();
    const body = { proxies: [] };
    assert.equal(replaceDocument(body)(doc).next, body);
    assert.deepEqual(doc, current());
  });
});
