/**
 * The dashboard in real headless Chromium against a real edge: sign in with the admin token (an HttpOnly,
 * SameSite=Strict session cookie), the overview with each proxy's target, certificate and last error, a
 * proxy added through the form and then reached through the edge, a CSV import and a delete, the API's
 * validation message next to a bad port, a certificate's expiry and renew now, VM traffic, sign out. Each test saves a screenshot; a
 * console error the test does not expect fails it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adminClientOf } from '../helpers/admin.ts';
import { browserSkipReason, openBrowser, signIn } from '../helpers/browser.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { deadPort, request, startBackend } from '../helpers/net.ts';

const skip = browserSkipReason();
type Ctx = { after(fn: () => unknown): void };

/** An edge with the admin API, a VM, an HTTPS proxy, a proxy whose VM refuses, and a template with one VM. */
async function edgeWithTraffic(t: Ctx) {
  const b = await startBackend(t, 'web1');
  const dead = await deadPort(t);
  const te = await startTestEdge(t, {
    admin: { listen: '127.0.0.1:0' },
    vms: [{ name: 'web1', owner: 'user1', ip: '127.0.0.1', port: b.port }],
    proxies: [
      { domain: 'app.example.com', target: '127.0.0.1', targetPort: b.port, ssl: true, note: 'the shop' },
      { domain: 'broken.example.com', target: '127.0.0.1', targetPort: dead },
      { domain: '*.user1.example.com', owner: 'user1' },
    ],
  });
  const api = adminClientOf(te.edge.admin);
  for (let i = 0; i < 3; i++) assert.equal((await request(te.edge.httpsPort!, 'app.example.com', { https: true })).status, 200);
  assert.equal((await request(te.edge.httpPort!, 'web1.user1.example.com', { body: 'x'.repeat(1000), method: 'POST' })).status, 200);
  const failed = await request(te.edge.httpPort!, 'broken.example.com', { path: '/checkout?token=secret' });
  assert.equal(failed.status, 502);
  return { ...te, api, backend: b, failedId: String(failed.headers['x-request-id']) };
}

/** The edge above, and a browser signed in to its dashboard. */
async function signedIn(t: Ctx) {
  const e = await edgeWithTraffic(t);
  const b = await openBrowser(t);
  await signIn(b, e.api.url, e.api.token);
  return { e, b };
}

