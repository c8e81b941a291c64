/**
 * The dashboard's Forwards tab in real headless Chromium against a real edge: a TCP forward added through
 * the form carries a real connection to an echo server, the list shows it (open connections, access rules
 * and caps, its VM's too), and once deleted its port refuses connections; the API's validation messages
 * next to the fields they name; the CSV upload with a dry run and a bad row reported by line. Each test
 * saves a screenshot; a console error the test does not expect fails it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adminClientOf } from '../helpers/admin.ts';
import { browserSkipReason, openBrowser, signIn } from '../helpers/browser.ts';
import { startTestEdge } from '../helpers/edge.ts';
import { connect, freePortRange, tcpEcho, type Client } from '../helpers/forwards.ts';
import { waitFor } from '../helpers/net.ts';

const skip = browserSkipReason();
type Ctx = { after(fn: () => unknown): void };

/** An edge with the admin API and a VM whose address is the echo server's, a free port, and a signed-in browser. */
async function setUp(t: Ctx) {
  const echo = await tcpEcho(t);
  const port = await freePortRange(['127.0.0.1'], 1);
  const te = await startTestEdge(t, {
    admin: { listen: '127.0.0.1:0' },
    vms: [{ name: 'db1', owner: 'user1', ip: '127.0.0.1', access: { deny: ['10.0.0.0/8'] } }],
  });
  const api = adminClientOf(te.edge.admin);
  const b = await openBrowser(t);
  await signIn(b, api.url, api.token);
  return { echo, port, api, b };
}

/** Writes `text` on `c` and waits until it came back. */
async function say(c: Client, text: string): Promise<void> {
  const before = c.received();
  c.socket.write(text);
  await waitFor(`"${text}" echoed`, () => c.received() === before + text);
}

/** A connection through `port` whose bytes came back; the caller closes it. */
async function echoed(port: number, text: string): Promise<Client> {
  const c = await connect(port);
  await say(c, text);
  return c;
}

const refused = (port: number) => assert.rejects(connect(port), { code: 'ECONNREFUSED' }, `port ${port} is closed`);

