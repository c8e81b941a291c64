/**
 * Writes every config the harness runs with, from the ports and paths run.sh exports (BENCH_* variables):
 *
 *   node configs.mjs peers                       origin nginx, nginx, HAProxy and Caddy configs in $BENCH_WORK
 *   node configs.mjs edge FILE [options]         an idcs-edge config (JSON if FILE ends in .json, else YAML)
 *        --routes N      add N/2 exact proxies r<i>.example.com and N/2 templates *.u<i>.example.com
 *                        (owner u<i>, one VM "vm1" each); without it: one of each
 *        --probe         add the proxy probe.example.com (the reload case toggles it)
 *        --workers K     add `workers: K` (a number or auto: the workers case; the CLI may reject it)
 *        --bare          without the access rules and never-reached caps on the benchmarked proxies (the
 *                        `cap` case's reference for what the policy step costs)
 *        --admin P       the admin API's port (default: derived from --http, see adminPort)
 *        --level L       log level (default warn; the `apply` case needs info for its `config applied` lines)
 *        --http P --https P   listener ports (default: $BENCH_EDGE_HTTP / $BENCH_EDGE_HTTPS)
 *   node configs.mjs l4                          the TCP-forward peers (HAProxy in TCP mode, nginx's stream module)
 *                                                and the edge's forwards config (edge-l4.yaml) for the l4 and cap cases
 *
 * Every edge config enables the admin API on 127.0.0.1 (its own port, so that edges running side by side
 * do not collide: BASE+22 for the main one, BASE+80.. for the others) and a data folder of its own: metrics
 * and traffic statistics are always on in the edge, so the bench measures them. The benchmarked proxies
 * (plain, bench, ws) carry an access rule that admits loopback, and plain and bench a bandwidth cap they
 * never reach (100 Gbit/s each way), so the http, https, h2 and handshake figures are for the request path
 * with the policy step doing its work, the path users with rules and caps run. The connection limits are
 * off (0): every client of the bench is 127.0.0.1, and ws-idle holds up to 10,000 connections from it.
 *
 * Every peer gets the same three virtual hosts: plain.example.com (HTTP), bench.example.com (HTTPS, the one
 * certificate) and ws.example.com (HTTP, to the WebSocket echo origin). Each peer proxies to its own port
 * of the one origin nginx, so the origin's access log tells which proxy opened which upstream connection.
 */
import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const env = (k) => {
  const v = process.env[k];
  if (v === undefined || v === '') throw new Error(`${k} is not set (run through bench/run.sh)`);
  return v;
};
const W = env('BENCH_WORK');
const P = (k) => Number(env(`BENCH_${k}`));
const CERT = join(W, 'certs', 'cert.pem');
const KEY = join(W, 'certs', 'key.pem');
const MAXCONN = Number(process.env.BENCH_MAXCONN ?? 9800);

