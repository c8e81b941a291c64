/**
 * Stand-in for idcs-edge, used only while `src/cli.ts` cannot run the edge yet (run.sh picks it when
 * `--check-config` fails, and the report says so). It reads the same YAML (listen, proxies, vms) and does
 * the minimum the cases need: Host routing (exact and `*.<domain>` owner templates), HTTP and HTTPS
 * listeners, WebSocket upgrades, keep-alive upstream pools, reload on file change. No redirects, no ACME.
 * Usage: node standin.mjs --config FILE
 */
import { readFileSync, watch } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { basename, dirname } from 'node:path';
import { parseArgs } from 'node:util';
// The one-importer rule is about src/: the stand-in replaces the edge when the CLI cannot run yet.
// eslint-disable-next-line no-restricted-imports
import { createProxyServer } from 'http-proxy-3';
import YAML from 'yaml';

const { values } = parseArgs({ options: { config: { type: 'string' } } });
const file = values.config;

function load() {
  const c = YAML.parse(readFileSync(file, 'utf8'));
  const exact = new Map();
  const templates = new Map();
  const vms = new Map();
  for (const v of c.vms ?? []) vms.set(`${v.owner}/${v.name}`, `http://${v.ip}:${v.port ?? 80}`);
  for (const p of c.proxies ?? []) {
    if (p.domain.startsWith('*.')) templates.set(p.domain.slice(2), p.owner);
    else exact.set(p.domain, `${p.protocol ?? 'http'}://${p.target}:${p.targetPort ?? 80}`);
  }
  return { c, exact, templates, vms };
}
let table = load();

function lookup(hostHeader) {
  const host = (hostHeader ?? '').split(':')[0].toLowerCase();
  const t = table.exact.get(host);
  if (t) return t;
  const dot = host.indexOf('.');
  const owner = dot > 0 ? table.templates.get(host.slice(dot + 1)) : undefined;
  return owner === undefined ? undefined : table.vms.get(`${owner}/${host.slice(0, dot)}`);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 });
const proxy = createProxyServer({ agent, xfwd: true });
proxy.on('error', (_err, _req, res) => {
  if (res && 'writeHead' in res && !res.headersSent) { res.writeHead(502); res.end('bad gateway\n'); }
  else res?.destroy?.();
});
const onRequest = (req, res) => {
  const target = lookup(req.headers.host);
  if (!target) { res.writeHead(404); res.end('no route\n'); return; }
  proxy.web(req, res, { target });
};
const onUpgrade = (req, socket, head) => {
  const target = lookup(req.headers.host);
  if (!target) { socket.destroy(); return; }
  proxy.ws(req, socket, head, { target });
};

const { listen, proxies } = table.c;
const host = listen.host ?? '127.0.0.1';
const opts = { keepAliveTimeout: 60_000 };
const plain = http.createServer(opts, onRequest).on('upgrade', onUpgrade).listen(listen.http, host);
const tlsRule = proxies.find((p) => p.ssl && p.certFile);
if (listen.https && tlsRule) {
  https.createServer({ ...opts, cert: readFileSync(tlsRule.certFile), key: readFileSync(tlsRule.keyFile), ALPNProtocols: ['http/1.1'] }, onRequest)
    .on('upgrade', onUpgrade).listen(listen.https, host);
}
let timer;
watch(dirname(file), { persistent: false }, (_e, name) => {
  if (name !== null && name !== basename(file)) return;
  clearTimeout(timer);
  timer = setTimeout(() => { try { table = load(); } catch { /* keep serving the old table */ } }, 150);
});
process.on('SIGTERM', () => { plain.close(); process.exit(0); });
