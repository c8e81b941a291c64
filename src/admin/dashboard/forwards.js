// Forwards: every port forward of the config with where it goes, its access rules and bandwidth caps (its
// own and its VM's, which apply too), and what it carries. Neither /api/v1/forwards nor /api/v1/status
// counts connections, so those come from /metrics (the idcs_edge_forward_* series, summed over workers).
import { api, bytesCell, h, notice } from './api.js';
import { takeFlash } from './form.js';

/** `tcp/10022`, `udp/2000-2009`: how the API, the metrics and the logs name a forward (ports written as the API writes them). */
export const forwardKey = (f) => `${String(f.protocol ?? 'tcp').toLowerCase()}/${String(f.port).replace(/\s+/g, '').replace(/\d+/g, (d) => String(Number(d)))}`;

/** The API path of the forward named `key`. */
export function forwardPath(key) {
  const at = key.indexOf('/');
  return `/api/v1/forwards/${key.slice(0, at)}/${encodeURIComponent(key.slice(at + 1))}`;
}

/** The dashboard's page for editing the forward named `key` (only [a-z0-9/-]: nothing to encode). */
export const editHref = (key) => `#/forwards/edit/${key}`;

const same = (a, b) => String(a).toLowerCase() === String(b).toLowerCase();

/**
 * The inventory VM whose access rules and caps apply to forward `f` as well: the VM it names, or the one
 * VM whose `ip` is exactly its target (README, `forwards[].vm`); null for any other address.
 */
export function vmOf(f, vms) {
  if (f.vm) return vms.find((v) => same(v.owner, f.vm.owner) && same(v.name, f.vm.name)) ?? null;
  const byIp = vms.filter((v) => v.ip === f.target);
  return byIp.length === 1 ? byIp[0] : null;
}

const nonEmpty = (list) => (Array.isArray(list) && list.length > 0 ? list : null);

/** "allow 192.168.1.0/24; deny 10.0.0.0/8", or null when nobody is refused. */
export function rulesText(allow, deny) {
  const parts = [nonEmpty(allow) && `allow ${allow.join(', ')}`, nonEmpty(deny) && `deny ${deny.join(', ')}`].filter(Boolean);
  return parts.length ? parts.join('; ') : null;
}

/** "in 10 Mbps, out 5 Mbps, burst 64 KiB", or null without a cap. */
export function capText(b) {
  if (!b) return null;
  const parts = [b.ingressMbps !== undefined && `in ${b.ingressMbps} Mbps`, b.egressMbps !== undefined && `out ${b.egressMbps} Mbps`,
    b.burstKB !== undefined && `burst ${b.burstKB} KiB`].filter(Boolean);
  return parts.length ? parts.join(', ') : null;
}

/** A cell with the forward's own rule (or `none`) and, below it, its VM's. */
function levels(own, vm, vmRule, none) {
  return [own ?? h('span', { class: 'muted' }, none), vm && vmRule ? h('div', { class: 'muted' }, `VM ${vm.owner}/${vm.name}: ${vmRule}`) : null];
}