describe('dashboard forwards (headless Chromium)', { skip }, () => {
  it('adds a TCP forward through the form that reaches an echo server, lists it, edits it, and deletes it (its port then refuses)', async (t) => {
    const { echo, port, api, b } = await setUp(t);
    await b.page.click('nav a[data-tab=forwards]');
    await b.page.getByText('No port forwards yet.').waitFor();
    await b.page.click('#add-forward');
    await b.page.fill('#f-port', String(port));
    await b.page.fill('#f-target', '127.0.0.1');
    await b.page.fill('#f-targetPort', String(echo.port));
    await b.page.fill('#f-note', 'echo in the browser');
    await b.page.fill('#f-allow', '127.0.0.0/8, ::1');
    await b.page.fill('#f-egressMbps', '100');
    await b.page.click('#forward-form button[type=submit]');
    await b.page.getByText(`tcp/${port} saved and applied`).waitFor();
    await b.screenshot('forward-added');

    const c = await echoed(port, 'ping through the edge\n');
    const stored = await api.call('GET', `/api/v1/forwards/tcp/${port}`);
    assert.deepEqual(stored.body, { protocol: 'tcp', port, target: '127.0.0.1', targetPort: echo.port, note: 'echo in the browser',
      allow: ['127.0.0.0/8', '::1'], bandwidth: { egressMbps: 100 } });

    await b.page.click('nav a[data-tab=forwards]');
    const row = b.page.locator(`#forwards tr[data-forward="tcp/${port}"]`);
    await row.waitFor();
    assert.equal(await row.locator('td.open').innerText(), '1', 'the open connection');
    const text = await row.innerText();
    for (const part of ['TCP', String(port), '127.0.0.1 (listen.host)', '127.0.0.1 (user1/db1)', String(echo.port), 'echo in the browser',
      'allow 127.0.0.0/8, ::1', 'VM user1/db1: deny 10.0.0.0/8', 'out 100 Mbps']) {
      assert.ok(text.includes(part), `the row shows ${part}: ${text}`);
    }
    await b.screenshot('forwards');

    await row.locator('a').first().click();
    await b.page.fill('#f-note', 'renamed');
    await b.page.click('#forward-form button[type=submit]');
    await b.page.locator('#form-message').getByText(`tcp/${port} saved and applied`).waitFor();
    assert.equal((await api.call('GET', `/api/v1/forwards/tcp/${port}`)).body.note, 'renamed');
    await say(c, 'still open after the edit\n');
    c.socket.destroy();
    await c.closed;

    await b.page.click('#delete');
    await b.page.getByText(`Really delete tcp/${port}?`).click();
    await b.page.waitForURL(/#\/forwards$/);
    await b.page.getByText(`tcp/${port} deleted`).waitFor();
    await refused(port);
    assert.equal((await api.call('GET', `/api/v1/forwards/tcp/${port}`)).status, 404);
    await b.screenshot('forward-deleted');
    b.assertNoConsoleErrors();
  });

  it('shows the API\'s validation messages next to the fields they name, and changes nothing', async (t) => {
    const { port, api, b } = await setUp(t);
    await b.page.goto(`${api.url}/#/forwards/edit`);
    await b.page.fill('#f-port', '70000');
    await b.page.fill('#f-target', '127.0.0.1');
    await b.page.click('#forward-form button[type=submit]');
    await b.page.locator('#error-port').getByText('expected ports 1-65535').waitFor();
    assert.ok(await b.page.locator('.field[data-field=port].invalid').isVisible());
    assert.equal(await b.page.locator('#error-target').innerText(), '', 'only the bad field has a message');

    await b.page.fill('#f-port', String(port));
    await b.page.fill('#f-targetPort', '0');
    await b.page.fill('#f-deny', 'not-a-network');
    await b.page.click('#forward-form button[type=submit]');
    await b.page.locator('#error-targetPort').getByText('expected ports 1-65535').waitFor();
    await b.page.locator('#error-deny').getByText('expected an IP address or CIDR').waitFor();
    assert.equal(await b.page.locator('#error-port').innerText(), '', 'the port is fine now');
    await b.screenshot('forward-validation');
    assert.deepEqual((await api.call('GET', '/api/v1/forwards')).body, { forwards: [] }, 'nothing was added');
    await refused(port);
    // The API's refusals are 400s, which Chromium logs: those, and no other error.
    b.assertNoConsoleErrors([/status of 400/]);
  });

  it('imports forwards from a CSV file: a bad row reported by line, a dry run that changes nothing, then the import', async (t) => {
    const { echo, port, api, b } = await setUp(t);
    await b.page.goto(`${api.url}/#/forwards/edit`);
    const upload = async (csv: string, dryRun: boolean) => {
      await b.page.setInputFiles('#fwd-csv-file', { name: 'forwards.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
      await b.page.setChecked('#fwd-csv-dry', dryRun);
      await b.page.click('#fwd-csv-form button[type=submit]');
    };
    const message = b.page.locator('#fwd-csv-message');
    const good = `protocol,host_port,vm_ip,vm_port,note\ntcp,${port},127.0.0.1,${echo.port},"echo, from a file"\n`;

    await upload(`${good}udp,not-a-port,127.0.0.1,53,DNS\n`, false);
    await message.getByText('Not imported, nothing changed').waitFor();
    assert.match(await message.locator('table.csv-issues tbody').innerText(), /^3\s+host_port\s+expected a port/);

    await upload(good, true);
    await message.getByText('1 rows are valid (1 would be added, 0 replaced); nothing changed.').waitFor();
    await refused(port);

    await upload(good, false);
    await message.getByText('Imported 1 forwards (1 added, 0 replaced).').waitFor();
    (await echoed(port, 'imported\n')).socket.destroy();
    await b.page.locator(`#forward-list a[href="#/forwards/edit/tcp/${port}"]`).waitFor();
    await b.screenshot('forwards-csv');

    await b.page.click('nav a[data-tab=forwards]');
    assert.match(await b.page.locator(`#forwards tr[data-forward="tcp/${port}"]`).innerText(), /echo, from a file/);
    b.assertNoConsoleErrors([/status of 400/]);
  });
});