/** Writes atomically (temp + rename), as a controller rewriting a live config would. */
function put(file, text) {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** nginx's temp folders, one set per nginx instance (they may not share them). */
function nginxTempPaths(tag) {
  return ['client_body:body', 'proxy:proxy', 'fastcgi:fastcgi', 'uwsgi:uwsgi', 'scgi:scgi']
    .map((kv) => { const [k, v] = kv.split(':'); return `  ${k}_temp_path ${W}/nginx-tmp/${tag}-${v};`; }).join('\n');
}

function originNginx() {
  const ports = ['ORIGIN_EDGE', 'ORIGIN_NGINX', 'ORIGIN_HAPROXY', 'ORIGIN_CADDY'].map(P);
  return `# Origin: a small fixed body. One worker (pinned to core 0 by run.sh).
# The access log records, per request, which port (= which proxy) and which connection it came on;
# $connection_requests == 1 marks a connection the proxy opened.
worker_processes 1;
daemon off;
pid ${W}/origin.pid;
error_log ${W}/logs/origin.error.log warn;
events { worker_connections 16384; }
http {
${nginxTempPaths('origin')}
  log_format conns '$server_port $connection $connection_requests $status';
  access_log ${W}/logs/origin.access.log conns buffer=64k flush=100ms;
  # The origin never closes a proxy's keep-alive connection during a run, so any new upstream
  # connection is the proxy's own doing.
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {
${ports.map((p) => `    listen 127.0.0.1:${p} backlog=4096;`).join('\n')}
    default_type text/plain;
    location / { return 200 "hello from the bench origin\\n"; }
  }
}
`;
}

function nginxProxy() {
  const proxyCommon = `proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;`;
  return `# nginx as the reverse proxy under comparison: one worker, upstream keep-alive, same vhosts as the edge.
worker_processes 1;
worker_rlimit_nofile ${MAXCONN * 2 + 1000};
daemon off;
pid ${W}/nginx-proxy.pid;
error_log ${W}/logs/nginx-proxy.error.log warn;
events { worker_connections ${MAXCONN * 2 + 4096}; }
http {
${nginxTempPaths('proxy')}
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 75s;
  upstream origin {
    server 127.0.0.1:${P('ORIGIN_NGINX')};
    keepalive 256;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${P('NGINX_HTTP')} default_server backlog=4096;
    server_name plain.example.com;
    location / {
      proxy_pass http://origin;
      ${proxyCommon}
    }
  }
  server {
    listen 127.0.0.1:${P('NGINX_HTTP')};
    server_name ws.example.com;
    location / {
      proxy_pass http://127.0.0.1:${P('WS_ORIGIN')};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }
  }
  server {
    # HTTP/2 by ALPN (the h2 case), as the edge and Caddy offer it; wrk offers only HTTP/1.1. nginx 1.22
    # (Debian 12) knows the listen parameter; \`http2 on;\` came with 1.25.1.
    listen 127.0.0.1:${P('NGINX_HTTPS')} ssl http2 default_server backlog=4096;
    server_name bench.example.com;
    ssl_certificate ${CERT};
    ssl_certificate_key ${KEY};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://origin;
      ${proxyCommon}
    }
  }
}
`;
}

function haproxy() {
  return `# HAProxy as the reverse proxy under comparison: one thread, same vhosts as the edge.
global
  nbthread 1
  maxconn ${MAXCONN}
  ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
  mode http
  option forwardfor
  # Reuse idle server connections across client connections (the origin is trusted), as the edge and nginx do.
  http-reuse always
  timeout connect 5s
  timeout client 75s
  timeout server 75s
  timeout http-keep-alive 75s
  timeout tunnel 1h
frontend http_in
  bind 127.0.0.1:${P('HAPROXY_HTTP')} backlog 4096
  use_backend ws if { req.hdr(host),field(1,:) -i ws.example.com }
  default_backend origin
frontend https_in
  bind 127.0.0.1:${P('HAPROXY_HTTPS')} ssl crt ${join(W, 'certs', 'combined.pem')} alpn h2,http/1.1 backlog 4096
  default_backend origin
backend origin
  server o1 127.0.0.1:${P('ORIGIN_HAPROXY')}
backend ws
  server w1 127.0.0.1:${P('WS_ORIGIN')}
`;
}

function caddyfile() {
  return `# Caddy as the reverse proxy under comparison (GOMAXPROCS=1 is set by run.sh), same vhosts as the edge.
{
  admin off
  auto_https off
  storage file_system ${W}/caddy-data
  log default {
    output file ${W}/logs/caddy.log
    level ERROR
  }
}
http://plain.example.com:${P('CADDY_HTTP')} {
  bind 127.0.0.1
  reverse_proxy 127.0.0.1:${P('ORIGIN_CADDY')}
}
http://ws.example.com:${P('CADDY_HTTP')} {
  bind 127.0.0.1
  reverse_proxy 127.0.0.1:${P('WS_ORIGIN')}
}
https://bench.example.com:${P('CADDY_HTTPS')} {
  bind 127.0.0.1
  tls ${CERT} ${KEY}
  reverse_proxy 127.0.0.1:${P('ORIGIN_CADDY')}
}
`;
}

/** YAML with one flow mapping per line (JSON scalars are valid YAML flow scalars; "*.x" must be quoted). */
function toYaml(doc) {
  const flow = (o) => `{ ${Object.entries(o).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ')} }`;
  const lines = ['# idcs-edge under test, generated by bench/lib/configs.mjs'];
  for (const [k, v] of Object.entries(doc)) {
    if (Array.isArray(v)) {
      lines.push(`${k}:`);
      for (const item of v) lines.push(`  - ${flow(item)}`);
    } else if (v !== null && typeof v === 'object') {
      lines.push(`${k}: ${flow(v)}`);
    } else {
      lines.push(`${k}: ${JSON.stringify(v)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The admin port of the edge listening on `http`: BASE+22 for the main edge, BASE+80+i for the i-th other pair (BASE+60, +62, ...). */
function adminPort(http) {
  const base = P('EDGE_HTTP') - 20;
  return http === P('EDGE_HTTP') ? base + 22 : base + 80 + Math.floor((http - base - 60) / 2);
}

/** On the benchmarked proxies: loopback admitted (so the rule is evaluated and passes), and a cap never reached. */
const ACCESS = { allow: ['127.0.0.0/8'] };
const NEVER_REACHED = { ingressMbps: 100000, egressMbps: 100000 };

function edgeConfig({ routes, probe, workers, http, https, note, bare, admin, level }) {
  const o = P('ORIGIN_EDGE');
  const doc = {
    listen: { http, https, host: '127.0.0.1' },
    certs: { dir: join(W, 'edge-certs') },
    data: { dir: join(W, 'edge-data', String(http)) },
    log: { file: null, level: level ?? 'warn' },
    admin: { listen: `127.0.0.1:${admin ?? adminPort(http)}` },
    // Every bench client is 127.0.0.1: the per-client limit (default 256) would refuse ws-idle's thousands.
    limits: { maxConnections: 0, maxConnectionsPerClient: 0 },
  };
  if (workers) doc.workers = workers;
  const n = Math.max(1, Math.floor(routes / 2));
  doc.vms = [];
  for (let i = 0; i < n; i++) doc.vms.push({ name: 'vm1', owner: `u${i}`, ip: '127.0.0.1', port: o });
  const plain = (domain, targetPort, extra = {}) => ({ domain, target: '127.0.0.1', targetPort, protocol: 'http', ssl: false, ...extra });
  // The WebSocket proxy gets the access rule but no cap: a capped upgrade is piped through the token bucket,
  // which the `cap` case measures; ws-idle and ws-echo measure the plain pipe.
  const policies = (withCap) => (bare ? {} : { access: ACCESS, ...(withCap ? { bandwidth: NEVER_REACHED } : {}) });
  doc.proxies = [
    { domain: 'bench.example.com', target: '127.0.0.1', targetPort: o, protocol: 'http', ssl: true, certSource: 'upload', certFile: CERT, keyFile: KEY, websocket: true, ...policies(true) },
    plain('plain.example.com', o, { websocket: true, ...policies(true) }),
    plain('ws.example.com', P('WS_ORIGIN'), { websocket: true, ...policies(false) }),
  ];
  if (probe) doc.proxies.push(plain('probe.example.com', o, { note: note ?? 'reload probe' }));
  for (let i = 0; i < n; i++) {
    doc.proxies.push(plain(`r${i}.example.com`, o));
    doc.proxies.push({ domain: `*.u${i}.example.com`, owner: `u${i}`, protocol: 'http', ssl: false });
  }
  return doc;
}

/** HAProxy in TCP mode: one forward to the iperf3 server, one to the HTTP origin (connection rate). */
function haproxyTcp() {
  return `# HAProxy as the TCP forwarder under comparison: one thread, mode tcp.
global
  nbthread 1
  maxconn ${MAXCONN}
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend iperf
  bind 127.0.0.1:${P('L4_HAPROXY_IPERF')} backlog 4096
  default_backend iperf
frontend web
  bind 127.0.0.1:${P('L4_HAPROXY_WEB')} backlog 4096
  default_backend web
backend iperf
  server i1 127.0.0.1:${P('IPERF')}
backend web
  server o1 127.0.0.1:${P('ORIGIN_HAPROXY')}
`;
}

/** nginx's stream module (a dynamic module in Debian's nginx: libnginx-mod-stream). */
function nginxStream() {
  return `# nginx's stream module as the TCP forwarder under comparison: one worker.
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
daemon off;
pid ${W}/nginx-stream.pid;
error_log ${W}/logs/nginx-stream.error.log warn;
events { worker_connections ${MAXCONN}; }
stream {
  server { listen 127.0.0.1:${P('L4_NGINX_IPERF')} backlog=4096; proxy_pass 127.0.0.1:${P('IPERF')}; }
  server { listen 127.0.0.1:${P('L4_NGINX_WEB')} backlog=4096; proxy_pass 127.0.0.1:${P('ORIGIN_NGINX')}; }
}
`;
}

/**
 * The edge with forwards: plain ones to iperf3 and to the HTTP origin (compared with the peers), one capped
 * on the forward, one to a VM whose cap its connections share, one with a cap it never reaches (the cost of
 * the cap code), and an HTTP listener whose plain.example.com is uncapped in a config where other proxies
 * and a VM have rules and caps (the cost of the policy step on an uncapped route).
 */
function edgeL4Config() {
  const cap = Number(process.env.BENCH_CAP_MBPS ?? 200);
  const o = P('ORIGIN_EDGE');
  const iperf = P('IPERF');
  return {
    listen: { http: P('L4_EDGE_HTTP'), https: P('L4_EDGE_HTTPS'), host: '127.0.0.1' },
    certs: { dir: join(W, 'edge-certs') },
    log: { file: null, level: 'warn' },
    limits: { maxConnections: 0, maxConnectionsPerClient: 0 },
    // 127.0.0.2 is loopback too (iperf3 listens on every address): forwards to 127.0.0.1 are not this VM's.
    vms: [{ name: 'capped', owner: 'bench', ip: '127.0.0.2', bandwidth: { ingressMbps: cap, egressMbps: cap }, access: { allow: ['127.0.0.0/8'] } }],
    proxies: [
      { domain: 'plain.example.com', target: '127.0.0.1', targetPort: o, protocol: 'http', ssl: false },
      { domain: 'capped.example.com', target: '127.0.0.1', targetPort: o, protocol: 'http', ssl: false,
        access: { allow: ['127.0.0.0/8'], deny: ['127.0.0.66'] }, bandwidth: { egressMbps: cap } },
      { domain: '*.bench.example.com', owner: 'bench', protocol: 'http', ssl: false },
    ],
    forwards: [
      { port: P('L4_EDGE_IPERF'), target: '127.0.0.1', targetPort: iperf, note: 'iperf3' },
      { port: P('L4_EDGE_WEB'), target: '127.0.0.1', targetPort: o, note: 'HTTP origin' },
      { port: P('CAP_FORWARD'), target: '127.0.0.1', targetPort: iperf, bandwidth: { ingressMbps: cap, egressMbps: cap }, note: 'forward cap' },
      { port: P('CAP_VM'), vm: { owner: 'bench', name: 'capped' }, targetPort: iperf, note: 'VM cap, shared' },
      { port: P('CAP_HIGH'), target: '127.0.0.1', targetPort: iperf, bandwidth: { ingressMbps: 100000, egressMbps: 100000 }, note: 'cap never reached' },
    ],
  };
}

const [cmd, ...rest] = process.argv.slice(2);
if (cmd === 'peers') {
  put(join(W, 'origin.conf'), originNginx());
  put(join(W, 'nginx-proxy.conf'), nginxProxy());
  put(join(W, 'haproxy.cfg'), haproxy());
  put(join(W, 'Caddyfile'), caddyfile());
} else if (cmd === 'l4') {
  put(join(W, 'haproxy-tcp.cfg'), haproxyTcp());
  put(join(W, 'nginx-stream.conf'), nginxStream());
  put(join(W, 'edge-l4.yaml'), toYaml(edgeL4Config()));
} else if (cmd === 'edge') {
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      routes: { type: 'string', default: '0' },
      probe: { type: 'boolean', default: false },
      workers: { type: 'string' },
      bare: { type: 'boolean', default: false },
      admin: { type: 'string' },
      level: { type: 'string' },
      http: { type: 'string' },
      https: { type: 'string' },
      note: { type: 'string' },
    },
  });
  const doc = edgeConfig({
    routes: Number(values.routes),
    probe: values.probe,
    workers: values.workers === 'auto' ? 'auto' : values.workers ? Number(values.workers) : undefined,
    bare: values.bare,
    admin: values.admin ? Number(values.admin) : undefined,
    level: values.level,
    http: Number(values.http ?? P('EDGE_HTTP')),
    https: Number(values.https ?? P('EDGE_HTTPS')),
    note: values.note,
  });
  put(positionals[0], positionals[0].endsWith('.json') ? `${JSON.stringify(doc)}\n` : toYaml(doc));
} else {
  process.stderr.write('usage: configs.mjs peers | l4 | edge FILE [--routes N] [--probe] [--workers K|auto] [--bare] [--admin P] [--level L]\n');
  process.exit(2);
}
