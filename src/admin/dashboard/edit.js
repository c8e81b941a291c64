// Edit: the Web Proxy form (add, edit, delete a proxy through the control API, with the API's validation
// messages next to the fields they name) and the CSV upload.
import { api, h, notice, targetOf } from './api.js';
import { checkbox, clearIssues, csvForm, deleteButton, field, fieldMessage, lastName, select, setFlash, showIssues, takeFlash, text } from './form.js';

const FIELDS = ['domain', 'target', 'targetPort', 'protocol', 'ssl', 'certSource', 'certFile', 'keyFile', 'websocket', 'note'];

/** The field an issue's path names (`proxies[3].targetPort` -> targetPort; `owner` is typed into target). */
function fieldOf(path) {
  const last = lastName(path);
  if (last === 'owner') return 'target';
  return FIELDS.includes(last) ? last : null;
}

/** The proxy the form describes, on top of `base` (what the API had: fields the form does not show are kept). */
function proxyOf(form, base) {
  const v = (n) => form.elements[n].value.trim();
  const p = { ...base };
  delete p.status;
  for (const k of ['target', 'owner', 'targetPort', 'certFile', 'keyFile', 'note']) delete p[k];
  const target = v('target');
  if (target.toLowerCase().startsWith('owner:')) p.owner = target.slice(6).trim(); else if (target) p.target = target;
  const port = v('targetPort');
  // Sent as typed: the API says what is wrong with it.
  if (port) p.targetPort = /^\d+$/.test(port) ? Number(port) : port;
  p.protocol = v('protocol');
  p.ssl = form.elements.ssl.checked;
  p.certSource = v('certSource');
  if (p.certSource === 'upload') { p.certFile = v('certFile') || undefined; p.keyFile = v('keyFile') || undefined; }
  p.websocket = form.elements.websocket.checked;
  if (v('note')) p.note = v('note');
  return p;
}

function proxyForm(existing) {
  const p = existing ?? { protocol: 'http', ssl: false, certSource: 'self-signed', websocket: true };
  const msg = h('div', { class: 'form-message', id: 'form-message' });
  const upload = h('div', { class: 'upload-files', hidden: p.certSource !== 'upload' },
    field('certFile', 'Certificate file (PEM)', text('certFile', p.certFile)), field('keyFile', 'Key file (PEM)', text('keyFile', p.keyFile)));
  const certSource = select('certSource', ['self-signed', 'letsencrypt', 'upload'], p.certSource);
  certSource.addEventListener('change', () => { upload.hidden = certSource.value !== 'upload'; });
  const form = h('form', { id: 'proxy-form', class: 'proxy-form', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    clearIssues(form, msg);
    const domain = form.elements.domain.value.trim();
    if (!domain) { fieldMessage(form, 'domain', 'expected a domain name such as app.example.com'); return; }
    try {
      const r = await api('PUT', `/api/v1/proxies/${encodeURIComponent(domain)}`, { json: proxyOf(form, existing ?? {}) });
      const done = notice('ok', `${domain} saved and applied (config version ${r.version}).`);
      if (existing) msg.append(done);
      else { setFlash(done); location.hash = `#/edit/${encodeURIComponent(domain)}`; }
    } catch (err) {
      showIssues(form, msg, err, fieldOf);
    }
  } },
  h('h2', {}, existing ? `Edit ${existing.domain}` : 'Add a proxy'),
  field('domain', 'Domain', text('domain', p.domain, { placeholder: 'app.example.com or *.user1.example.com', readonly: !!existing })),
  field('target', 'Target', text('target', p.owner ? `owner:${p.owner}` : p.target, { placeholder: '10.0.0.5' }), 'The VM\'s address; owner:<user> for a wildcard template.'),
  field('targetPort', 'Target port', text('targetPort', p.targetPort, { inputmode: 'numeric', placeholder: '80' })),
  field('protocol', 'Protocol', select('protocol', ['http', 'https'], p.protocol), 'How the edge talks to the VM.'),
  field('ssl', 'Enable SSL', checkbox('ssl', p.ssl), 'Serve this domain over HTTPS; HTTP then redirects.'),
  field('certSource', 'Certificate source', certSource),
  upload,
  field('websocket', 'WebSocket', checkbox('websocket', p.websocket !== false)),
  field('note', 'Note', text('note', p.note)),
  h('div', { class: 'buttons' },
    h('button', { type: 'submit' }, existing ? 'Save' : 'Add proxy'),
    existing ? deleteButton(existing.domain, msg, async () => {
      await api('DELETE', `/api/v1/proxies/${encodeURIComponent(existing.domain)}`);
      location.hash = '#/edit';
    }) : null,
    existing ? h('a', { href: '#/edit', class: 'button-link' }, 'Add another') : null),
  msg);
  return form;
}

/** The proxies as links to their forms. */
const proxyList = (proxies) => h('table', { class: 'grid narrow', id: 'proxy-list' }, h('tbody', {}, proxies.map((p) => h('tr', {},
  h('td', {}, h('a', { href: `#/edit/${encodeURIComponent(p.domain)}` }, p.domain)), h('td', { class: 'muted' }, targetOf(p))))));

export async function editPage(domain) {
  const { proxies } = await api('GET', '/api/v1/proxies');
  const existing = domain === undefined ? null : proxies.find((p) => p.domain === domain);
  document.title = `${existing ? `Edit ${domain}` : 'Edit'} · idcs-edge`;
  const list = h('div', {}, proxyList(proxies));
  return h('section', { class: 'edit' },
    h('h1', {}, 'Edit proxies'),
    takeFlash(),
    domain !== undefined && !existing ? notice('error', `No proxy for ${domain} in the config.`) : null,
    h('div', { class: 'columns' },
      proxyForm(existing),
      h('div', {},
        h('h2', {}, 'Proxies'),
        list,
        csvForm({ id: 'csv', noun: 'proxies', path: '/api/v1/import/proxies', title: 'Import proxies from CSV',
          hint: 'Columns: domain,target,target_port,protocol,ssl,cert_source,websocket,note. All rows or none; a domain already proxied is replaced.',
          onImported: async () => list.replaceChildren(proxyList((await api('GET', '/api/v1/proxies')).proxies)) }))));
}