describe('dashboard (headless Chromium)', { skip }, () => {
  it('signs in with the token, shows every proxy with target, certificate and last error, and signs out', async (t) => {
    const e = await edgeWithTraffic(t);
    const b = await openBrowser(t);
    await b.page.goto(e.api.url);
    assert.ok(await b.page.isVisible('#token'), 'signed out: the sign-in form');
    await signIn(b, e.api.url, e.api.token);
    const [cookie] = await b.context.cookies();
    assert.equal(cookie?.name, 'idcs_edge_session');
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.sameSite, 'Strict');
    assert.notEqual(cookie?.value, e.api.token, 'the token itself never goes to the browser');

    const row = (domain: string) => b.page.locator(`#proxies tr[data-domain="${domain}"]`);
    await row('broken.example.com').waitFor();
    assert.match(await row('app.example.com').innerText(), /http:\/\/127\.0\.0\.1:\d+\s+serving\s+self-signed: [67] days left/);
    assert.match(await row('*.user1.example.com').innerText(), /VMs of user1/);
    const broken = await row('broken.example.com').innerText();
    assert.match(broken, /EDGE_ERR_UPSTREAM_REFUSED/);
    assert.ok(broken.includes(e.failedId), `the last error names its request ID ${e.failedId}: ${broken}`);
    assert.match(broken, /100\.0 %/, 'every request of the last minute failed');
    await b.screenshot('overview');

    await b.page.click('#signout');
    await b.page.waitForSelector('#token');
    const after = await b.page.request.get(`${e.api.url}/api/v1/proxies`);
    assert.equal(after.status(), 401, 'the session is gone');
    await b.screenshot('signed-out');
    b.assertNoConsoleErrors();
  });

  it('adds a proxy through the form, which the edge then serves', async (t) => {
    const { e, b } = await signedIn(t);
    await b.page.click('nav a[data-tab=edit]');
    await b.page.fill('#f-domain', 'new.example.com');
    await b.page.fill('#f-target', '127.0.0.1');
    await b.page.fill('#f-targetPort', String(e.backend.port));
    await b.page.fill('#f-note', 'added in the browser');
    await b.page.click('#proxy-form button[type=submit]');
    await b.page.getByText('new.example.com saved and applied').waitFor();
    await b.screenshot('proxy-added');

    const r = await request(e.edge.httpPort!, 'new.example.com', { path: '/hello' });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).url, '/hello');
    const stored = await e.api.call('GET', '/api/v1/proxies/new.example.com');
    assert.equal(stored.body.note, 'added in the browser');
    b.assertNoConsoleErrors();
  });

  it('imports proxies from a CSV file and deletes one', async (t) => {
    const { e, b } = await signedIn(t);
    await b.page.goto(`${e.api.url}/#/edit`);
    await b.page.setInputFiles('#csv-file', { name: 'proxies.csv', mimeType: 'text/csv',
      buffer: Buffer.from(`domain,target,target_port,protocol,ssl,cert_source,websocket,note\ncsv.example.com,127.0.0.1,${e.backend.port},http,no,,true,"from a file, quoted"\n`) });
    await b.page.click('form.csv-form button[type=submit]');
    await b.page.locator('#csv-message').getByText('Imported 1 proxies (1 added, 0 replaced)').waitFor();
    assert.equal((await request(e.edge.httpPort!, 'csv.example.com')).status, 200, 'served at once');
    await b.screenshot('csv-imported');

    await b.page.goto(`${e.api.url}/#/edit/csv.example.com`);
    await b.page.click('#delete');
    await b.page.getByText('Really delete csv.example.com?').click();
    await b.page.waitForURL(/#\/edit$/);
    await b.page.locator('#proxy-list').waitFor();
    assert.equal(await b.page.locator('#proxy-list a[href="#/edit/csv.example.com"]').count(), 0);
    assert.equal((await request(e.edge.httpPort!, 'csv.example.com')).status, 404, 'no longer served');
    b.assertNoConsoleErrors();
  });

  it('shows the API\'s validation message next to a bad port, and changes nothing', async (t) => {
    const { e, b } = await signedIn(t);
    await b.page.goto(`${e.api.url}/#/edit`);
    await b.page.fill('#f-domain', 'bad.example.com');
    await b.page.fill('#f-target', '127.0.0.1');
    await b.page.fill('#f-targetPort', '70000');
    await b.page.click('#proxy-form button[type=submit]');
    const message = b.page.locator('#error-targetPort');
    await message.getByText('expected 1-65535').waitFor();
    assert.ok(await b.page.locator('.field[data-field=targetPort].invalid').isVisible());
    assert.equal(await b.page.locator('#error-domain').innerText(), '', 'only the bad field has a message');
    await b.screenshot('validation-error');
    assert.equal((await e.api.call('GET', '/api/v1/proxies/bad.example.com')).status, 404, 'nothing was added');
    // The API's refusal is a 400, which Chromium logs: that one error, and no other.
    b.assertNoConsoleErrors([/status of 400/]);
  });

  it('shows each certificate\'s expiry and next renewal, and renews one now', async (t) => {
    const { e, b } = await signedIn(t);
    const cert = (await e.api.call('GET', '/api/v1/certs')).body.certificates.find((c: { name: string }) => c.name === 'app.example.com');
    await b.page.click('nav a[data-tab=certs]');
    const row = b.page.locator('#certs tr[data-name="app.example.com"]');
    await row.waitFor();
    assert.equal(await row.locator('td.expires').innerText(), `${cert.certificate.notAfter.slice(0, 16).replace('T', ' ')} UTC`);
    assert.match(await row.locator('td.days').innerText(), /^[67]$/);
    // A local-CA leaf: short-lived, renewed at half its lifetime.
    assert.match(await row.innerText(), /expires in [67] days; renews when half of its 7-day lifetime remains \(\d{4}-\d\d-\d\d\)/);
    await b.screenshot('certificates');

    await row.locator('button[data-renew]').click();
    await b.page.locator('#renew-message').getByText('app.example.com renewed').waitFor();
    const now = (await e.api.call('GET', '/api/v1/certs')).body.certificates.find((c: { name: string }) => c.name === 'app.example.com');
    assert.notEqual(now.certificate.fingerprint256, cert.certificate.fingerprint256, 'a new certificate');
    b.assertNoConsoleErrors();
  });

  it('shows a proxy\'s charts and failures, and each VM\'s traffic', async (t) => {
    const { e, b } = await signedIn(t);
    await b.page.click('#proxies a[href="#/proxy/broken.example.com"]');
    const failures = b.page.locator('#failures tbody tr');
    await failures.first().waitFor();
    const first = await failures.first().innerText();
    assert.match(first, /502\s+EDGE_ERR_UPSTREAM_REFUSED/);
    assert.ok(first.includes(e.failedId));
    assert.ok(first.includes('GET broken.example.com/checkout') && !first.includes('secret'), 'the path, without its query');
    assert.equal(await b.page.locator('figure.chart canvas').count(), 2, 'requests and traffic charts');
    assert.match(await b.page.locator('#classes').innerText(), /5xx\s+1\s+100\.0 %/);
    await b.screenshot('proxy-detail');

    await b.page.click('nav a[data-tab=vms]');
    const vm = b.page.locator('#vms tr[data-vm="user1/web1"]');
    await vm.waitFor();
    const { body } = await e.api.call('GET', '/api/v1/traffic?vm=user1/web1&range=month');
    assert.ok(body.totals.in > 1000, 'the POST body counted for the VM');
    assert.match(await vm.innerText(), /127\.0\.0\.1:\d+/);
    assert.equal(await vm.locator('td:nth-child(6) span').getAttribute('title'), `${body.totals.in.toLocaleString('en')} bytes`);
    await vm.locator('button').click();
    await b.page.locator('#vm-chart canvas').waitFor();
    await b.screenshot('vms');
    b.assertNoConsoleErrors();
  });
});
