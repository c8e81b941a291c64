// Certificates (expiry, next renewal and why, last error, renew now) and VMs (traffic for 24 hours and
// this month, and a VM's 24-hour chart).
import { api, bytesCell, daysLeft, h, notice, when } from './api.js';
import { dayChart } from './charts.js';

function renewButton(c, msg, reload) {
  const button = h('button', {
    type: 'button', class: 'small', 'data-renew': c.name, onclick: async () => {
      button.disabled = true;
      button.textContent = 'Renewing…';
      msg.replaceChildren(notice('info', `Renewing ${c.name}…`));
      try {
        const r = await api('POST', `/api/v1/certs/${encodeURIComponent(c.name)}/renew`);
        msg.replaceChildren(notice('ok', `${c.name} renewed: expires ${when(r.notAfter)}.`));
      } catch (err) {
        msg.replaceChildren(notice('error', `${c.name} was not renewed: ${err.message}`));
      }
      await reload();
    },
  }, 'Renew now');
  return button;
}

export async function certsPage() {
  const msg = h('div', { class: 'form-message', id: 'renew-message' });
  const table = h('div', {});
  const reload = async () => {
    const { certificates } = await api('GET', '/api/v1/certs');
    table.replaceChildren(certificates.length === 0 ? notice('info', 'No proxy has ssl: true, so no certificate is needed.')
      : h('table', { class: 'grid', id: 'certs' },
        h('thead', {}, h('tr', {}, ...['Name', 'Proxy', 'Source', 'Expires', 'Days left', 'Next renewal', 'Last error', ''].map((t) => h('th', {}, t)))),
        h('tbody', {}, certificates.map((c) => {
          const days = c.certificate ? daysLeft(c.certificate.notAfter) : null;
          const served = c.certificate && c.certificate.source !== c.source ? `${c.source} (serving a ${c.certificate.source} stand-in)` : c.source;
          return h('tr', { 'data-name': c.name },
            h('td', {}, c.name), h('td', {}, c.domain), h('td', {}, served),
            h('td', { class: 'expires' }, c.certificate ? when(c.certificate.notAfter) : 'none stored'),
            h('td', { class: `num days ${days === null || days < 0 ? 'bad' : days <= 7 ? 'warn' : 'ok'}` }, days === null ? '-' : days),
            h('td', {}, c.nextRenewalAt ? when(c.nextRenewalAt) : '-', h('div', { class: 'muted' }, c.renewalReason)),
            h('td', {}, c.lastError ? [h('code', {}, c.lastError.code), ' ', c.lastError.message,
              h('div', { class: 'muted' }, `${when(c.lastError.at)}${c.nextAttemptAt ? `; next attempt ${when(c.nextAttemptAt)}` : ''}`)] : h('span', { class: 'muted' }, 'none')),
            h('td', {}, c.source === 'upload' ? h('span', { class: 'muted' }, 'replace the files') : renewButton(c, msg, reload)));
        }))));
  };
  await reload();
  document.title = 'Certificates · idcs-edge';
  return h('section', {}, h('h1', {}, 'Certificates'), msg, table,
    h('p', { class: 'hint' }, 'Renew now ignores the renewal rule and the backoff after failures.'));
}

export async function vmsPage() {
  const [{ vms }, inventory] = await Promise.all([api('GET', '/api/v1/traffic/vms'), api('GET', '/api/v1/vms')]);
  document.title = 'VMs · idcs-edge';
  const address = new Map(inventory.vms.map((v) => [`${v.owner}/${v.name}`.toLowerCase(), `${v.ip}${v.port ? `:${v.port}` : ''}`]));
  const chart = h('div', { id: 'vm-chart' });
  const showChart = async (vm) => {
    const t = await api('GET', `/api/v1/traffic?vm=${encodeURIComponent(vm)}&range=24h`);
    chart.replaceChildren(h('h2', {}, vm), dayChart(`Bytes per minute to and from ${vm}, last 24 hours`, t.series, ['in', 'out'], 'bytes'));
  };
  const sum = (x) => x.in + x.out;
  return h('section', {},
    h('h1', {}, 'VMs'),
    vms.length === 0 ? notice('info', 'No VMs in the inventory and no VM traffic this month.') : h('table', { class: 'grid', id: 'vms' },
      h('thead', {},
        h('tr', {}, h('th', { rowspan: 2 }, 'VM'), h('th', { rowspan: 2 }, 'Address'), h('th', { colspan: 3 }, 'Last 24 hours'), h('th', { colspan: 3 }, 'This month (UTC)'), h('th', { rowspan: 2 }, '')),
        h('tr', {}, ...['in', 'out', 'total', 'in', 'out', 'total'].map((t) => h('th', {}, t)))),
      h('tbody', {}, vms.map((v) => h('tr', { 'data-vm': v.vm },
        h('td', {}, v.vm), h('td', {}, address.get(v.vm) ?? h('span', { class: 'muted' }, 'not in the inventory')),
        h('td', { class: 'num' }, bytesCell(v.last24h.in)), h('td', { class: 'num' }, bytesCell(v.last24h.out)), h('td', { class: 'num' }, bytesCell(sum(v.last24h))),
        h('td', { class: 'num' }, bytesCell(v.month.in)), h('td', { class: 'num' }, bytesCell(v.month.out)), h('td', { class: 'num' }, bytesCell(sum(v.month))),
        h('td', {}, h('button', { type: 'button', class: 'small', onclick: () => { void showChart(v.vm); } }, 'Chart')))))),
    chart,
    h('p', { class: 'hint' }, 'Bytes the edge read from and wrote to clients for each VM, WebSockets included (README "Traffic statistics").'));
}
