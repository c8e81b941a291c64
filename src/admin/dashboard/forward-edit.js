// Editing port forwards: the form (add, edit, delete one forward through the control API, with the API's
// validation messages next to the fields they name) and the CSV upload. Like the proxy form, a save is a
// PUT of this one forward without If-Match (README "ETags, for controllers": a write that does not depend
// on the rest of the document needs none; the document's ETag would refuse it after any unrelated change).
import { api, h, notice } from './api.js';
import { clearIssues, csvForm, deleteButton, field, fieldMessage, lastName, select, setFlash, showIssues, takeFlash, text } from './form.js';
import { editHref, forwardKey, forwardPath } from './forwards.js';

const FIELDS = ['protocol', 'port', 'listen', 'target', 'targetPort', 'note', 'allow', 'deny', 'proxyProtocol',
  'ingressMbps', 'egressMbps', 'burstKB', 'idleTimeoutMs', 'maxSessions'];
// The forward's keys the form sets; any other key of the stored forward is kept as it is.
const OWN_KEYS = ['protocol', 'port', 'listen', 'target', 'vm', 'targetPort', 'note', 'allow', 'deny', 'proxyProtocol', 'bandwidth', 'idleTimeoutMs', 'maxSessions'];

/** The field an issue's path names (`forwards[2].allow[0]` -> allow; `vm.owner` is typed into target). */
function fieldOf(path) {
  const last = lastName(path);
  if (['vm', 'owner', 'name'].includes(last)) return 'target';
  if (last === 'bandwidth') return 'ingressMbps';
  return FIELDS.includes(last) ? last : null;
}

// The API checks the path's port before the body: its refusal names no field, but it is the port's.
const PATH_PORT = /^the path's port "[^"]*": (.+)$/s;

/** The forward the form describes, on top of `base` (protocol and port are the path's). */
function forwardOf(form, base) {
  const v = (n) => form.elements[n].value.trim();
  // Numbers as numbers, anything else as typed: the API says what is wrong with it.
  const num = (s) => (/^-?\d+(\.\d+)?$/.test(s) ? Number(s) : s);
  const list = (n) => v(n).split(/[\s,]+/).filter(Boolean);
  const f = { ...base };
  for (const k of OWN_KEYS) delete f[k];
  const udp = v('protocol') === 'udp';
  if (v('listen')) f.listen = v('listen');
  const vm = /^vm:\s*([^/]*)\/?(.*)$/i.exec(v('target'));
  if (vm) f.vm = { owner: vm[1].trim(), name: vm[2].trim() }; else if (v('target')) f.target = v('target');
  if (v('targetPort')) f.targetPort = num(v('targetPort'));
  if (v('note')) f.note = v('note');
  for (const k of ['allow', 'deny']) if (list(k).length) f[k] = list(k);
  if (!udp && v('proxyProtocol') !== 'off') f.proxyProtocol = v('proxyProtocol');
  const bandwidth = Object.fromEntries(['ingressMbps', 'egressMbps', 'burstKB'].filter((k) => v(k)).map((k) => [k, num(v(k))]));
  if (Object.keys(bandwidth).length) f.bandwidth = bandwidth;
  if (v('idleTimeoutMs')) f.idleTimeoutMs = num(v('idleTimeoutMs'));
  if (udp && v('maxSessions')) f.maxSessions = num(v('maxSessions'));
  return f;
}

