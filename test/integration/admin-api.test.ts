/**
 * The admin API's door: its own listener, a token file made at first start, bearer tokens, Host checks
 * against DNS rebinding, no cross-origin browser writes, and a 4xx with a code (never a 500) for every kind
 * of bad request. Judged by what a real HTTP client receives.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { adminClient } from '../../src/admin/client.ts';
import { adminClientOf } from '../helpers/admin.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { request, startBackend } from '../helpers/net.ts';

describe('admin API: listener, token, guard, errors', () => {
  it('makes a 0600 token file, logs where it listens (not the token), and answers only with the token', async (t) => {
    const b = await startBackend(t, 'vm');
    const { edge, dir, logs } = await startTestEdge(t, {
      admin: { listen: '127.0.0.1:0' },
      proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: b.port }],
    });
    const api = adminClientOf(edge.admin);
    assert.equal(edge.admin!.tokenFile, join(dir, 'admin.token'), 'the default token file is beside the config file');
    assert.equal(statSync(edge.admin!.tokenFile).mode & 0o777, 0o600);
    const started = logs.find((l) => l.msg === 'admin API listening');
    assert.equal(started?.address, api.url);
    assert.equal(started?.tokenFile, edge.admin!.tokenFile);
    assert.ok(!JSON.stringify(logs).includes(api.token), 'the token is never logged');
    assert.notEqual(new URL(api.url).port, String(edge.httpPort), 'not on a public port');

    assert.equal((await api.call('GET', '/healthz', { token: null })).status, 200);
    assert.equal((await api.call('GET', '/readyz', { token: null })).status, 200);
    const none = await api.call('GET', '/api/v1/proxies', { token: null });
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, 'EDGE_ERR_ADMIN_UNAUTHORIZED');
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    const wrong = await api.call('GET', '/api/v1/proxies', { token: `${api.token}x` });
    assert.equal(wrong.status, 401);
    const ok = await api.call('GET', '/api/v1/proxies');
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.proxies.map((p: { domain: string; status: string }) => [p.domain, p.status]), [['a.example.com', 'serving']]);
    assert.match(ok.headers.get('etag') ?? '', /^"[0-9a-f]{32}"$/);
    // The public listener knows nothing of the API.
    assert.equal((await request(edge.httpPort!, 'a.example.com', { path: '/api/v1/proxies' })).body.includes('"backend":"vm"'), true);
  });

  it('refuses a Host naming another site (DNS rebinding) and cross-origin browser writes', async (t) => {
    const { edge } = await startTestEdge(t, { admin: { listen: '127.0.0.1:0', allowedHosts: ['edge-admin.internal'] } });
    const api = adminClientOf(edge.admin);
    const port = Number(new URL(api.url).port);
    const auth = { authorization: `Bearer ${api.token}` };
    const rebound = await request(port, `evil.example.com:${port}`, { path: '/api/v1/status', headers: auth });
    assert.equal(rebound.status, 403);
    assert.equal(JSON.parse(rebound.body).error.code, 'EDGE_ERR_ADMIN_FORBIDDEN');
    assert.equal((await request(port, `evil.example.com:${port}`, { path: '/healthz' })).status, 403);
    assert.equal((await request(port, `127.0.0.1:${port}`, { path: '/api/v1/status', headers: auth })).status, 200);
    assert.equal((await request(port, `localhost:${port}`, { path: '/api/v1/status', headers: auth })).status, 200);
    assert.equal((await request(port, `127.0.0.1:${port + 1}`, { path: '/api/v1/status', headers: auth })).status, 403, 'another port is another site');
    assert.equal((await request(port, 'edge-admin.internal', { path: '/api/v1/status', headers: auth })).status, 200, 'admin.allowedHosts');

    const body = { target: '127.0.0.1', targetPort: 8080 };
    const fromSite = await api.call('PUT', '/api/v1/proxies/x.example.com', { json: body, headers: { origin: 'https://evil.example.com' } });
    assert.equal(fromSite.status, 403);
    const fetchMeta = await api.call('PUT', '/api/v1/proxies/x.example.com', { json: body, headers: { 'sec-fetch-site': 'cross-site' } });
    assert.equal(fetchMeta.status, 403);
    assert.equal((await api.call('GET', '/api/v1/proxies/x.example.com')).status, 404, 'nothing was written');
    const sameOrigin = await api.call('PUT', '/api/v1/proxies/x.example.com', { json: body, headers: { origin: api.url, 'sec-fetch-site': 'same-origin' } });
    assert.equal(sameOrigin.status, 201);
  });

  it('answers bad requests with a 4xx and a code, never a 500, and changes nothing', async (t) => {
    const { edge, configFile } = await startTestEdge(t, { admin: { listen: '127.0.0.1:0', maxBodyBytes: 2048 },
      proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: 9 }] });
    const api = adminClientOf(edge.admin);
    const before = readFileSync(configFile, 'utf8');
    const cases: Array<[string, Promise<{ status: number; body: { error: { code: string; message: string; issues?: unknown[] } } }>, number, string]> = [
      ['unknown field', api.call('PUT', '/api/v1/proxies/b.example.com', { json: { target: '127.0.0.1', colour: 'blue' } }), 400, 'EDGE_ERR_CONFIG_INVALID'],
      ['wrong type', api.call('PUT', '/api/v1/proxies/b.example.com', { json: { target: '127.0.0.1', targetPort: 'eighty' } }), 400, 'EDGE_ERR_CONFIG_INVALID'],
      ['not an object', api.call('PUT', '/api/v1/proxies/b.example.com', { json: ['x'] }), 400, 'EDGE_ERR_ADMIN_BAD_REQUEST'],
      ['other domain in the body', api.call('PUT', '/api/v1/proxies/b.example.com', { json: { domain: 'c.example.com', target: '127.0.0.1' } }), 400, 'EDGE_ERR_ADMIN_BAD_REQUEST'],
      ['invalid JSON', api.call('PUT', '/api/v1/proxies/b.example.com', { headers: { 'content-type': 'application/json' }, csv: '{"target":' }), 400, 'EDGE_ERR_ADMIN_BAD_REQUEST'],
      ['wrong content type', api.call('PUT', '/api/v1/proxies/b.example.com', { csv: 'domain\n' }), 415, 'EDGE_ERR_ADMIN_MEDIA_TYPE'],
      ['unknown content type', api.call('PUT', '/api/v1/config', { headers: { 'content-type': 'application/xml' }, csv: '<a/>' }), 415, 'EDGE_ERR_ADMIN_MEDIA_TYPE'],
      ['no body', api.call('PUT', '/api/v1/config'), 415, 'EDGE_ERR_ADMIN_MEDIA_TYPE'],
      ['body over the limit', api.call('PUT', '/api/v1/proxies/b.example.com', { json: { target: '127.0.0.1', note: 'x'.repeat(4096) } }), 413, 'EDGE_ERR_ADMIN_TOO_LARGE'],
      ['CSV to a JSON endpoint', api.call('POST', '/api/v1/import/proxies', { json: {} }), 415, 'EDGE_ERR_ADMIN_MEDIA_TYPE'],
      ['unknown endpoint', api.call('GET', '/api/v1/nothing'), 404, 'EDGE_ERR_ADMIN_NOT_FOUND'],
      ['unknown method', api.call('PATCH', '/api/v1/proxies/a.example.com', { json: {} }), 404, 'EDGE_ERR_ADMIN_NOT_FOUND'],
      ['missing proxy', api.call('GET', '/api/v1/proxies/none.example.com'), 404, 'EDGE_ERR_ADMIN_NOT_FOUND'],
      ['delete of a missing VM', api.call('DELETE', '/api/v1/vms/u/none'), 404, 'EDGE_ERR_ADMIN_NOT_FOUND'],
      ['renew of an unknown certificate', api.call('POST', '/api/v1/certs/none.example.com/renew'), 404, 'EDGE_ERR_ADMIN_NOT_FOUND'],
    ];
    for (const [what, reply, status, code] of cases) {
      const r = await reply;
      assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, code, what);
      assert.ok(r.body.error.message, what);
    }
    const unknown = await api.call('PUT', '/api/v1/proxies/b.example.com', { json: { target: '127.0.0.1', colour: 'blue' } });
    assert.deepEqual(unknown.body.error.issues, [{ path: 'proxies[1]', message: 'unknown key: colour' }], 'paths as the config loader names them');
    const wrongType = await api.call('PUT', '/api/v1/proxies/b.example.com', { json: { target: '127.0.0.1', targetPort: 'eighty' } });
    assert.equal(wrongType.body.error.issues[0].path, 'proxies[1].targetPort');
    assert.equal(readFileSync(configFile, 'utf8'), before, 'the file is unchanged');
  });

  it('listens on a unix socket when admin.listen says unix:', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-admin-sock-'));
    const socket = join(dir, 'admin.sock');
    const tokenFile = join(dir, 'secret', 'admin.token');
    const { edge } = await startTestEdge(t, { __dir: dir, admin: { listen: `unix:${socket}`, tokenFile } });
    assert.equal(edge.admin!.url, `unix:${socket}`);
    assert.equal(edge.admin!.tokenFile, tokenFile);
    assert.equal(statSync(socket).mode & 0o777, 0o660);
    const r = await adminClient({ kind: 'unix', path: socket }, readFileSync(tokenFile, 'utf8').trim()).request('GET', '/api/v1/status');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((r.body as { listeners: { admin: string } }).listeners.admin, `unix:${socket}`);
    assert.equal((await adminClient({ kind: 'unix', path: socket }, 'wrong-token').request('GET', '/api/v1/status')).status, 401);
  });

  it('serves an OpenAPI 3.1 document that a validator accepts', async (t) => {
    const { edge } = await startTestEdge(t, { admin: { listen: '127.0.0.1:0' } });
    const api = adminClientOf(edge.admin);
    const r = await api.call('GET', '/api/v1/openapi.json');
    assert.equal(r.status, 200);
    assert.equal(r.body.openapi, '3.1.0');
    const result = await new Validator().validate(r.body);
    assert.deepEqual(result.errors, undefined, JSON.stringify(result.errors));
    assert.equal(result.valid, true);
    for (const path of ['/api/v1/proxies', '/api/v1/proxies/{domain}', '/api/v1/vms', '/api/v1/vms/{owner}/{name}', '/api/v1/config',
      '/api/v1/certs', '/api/v1/certs/{name}/renew', '/api/v1/import/proxies', '/api/v1/status', '/api/v1/openapi.json']) {
      assert.ok(r.body.paths[path], path);
    }
    // The request body of a proxy write is the config's own proxy schema.
    assert.equal(r.body.components.schemas.Proxy.additionalProperties, false);
    assert.ok(r.body.components.schemas.Proxy.properties.targetPort);
  });
});
