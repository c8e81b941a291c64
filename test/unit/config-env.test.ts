import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withEnvOverrides } from '../../src/config/env.ts';
import { validateConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

describe('environment overrides', () => {
  const doc = { listen: { http: 8080, https: 8443, host: '0.0.0.0' }, admin: { listen: '127.0.0.1:8081' }, proxies: [] };
  it('win over the document, which is left as it was', () => {
    const out = withEnvOverrides(doc, { IDCS_EDGE_HTTP_PORT: '80', IDCS_EDGE_HTTPS_PORT: '443', IDCS_EDGE_ADMIN_LISTEN: '0.0.0.0:9000' });
    assert.deepEqual(out, { listen: { http: 80, https: 443, host: '0.0.0.0' }, admin: { listen: '0.0.0.0:9000' }, proxies: [] });
    assert.equal(doc.listen.http, 8080);
  });
  it('make the sections they need, and ignore empty variables', () => {
    assert.deepEqual(withEnvOverrides({}, { IDCS_EDGE_ADMIN_LISTEN: 'unix:/run/edge.sock', IDCS_EDGE_HTTP_PORT: '' }), { admin: { listen: 'unix:/run/edge.sock' } });
    assert.equal(withEnvOverrides(doc, {}), doc);
  });
  it('name the variable when its value cannot work', () => {
    assert.throws(() => withEnvOverrides(doc, { IDCS_EDGE_HTTP_PORT: '80x', IDCS_EDGE_ADMIN_LISTEN: 'nowhere' }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.deepEqual(e.issues.map((i) => i.path), ['IDCS_EDGE_HTTP_PORT', 'IDCS_EDGE_ADMIN_LISTEN']);
      return true;
    });
    assert.throws(() => withEnvOverrides(doc, { IDCS_EDGE_HTTPS_PORT: '70000' }), /IDCS_EDGE_HTTPS_PORT: expected a port number 0-65535/);
  });
  it('apply to every validated config', () => {
    process.env.IDCS_EDGE_HTTPS_PORT = '9443';
    try {
      assert.equal(validateConfig(doc).listen.https, 9443);
    } finally {
      delete process.env.IDCS_EDGE_HTTPS_PORT;
    }
    assert.equal(validateConfig(doc).listen.https, 8443);
  });
});
