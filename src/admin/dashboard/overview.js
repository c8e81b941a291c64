// The overview (every proxy: target, certificate, request rate, error rate, last error) and a proxy's
// page (24-hour charts of requests and traffic, status classes, its most recent failures).
import { api, bytesCell, daysLeft, h, normal, notice, percent, rate, targetOf, when } from './api.js';
import { dayChart } from './charts.js';

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

/** What a proxy's certificate looks like: `text`, and `cls` for its colour (ok, warn, bad). */
export function certState(p, certs) {
  if (!p.ssl) return { text: 'no HTTPS', cls: 'muted' };
  const mine = certs.filter((c) => c.domain === normal(p.domain));
  if (mine.length === 0) return { text: 'none needed yet (no VM)', cls: 'muted' };
  const stored = mine.filter((c) => c.certificate);
  const failed = mine.find((c) => c.lastError);
  if (stored.length === 0) return { text: failed ? `missing: ${failed.lastError.code}` : 'missing', cls: 'bad' };
  const soonest = stored.map((c) => c.certificate.notAfter).sort()[0];
  const days = daysLeft(soonest);
  const standIn = stored.some((c) => c.certificate.source !== c.source);
  // The certificate views carry the config's defaults (the proxy is shown as written in the file).
  const source = standIn ? `${mine[0].source}, self-signed stand-in` : mine[0].source;
  const text = days < 0 ? `${source}: expired` : `${source}: ${days} day${days === 1 ? '' : 's'} left`;
  return { text, cls: days < 0 || failed ? 'bad' : days <= 7 || standIn ? 'warn' : 'ok', title: `expires ${when(soonest)}` };
}

const failureText = (f) => [h('code', {}, f.code ?? `HTTP ${f.status}`), ' ', f.message, ' ', h('span', { class: 'muted' }, `(request ${f.id}, ${when(f.at)})`)];

export async function overviewPage() {
  const [{ proxies }, { certificates }, activity] = await Promise.all([
    api('GET', '/api/v1/proxies'), api('GET', '/api/v1/certs'), api('GET', '/api/v1/activity')]);
  document.title = 'Overview · idcs-edge';
  const w = activity.windowSeconds;
  const rows = proxies.map((p) => {
    const a = activity.proxies[normal(p.domain)] ?? { requests: 0, errors: 0, failures: [] };
    const cert = certState(p, certificates);
    const last = a.failures[0];
    return h('tr', { 'data-domain': p.domain },
      h('td', {}, h('a', { href: `#/proxy/${encodeURIComponent(p.domain)}` }, p.domain)),
      h('td', {}, targetOf(p)),
      h('td', {}, h('span', { class: `badge ${p.status === 'serving' ? 'ok' : p.status === 'disabled' ? 'muted' : 'warn'}` }, p.status)),
      h('td', { class: `cert ${cert.cls}`, title: cert.title }, cert.text),
      h('td', { class: 'num' }, rate(a.requests, w)),
      h('td', { class: `num ${a.errors > 0 ? 'bad' : ''}` }, percent(a.errors, a.requests)),
      h('td', { class: 'last-error' }, last ? failureText(last) : h('span', { class: 'muted' }, 'none')));
  });
  return h('section', {},
    h('h1', {}, 'Proxies'),
    proxies.length === 0 ? notice('info', 'No proxies yet: add one under Edit.') : h('table', { class: 'grid', id: 'proxies' },
      h('thead', {}, h('tr', {}, ...['Domain', 'Target', 'Status', 'Certificate', 'Req/s', 'Errors (5xx)', 'Last error'].map((t) => h('th', {}, t)))),
      h('tbody', {}, rows)),
    h('p', { class: 'hint' }, `Rates over the last ${w} seconds; refreshed every 5 seconds.`));
}

export async function proxyPage(domain) {
  const q = `proxy=${encodeURIComponent(domain)}&range=24h`;
  const [p, { certificates }, activity, traffic, requests] = await Promise.all([
    api('GET', `/api/v1/proxies/${encodeURIComponent(domain)}`), api('GET', '/api/v1/certs'), api('GET', '/api/v1/activity'),
    api('GET', `/api/v1/traffic?${q}`), api('GET', `/api/v1/traffic/requests?${q}`)]);
  document.title = `${domain} · idcs-edge`;
  const a = activity.proxies[normal(domain)] ?? { requests: 0, errors: 0, failures: [] };
  const cert = certState(p, certificates);
  const total = CLASSES.reduce((n, c) => n + requests.totals[c], 0);
  return h('section', {},
    h('p', {}, h('a', { href: '#/' }, '← all proxies')),
    h('h1', {}, domain),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Target'), h('dd', {}, targetOf(p)),
      h('dt', {}, 'Status'), h('dd', {}, p.status),
      h('dt', {}, 'Certificate'), h('dd', { class: cert.cls, title: cert.title }, cert.text),
      h('dt', {}, 'Now'), h('dd', {}, `${rate(a.requests, activity.windowSeconds)} req/s, ${percent(a.errors, a.requests)} errors`),
      h('dt', {}, 'Traffic (24 h)'), h('dd', {}, 'in ', bytesCell(traffic.totals.in), ', out ', bytesCell(traffic.totals.out)),
      h('dt', {}, 'Note'), h('dd', {}, p.note ?? '')),
    h('p', {}, h('a', { href: `#/edit/${encodeURIComponent(domain)}` }, 'Edit this proxy')),
    h('div', { class: 'charts' },
      dayChart('Requests per minute, last 24 hours', requests.series, CLASSES, 'count'),
      dayChart('Bytes per minute, last 24 hours', traffic.series, ['in', 'out'], 'bytes')),
    h('h2', {}, 'Status classes (24 h)'),
    h('table', { class: 'grid narrow', id: 'classes' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Class'), h('th', {}, 'Requests'), h('th', {}, 'Share'))),
      h('tbody', {}, CLASSES.map((c) => h('tr', {}, h('td', {}, c), h('td', { class: 'num' }, requests.totals[c]), h('td', { class: 'num' }, percent(requests.totals[c], total)))))),
    h('h2', {}, 'Most recent failures'),
    a.failures.length === 0 ? notice('ok', 'No failures recorded since the edge started.') : h('table', { class: 'grid', id: 'failures' },
      h('thead', {}, h('tr', {}, ...['Time', 'Status', 'Code', 'Message', 'Request ID', 'Request'].map((t) => h('th', {}, t)))),
      h('tbody', {}, a.failures.map((f) => h('tr', {},
        h('td', {}, when(f.at)), h('td', { class: 'num' }, f.status), h('td', {}, h('code', {}, f.code ?? '-')), h('td', {}, f.message),
        h('td', {}, h('code', {}, f.id)), h('td', {}, `${f.method} ${f.host}${f.path}`))))));
}