function forwardForm(existing, defaultHost) {
  const f = existing ?? { protocol: 'tcp' };
  const key = existing ? forwardKey(existing) : null;
  const msg = h('div', { class: 'form-message', id: 'form-message' });
  const b = f.bandwidth ?? {};
  const protocol = select('protocol', ['tcp', 'udp'], String(f.protocol ?? 'tcp').toLowerCase(), { disabled: !!existing });
  const tcpOnly = field('proxyProtocol', 'PROXY protocol', select('proxyProtocol', [['off', 'off'], ['v1', 'v1'], ['v2', 'v2']], f.proxyProtocol || 'off'),
    'Send the client\'s address to the VM first (the VM must expect it).');
  const udpOnly = field('maxSessions', 'Most sessions', text('maxSessions', f.maxSessions, { inputmode: 'numeric', placeholder: '10000' }));
  const showFor = () => { tcpOnly.hidden = protocol.value === 'udp'; udpOnly.hidden = protocol.value !== 'udp'; };
  protocol.addEventListener('change', showFor);
  showFor();
  const form = h('form', { id: 'forward-form', class: 'proxy-form', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    clearIssues(form, msg);
    const port = form.elements.port.value.trim();
    if (!port) { fieldMessage(form, 'port', 'expected a port such as 10022 or a range such as 2000-2009'); return; }
    const k = key ?? forwardKey({ protocol: protocol.value, port });
    try {
      // A PUT on a forward that exists replaces it: adding asks the list first (a 200, not a 404 in the console).
      if (!existing && (await api('GET', '/api/v1/forwards')).forwards.some((g) => forwardKey(g) === k)) {
        fieldMessage(form, 'port', `${k} is already forwarded: pick it in the list to edit it`);
        return;
      }
      const r = await api('PUT', forwardPath(k), { json: forwardOf(form, existing ?? {}) });
      const done = notice('ok', `${k} saved and applied (config version ${r.version}).`);
      if (existing) msg.append(done);
      else { setFlash(done); location.hash = editHref(k); }
    } catch (err) {
      const inPath = err.issues.length === 0 ? PATH_PORT.exec(err.message) : null;
      if (inPath) { fieldMessage(form, 'port', inPath[1]); msg.append(notice('error', 'Not saved: see the messages next to the fields.')); } else showIssues(form, msg, err, fieldOf);
    }
  } },
  h('h2', {}, existing ? `Edit ${key}` : 'Add a forward'),
  field('protocol', 'Protocol', protocol),
  field('port', 'Port', text('port', f.port, { placeholder: '10022 or 2000-2009', readonly: !!existing }), existing ? 'A forward is named by its protocol and port: delete it and add another to change them.' : null),
  field('listen', 'Listen address', text('listen', f.listen, { placeholder: `${defaultHost} (listen.host)` })),
  field('target', 'Target', text('target', f.vm ? `vm:${f.vm.owner}/${f.vm.name}` : f.target, { placeholder: '10.0.0.5' }), 'The VM\'s address; vm:<owner>/<name> for an inventory VM.'),
  field('targetPort', 'VM port', text('targetPort', f.targetPort, { placeholder: 'the same as the port' }), 'A port, or a range as long as the port\'s.'),
  field('note', 'Note', text('note', f.note)),
  h('fieldset', {}, h('legend', {}, 'Access and limits'),
    field('allow', 'Allow', text('allow', (f.allow ?? []).join(', '), { placeholder: '192.168.1.0/24, 2001:db8::/32' }), 'Sources admitted (empty: anyone not denied).'),
    field('deny', 'Deny', text('deny', (f.deny ?? []).join(', ')), 'Sources refused (deny wins).'),
    field('ingressMbps', 'Ingress cap (Mbps)', text('ingressMbps', b.ingressMbps, { inputmode: 'decimal' }), 'Client to VM; all connections together.'),
    field('egressMbps', 'Egress cap (Mbps)', text('egressMbps', b.egressMbps, { inputmode: 'decimal' }), 'VM to client.'),
    field('burstKB', 'Burst (KiB)', text('burstKB', b.burstKB, { inputmode: 'numeric' })),
    field('idleTimeoutMs', 'Idle timeout (ms)', text('idleTimeoutMs', f.idleTimeoutMs, { inputmode: 'numeric', placeholder: 'TCP 600000, UDP 60000' })),
    tcpOnly, udpOnly),
  h('div', { class: 'buttons' },
    h('button', { type: 'submit' }, existing ? 'Save' : 'Add forward'),
    existing ? deleteButton(key, msg, async () => {
      await api('DELETE', forwardPath(key));
      setFlash(notice('ok', `${key} deleted: the edge no longer listens on it.`));
      location.hash = '#/forwards';
    }) : null,
    existing ? h('a', { href: '#/forwards/edit', class: 'button-link' }, 'Add another') : null),
  msg);
  return form;
}

/** The forwards as links to their forms. */
const forwardList = (forwards) => (forwards.length === 0 ? h('p', { class: 'muted' }, 'None yet.')
  : h('table', { class: 'grid narrow', id: 'forward-list' }, h('tbody', {}, forwards.map((f) => h('tr', {},
    h('td', {}, h('a', { href: editHref(forwardKey(f)) }, forwardKey(f))),
    h('td', { class: 'muted' }, f.vm ? `${f.vm.owner}/${f.vm.name}` : f.target, `:${f.targetPort ?? f.port}`, f.note ? ` · ${f.note}` : ''))))));

export async function forwardEditPage(wanted) {
  const [{ forwards }, status] = await Promise.all([api('GET', '/api/v1/forwards'), api('GET', '/api/v1/status')]);
  const existing = wanted === undefined ? null : forwards.find((f) => forwardKey(f) === wanted) ?? null;
  document.title = `${existing ? `Edit ${wanted}` : 'Edit forwards'} · idcs-edge`;
  const list = h('div', {}, forwardList(forwards));
  return h('section', { class: 'edit' },
    h('p', {}, h('a', { href: '#/forwards' }, '← all forwards')),
    h('h1', {}, 'Edit port forwards'),
    takeFlash(),
    wanted !== undefined && !existing ? notice('error', `No forward ${wanted} in the config.`) : null,
    h('div', { class: 'columns' },
      forwardForm(existing, status.listeners.host),
      h('div', {},
        h('h2', {}, 'Forwards'),
        list,
        csvForm({ id: 'fwd-csv', noun: 'forwards', path: '/api/v1/import/forwards', title: 'Import forwards from CSV',
          hint: 'Columns: protocol,host_port,vm_ip,vm_port,note (the header line is optional), e.g. tcp,10022,10.0.0.5,22,SSH. '
            + 'All rows or none; a forward with the same protocol and port is replaced.',
          onImported: async () => list.replaceChildren(forwardList((await api('GET', '/api/v1/forwards')).forwards)) }))));
}