const LINE = /^idcs_edge_forward_(\w+)\{((?:[^"}]|"(?:[^"\\]|\\.)*")*)\}\s+(\S+)/;

/**
 * Each forward's figures from the Prometheus text of /metrics, by forward id: `open` now (undefined when
 * the forward is not running), `opened` (connections or sessions since start), bytes `in` and `out`,
 * `refused` and its reasons.
 */
export function forwardStats(text) {
  const stats = new Map();
  const of = (id) => {
    let s = stats.get(id);
    if (!s) stats.set(id, s = { open: undefined, opened: 0, in: 0, out: 0, refused: 0, reasons: {} });
    return s;
  };
  for (const line of String(text ?? '').split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    const s = of(labels.forward);
    const v = Number(m[3]);
    if (m[1] === 'open') s.open = (s.open ?? 0) + v;
    else if (m[1] === 'connections_total' || m[1] === 'sessions_total') s.opened += v;
    else if (m[1] === 'bytes_total') s[labels.direction === 'out' ? 'out' : 'in'] += v;
    else if (m[1] === 'refused_total') { s.refused += v; s.reasons[labels.reason] = (s.reasons[labels.reason] ?? 0) + v; }
  }
  return stats;
}

function targetCell(f, vm) {
  const where = f.vm ? [`${f.vm.owner}/${f.vm.name}`, vm ? h('span', { class: 'muted' }, ` (${vm.ip})`) : null]
    : [f.target, vm ? h('span', { class: 'muted' }, ` (${vm.owner}/${vm.name})`) : null];
  return h('td', {}, ...where, f.proxyProtocol ? h('div', { class: 'muted' }, `PROXY protocol ${f.proxyProtocol}`) : null);
}

function row(f, vms, stats, defaultHost) {
  const key = forwardKey(f);
  const vm = vmOf(f, vms);
  const s = stats.get(key);
  const running = s?.open !== undefined;
  const reasons = s ? Object.entries(s.reasons).map(([r, n]) => `${r}: ${n}`).join(', ') : '';
  return h('tr', { 'data-forward': key },
    h('td', {}, String(f.protocol ?? 'tcp').toUpperCase()),
    h('td', {}, h('a', { href: editHref(key), title: `Edit ${key}` }, String(f.port))),
    h('td', {}, f.listen ?? [defaultHost, h('span', { class: 'muted' }, ' (listen.host)')]),
    targetCell(f, vm),
    h('td', {}, f.targetPort !== undefined ? String(f.targetPort) : [String(f.port), h('span', { class: 'muted' }, ' (same)')]),
    h('td', {}, f.note ?? ''),
    h('td', { class: 'num open', title: running ? undefined : 'in the file, not in the running config (a hand edit the edge refused?)' },
      running ? s.open : h('span', { class: 'bad' }, 'not running')),
    h('td', { class: 'num' }, s?.opened ?? 0),
    h('td', { class: 'num' }, bytesCell(s?.in ?? 0)), h('td', { class: 'num' }, bytesCell(s?.out ?? 0)),
    h('td', { class: `num ${s?.refused ? 'warn' : ''}`, title: reasons || undefined }, s?.refused ?? 0),
    h('td', { class: 'access' }, levels(rulesText(f.allow, f.deny), vm, vm?.access && rulesText(vm.access.allow, vm.access.deny), 'anyone')),
    h('td', { class: 'caps' }, levels(capText(f.bandwidth), vm, capText(vm?.bandwidth), 'none')));
}

export async function forwardsPage() {
  const [{ forwards }, { vms }, status, metrics] = await Promise.all([
    api('GET', '/api/v1/forwards'), api('GET', '/api/v1/vms'), api('GET', '/api/v1/status'), api('GET', '/metrics')]);
  document.title = 'Forwards · idcs-edge';
  const stats = forwardStats(metrics);
  const head = ['Protocol', 'Port', 'Listen', 'Target', 'VM port', 'Note', 'Open', 'Since start', 'In', 'Out', 'Refused', 'Access', 'Bandwidth cap'];
  return h('section', {},
    h('h1', {}, 'Port forwards'),
    takeFlash(),
    h('p', {}, h('a', { href: '#/forwards/edit', id: 'add-forward' }, 'Add a forward or import a CSV')),
    forwards.length === 0 ? notice('info', 'No port forwards yet.') : h('table', { class: 'grid', id: 'forwards' },
      h('thead', {}, h('tr', {}, ...head.map((t) => h('th', {}, t)))),
      h('tbody', {}, forwards.map((f) => row(f, vms, stats, status.listeners.host)))),
    h('p', { class: 'hint' }, 'Open: TCP connections or UDP sessions now. Since start: connections or sessions since the edge started; '
      + 'bytes in from clients and out to them (counted while a connection lasts, every 10 s). Refreshed every 5 seconds.'));
}
