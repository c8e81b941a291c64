/**
 * The dashboard's HTTP side, without a browser: the page and its modules (uPlot included) served from the
 * package with a strict Content-Security-Policy, sign-in to an HttpOnly SameSite=Strict session cookie that
 * the API accepts, writes on the cookie only with the dashboard's own Origin, the Host guard in front of
 * everything, bearer tokens unchanged, sign-out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adminClientOf } from '../helpers/admin.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { request } from '../helpers/net.ts';

describe('dashboard over HTTP', () => {
  it('serves its files, signs in to a session cookie the API accepts, and guards writes made with it', async (t) => {
    const { edge } = await startTestEdge(t, { admin: { listen: '127.0.0.1:0' }, proxies: [{ domain: 'a.example.com', target: '127.0.0.1', targetPort: 9 }] });
    const api = adminClientOf(edge.admin);
    const page = await fetch(`${api.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type')!, /^text\/html/);
    assert.match(page.headers.get('content-security-policy')!, /default-src 'none'; script-src 'self'/);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    assert.match(await page.text(), /<script type="module" src="\/assets\/app\.js">/);
    const uplot = await fetch(`${api.url}/assets/uplot.js`);
    assert.match(uplot.headers.get('content-type')!, /^text\/javascript/);
    assert.match(await uplot.text(), /export \{ uPlot as default \}/);
    assert.notEqual((await fetch(`${api.url}/assets/package.json`)).status, 200, 'only the dashboard\'s own files');
    // fetch cannot set Host: a plain request can, as a rebinding page's browser would send it.
    assert.equal((await request(Number(new URL(api.url).port), 'evil.example.com')).status, 403, 'the Host guard is in front of the page too');

    assert.deepEqual((await api.call('GET', '/api/v1/session', { token: null })).body, { signedIn: false });
    const wrong = await api.call('POST', '/api/v1/session', { token: null, json: { token: 'not-the-token' } });
    assert.equal(wrong.status, 401);
    const signin = await api.call('POST', '/api/v1/session', { token: null, json: { token: api.token } });
    assert.equal(signin.status, 204);
    const setCookie = signin.headers.get('set-cookie')!;
    assert.match(setCookie, /^idcs_edge_session=[\w-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    const cookie = setCookie.split(';')[0]!;
    const withCookie = (extra: Record<string, string> = {}) => ({ token: null, headers: { cookie, ...extra } });

    assert.deepEqual((await api.call('GET', '/api/v1/session', withCookie())).body, { signedIn: true });
    assert.equal((await api.call('GET', '/api/v1/proxies', withCookie())).status, 200, 'the API accepts the session');
    assert.equal((await api.call('GET', '/metrics', withCookie())).status, 200);
    const body = { json: { target: '127.0.0.1', targetPort: 9 } };
    const noOrigin = await api.call('PUT', '/api/v1/proxies/b.example.com', { ...body, ...withCookie() });
    assert.equal(noOrigin.status, 403, 'a cookie write without Origin');
    assert.equal(noOrigin.body.error.code, 'EDGE_ERR_ADMIN_FORBIDDEN');
    const foreign = await api.call('PUT', '/api/v1/proxies/b.example.com', { ...body, ...withCookie({ origin: 'https://evil.example.com' }) });
    assert.equal(foreign.status, 403, 'a cookie write from another site');
    const own = await api.call('PUT', '/api/v1/proxies/b.example.com', { ...body, ...withCookie({ origin: api.url }) });
    assert.equal(own.status, 201, JSON.stringify(own.body));
    assert.equal((await api.call('DELETE', '/api/v1/proxies/b.example.com')).status, 200, 'bearer tokens work as before, no Origin needed');

    const out = await api.call('DELETE', '/api/v1/session', withCookie({ origin: api.url }));
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie')!, /^idcs_edge_session=; .*Max-Age=0$/);
    assert.equal((await api.call('GET', '/api/v1/proxies', withCookie())).status, 401, 'signed out');
  });
});
