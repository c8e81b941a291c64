// The dashboard's calls to the admin API (same origin, the session cookie) and the small helpers every
// page uses: an element builder (text is always set as text, never parsed as HTML) and number formats.

/** A refusal of the API: its status, code, message and, for config and CSV refusals, the issues. */
export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `the edge answered ${status}`);
    this.status = status;
    this.code = e.code || null;
    this.issues = e.issues || [];
  }
}

/** Calls the API; resolves to the parsed JSON (null for 204), rejects with ApiError. */
export async function api(method, path, opts = {}) {
  const headers = {};
  let body;
  if (opts.json !== undefined) { headers['content-type'] = 'application/json'; body = JSON.stringify(opts.json); }
  if (opts.csv !== undefined) { headers['content-type'] = 'text/csv'; body = opts.csv; }
  const res = await fetch(path, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
  const text = await res.text();
  let parsed = null;
  if (text) { try { parsed = JSON.parse(text); } catch { parsed = text; } }
  if (!res.ok) throw new ApiError(res.status, parsed);
  return parsed;
}

/** `h('a', { href: '#/' }, 'text', child)`: an element with attributes (on* as listeners) and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 -> "1.5 KiB". */
export function bytes(n) {
  let v = Number(n) || 0;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${UNITS[i]}`;
}

/** A byte count with the exact number in its tooltip. */
export const bytesCell = (n) => h('span', { title: `${Number(n).toLocaleString('en')} bytes` }, bytes(n));

export const DAY_MS = 86_400_000;

/** "2026-12-01 02:00" (UTC). */
export function when(iso) {
  return iso ? `${iso.slice(0, 16).replace('T', ' ')} UTC` : '-';
}

/** Whole days from now to `iso` (negative once past). */
export function daysLeft(iso) {
  return Math.floor((Date.parse(iso) - Date.now()) / DAY_MS);
}

export function rate(requests, seconds) {
  const r = requests / seconds;
  return r === 0 ? '0' : r < 0.1 ? r.toFixed(2) : r.toFixed(1);
}

export function percent(part, whole) {
  return whole === 0 ? '-' : `${((100 * part) / whole).toFixed(part === 0 ? 0 : 1)} %`;
}

/** A domain as the edge compares it (the API lists proxies as written in the file: case and a trailing dot kept). */
export const normal = (domain) => String(domain).trim().toLowerCase().replace(/\.$/, '');

/** The text shown for where a proxy sends its requests. */
export function targetOf(p) {
  if (p.owner) return `VMs of ${p.owner}${p.targetPort ? ` (port ${p.targetPort} unless the VM names its own)` : ''}`;
  return `${p.protocol ?? 'http'}://${p.target}:${p.targetPort ?? (p.protocol === 'https' ? 443 : 80)}`;
}

/** A message line: `kind` is ok, error or info. */
export const notice = (kind, ...text) => h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...text);
