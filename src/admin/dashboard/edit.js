// Edit: the Web Proxy form (add, edit, delete a proxy through the control API, with the API's validation
// messages next to the fields they name) and the CSV upload.
import { api, h, notice, targetOf } from './api.js';

// A message that outlives the re-render after a proxy was added.
let flash = null;

const FIELDS = ['domain', 'target', 'targetPort', 'protocol', 'ssl', 'certSource', 'certFile', 'keyFile', 'websocket', 'note'];

/** The field an issue's path names (`proxies[3].targetPort` -> targetPort; `owner` is typed into target). */
function fieldOf(path) {
  const last = String(path ?? '').split('.').pop().replace(/\[\d+\]$/, '');
  if (last === 'owner') return 'target';
  return FIELDS.includes(last) ? last : null;
}

function field(name, label, input, hint) {
  return h('div', { class: 'field', 'data-field': name },
    h('label', { for: `f-${name}` }, label), input,
    hint ? h('div', { class: 'hint' }, hint) : null,
    h('div', { class: 'field-error', id: `error-${name}`, 'aria-live': 'polite' }));
}

const select = (name, options, value) => h('select', { id: `f-${name}`, name }, options.map((o) => h('option', { value: o, selected: o === value }, o)));
const checkbox = (name, checked) => h('input', { id: `f-${name}`, name, type: 'checkbox', checked });
const text = (name, value, attrs = {}) => h('input', { id: `f-${name}`, name, type: 'text', value: value ?? '', autocomplete: 'off', ...attrs });

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

function showIssues(form, msg, err) {
  const general = [];
  for (const i of err.issues) {
    const f = fieldOf(i.path);
    const slot = f && form.querySelector(`#error-${f}`);
    if (slot) { slot.append(h('div', {}, i.message)); slot.closest('.field').classList.add('invalid'); } else general.push(`${i.path}: ${i.message}`);
  }
  msg.append(notice('error', err.issues.length ? 'Not saved: see the messages next to the fields.' : `Not saved: ${err.message}`));
  for (const g of general) msg.append(notice('error', g));
}

function proxyForm(existing) {
  const p = existing ?? { protocol: 'http', ssl: false, certSource: 'self-signed', websocket: true };
  const msg = h('div', { class: 'form-message', id: 'form-message' });
  const upload = h('div', { class: 'upload-files', hidden: p.certSource !== 'upload' },
    field('certFile', 'Certificate file (PEM)', text('certFile', p.certFile)), field('keyFile', 'Key file (PEM)', text('keyFile', p.keyFile)));
  const certSource = select('certSource', ['self-signed', 'letsencrypt', 'upload'], p.certSource);
  certSource.addEventListener('change', () => { upload.hidden = certSource.value !== 'upload'; });
  let confirmDelete = false;
  const form = h('form', { id: 'proxy-form', class: 'proxy-form', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    msg.replaceChildren();
    for (const e of form.querySelectorAll('.field-error')) e.replaceChildren();
    for (const e of form.querySelectorAll('.invalid')) e.classList.remove('invalid');
    const domain = form.elements.domain.value.trim();
    if (!domain) { form.querySelector('#error-domain').append('expected a domain name such as app.example.com'); return; }
    try {
      const r = await api('PUT', `/api/v1/proxies/${encodeURIComponent(domain)}`, { json: proxyOf(form, existing ?? {}) });
      const done = notice('ok', `${domain} saved and applied (config version ${r.version}).`);
      if (existing) msg.append(done);
      else { flash = done; location.hash = `#/edit/${encodeURIComponent(domain)}`; }
    } catch (err) {
      showIssues(form, msg, err);
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
    existing ? h('button', { type: 'button', class: 'danger', id: 'delete', onclick: async (ev) => {
      // Two clicks instead of confirm(): a dialog would block the page.
      if (!confirmDelete) { confirmDelete = true; ev.target.textContent = `Really delete ${existing.domain}?`; return; }
      try {
        await api('DELETE', `/api/v1/proxies/${encodeURIComponent(existing.domain)}`);
        location.hash = '#/edit';
      } catch (err) {
        msg.replaceChildren(notice('error', `Not deleted: ${err.message}`));
      }
    } }, 'Delete') : null,
    existing ? h('a', { href: '#/edit', class: 'button-link' }, 'Add another') : null),
  msg);
  return form;
}

function csvForm() {
  const file = h('input', { id: 'csv-file', type: 'file', accept: '.csv,text/csv' });
  const dry = h('input', { id: 'csv-dry', type: 'checkbox' });
  const msg = h('div', { class: 'form-message', id: 'csv-message' });
  return h('form', { class: 'csv-form', onsubmit: async (ev) => {
    ev.preventDefault();
    msg.replaceChildren();
    const f = file.files[0];
    if (!f) { msg.append(notice('error', 'Choose a CSV file first.')); return; }
    try {
      const r = await api('POST', `/api/v1/import/proxies${dry.checked ? '?dryRun=1' : ''}`, { csv: await f.text() });
      msg.append(notice('ok', r.dryRun ? `${r.import.rows} rows are valid (${r.import.added} would be added, ${r.import.replaced} replaced); nothing changed.`
        : `Imported ${r.import.rows} proxies (${r.import.added} added, ${r.import.replaced} replaced).`));
    } catch (err) {
      msg.append(notice('error', `Not imported, nothing changed: ${err.message.split('\n')[0]}`));
      if (err.issues.length) {
        msg.append(h('table', { class: 'grid narrow' }, h('thead', {}, h('tr', {}, h('th', {}, 'Line'), h('th', {}, 'Column'), h('th', {}, 'Problem'))),
          h('tbody', {}, err.issues.map((i) => h('tr', {}, h('td', {}, i.line ?? '-'), h('td', {}, i.column ?? i.path ?? '-'), h('td', {}, i.message))))));
      }
    }
  } },
  h('h2', {}, 'Import proxies from CSV'),
  h('p', { class: 'hint' }, 'Columns: domain,target,target_port,protocol,ssl,cert_source,websocket,note. All rows or none; a domain already proxied is replaced.'),
  h('div', { class: 'field' }, h('label', { for: 'csv-file' }, 'CSV file'), file),
  h('div', { class: 'field inline' }, dry, h('label', { for: 'csv-dry' }, 'Dry run (validate only)')),
  h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Import')),
  msg);
}

export async function editPage(domain) {
  const { proxies } = await api('GET', '/api/v1/proxies');
  const existing = domain === undefined ? null : proxies.find((p) => p.domain === domain);
  document.title = `${existing ? `Edit ${domain}` : 'Edit'} · idcs-edge`;
  const shown = flash;
  flash = null;
  return h('section', { class: 'edit' },
    h('h1', {}, 'Edit proxies'),
    shown,
    domain !== undefined && !existing ? notice('error', `No proxy for ${domain} in the config.`) : null,
    h('div', { class: 'columns' },
      proxyForm(existing),
      h('div', {},
        h('h2', {}, 'Proxies'),
        h('table', { class: 'grid narrow', id: 'proxy-list' }, h('tbody', {}, proxies.map((p) => h('tr', {},
          h('td', {}, h('a', { href: `#/edit/${encodeURIComponent(p.domain)}` }, p.domain)), h('td', { class: 'muted' }, targetOf(p)))))),
        csvForm())));
}
