#!/usr/bin/env bash
# idcs-edge benchmark: the edge against nginx, HAProxy and Caddy on loopback, same origin, same certificate,
# one worker each, proxy pinned to one core and load generator + origins to the other. Writes a Markdown
# report and prints it: a full run to bench/results/<stamp>.md and latest.md, a quick or partial run
# (BENCH_QUICK, BENCH_CASES or BENCH_PROXIES set) to bench/results/quick-<stamp>.md only (git-ignored).
# See bench/README.md.
#
# Environment (all optional):
#   BENCH_QUICK=1            each case once, 2 s, for development
#   BENCH_RUNS, BENCH_DURATION, BENCH_WARMUP   repetitions per case, seconds per run, warm-up seconds
#   BENCH_CASES="http https handshake h2 ws-echo ws-idle routes apply reload workers l4 cap fleet profile"
#   BENCH_PROXIES="edge nginx haproxy caddy"
#   BENCH_EDGE=auto|cli|standin    auto: the real CLI if `--check-config` accepts the bench config
#   BENCH_ROUTES=100000      size of the big route table (routes and apply cases)
#   BENCH_APPLY_CHANGES=3    one-route API changes timed on the big edge (apply case; 1 in quick mode)
#   BENCH_H2_CONNS=50 BENCH_H2_STREAMS=10   h2load clients and concurrent streams per client (h2 case)
#   BENCH_WS_SIZES=5000,10000  idle WebSocket connection counts (capped by the fd limit)
#   BENCH_PORT_BASE=18000    ports BASE..BASE+99 on 127.0.0.1
#   BENCH_CAP_MBPS=200       the bandwidth cap the cap case measures
#   BENCH_PROXY_CPU=1 BENCH_LOAD_CPU=0
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
NODE=${BENCH_NODE:-$ROOT/node_modules/.bin/node}
WORK=$BENCH/.work
RESULTS=$BENCH/results
QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then
  RUNS=${BENCH_RUNS:-1}; DUR=${BENCH_DURATION:-2}; WARM=${BENCH_WARMUP:-1}
else
  RUNS=${BENCH_RUNS:-3}; DUR=${BENCH_DURATION:-5}; WARM=${BENCH_WARMUP:-2}
fi
CASES=${BENCH_CASES:-"http https handshake h2 ws-echo ws-idle routes apply reload workers l4 cap fleet profile"}
PROXIES=${BENCH_PROXIES:-"edge nginx haproxy caddy"}
ROUTES=${BENCH_ROUTES:-100000}
WS_SIZES=${BENCH_WS_SIZES:-5000,10000}
WS_ECHO_CONNS=${BENCH_WS_ECHO_CONNS:-50}
HS_CONNS=${BENCH_HANDSHAKE_CONNS:-50}
H2_CONNS=${BENCH_H2_CONNS:-50}
H2_STREAMS=${BENCH_H2_STREAMS:-10}
APPLY_CHANGES=${BENCH_APPLY_CHANGES:-$([[ $QUICK == 1 ]] && echo 1 || echo 3)}
PROXY_CPU=${BENCH_PROXY_CPU:-1}
LOAD_CPU=${BENCH_LOAD_CPU:-0}
BASE=${BENCH_PORT_BASE:-18000}

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
has_case() { [[ " $CASES " == *" $1 "* ]]; }

# ---------------------------------------------------------------- tools from Debian, installed if missing
install_tools() {
  local need=() pair
  for pair in nginx:nginx haproxy:haproxy caddy:caddy wrk:wrk h2load:nghttp2-client curl:curl openssl:openssl taskset:util-linux unshare:util-linux iperf3:iperf3 redis-server:redis-server; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
  done
  # nginx's stream module (TCP forwarding, the l4 case) is a separate Debian package.
  [[ -e /usr/lib/nginx/modules/ngx_stream_module.so ]] || need+=(libnginx-mod-stream)
  ((${#need[@]})) || return 0
  [[ $(id -u) == 0 ]] || die "missing ${need[*]}: run as root or apt-get install them"
  log "installing from Debian: ${need[*]}"
  # Keep the packages' own services (nginx on :80 ...) from starting: the bench starts its own.
  local made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${need[@]}" >/dev/null
  ((made_policy)) && rm -f /usr/sbin/policy-rc.d
  return 0
}

# ---------------------------------------------------------------- process bookkeeping (kill by PID only)
declare -A PID=()
proc_tree() { "$NODE" "$BENCH/lib/proc.mjs" tree "$1" 2>/dev/null || true; }

# start NAME CPU CMD...: runs CMD pinned to CPU, output to .work/logs/NAME.out
start() {
  local name=$1 cpu=$2; shift 2
  taskset -c "$cpu" "$@" >"$WORK/logs/$name.out" 2>&1 &
  PID[$name]=$!
  echo "$! $name" >>"$WORK/pids"
}

# stop NAME: SIGTERM to the process, then SIGKILL to whatever of its tree is left after 5 s.
stop() {
  local name=$1 pid=${PID[$1]:-} tree p i
  [[ -n $pid ]] || return 0
  tree=$(proc_tree "$pid")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  for p in $tree; do kill -KILL "$p" 2>/dev/null || true; done
  wait "$pid" 2>/dev/null || true
  unset "PID[$name]"
}

cleanup() {
  local rc=$? name
  trap - EXIT INT TERM
  for name in "${!PID[@]}"; do stop "$name"; done
  [[ -n ${SNAP_DIR:-} && -d $SNAP_DIR ]] && rm -rf "$SNAP_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# wait_port PORT NAME [SECONDS]: until 127.0.0.1:PORT accepts, or NAME's process died, or time is up.
wait_port() {
  local port=$1 name=$2 limit=${3:-30} start=$SECONDS
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    kill -0 "${PID[$name]}" 2>/dev/null || { tail -20 "$WORK/logs/$name.out" >&2; die "$name exited during start"; }
    ((SECONDS - start < limit)) || die "$name did not listen on $port within ${limit}s"
    sleep 0.05
  done
}

# ---------------------------------------------------------------- set-up
install_tools
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDS=$(ulimit -n)
# A proxied WebSocket costs the proxy two descriptors; keep some headroom for listeners, logs and
# connections being set up (nginx starts refusing a few hundred short of worker_connections).
MAXCONN=$(((FDS - 1024) / 2))
export BENCH_MAXCONN=$MAXCONN

rm -rf "$WORK"
mkdir -p "$WORK"/{logs,certs,edge-certs,nginx-tmp,caddy-data,prof} "$RESULTS"
: >"$WORK/pids"
RES=$WORK/results.jsonl
: >"$RES"

export BENCH_WORK=$WORK
export BENCH_ORIGIN_EDGE=$((BASE + 1)) BENCH_ORIGIN_NGINX=$((BASE + 2)) BENCH_ORIGIN_HAPROXY=$((BASE + 3)) BENCH_ORIGIN_CADDY=$((BASE + 4))
export BENCH_WS_ORIGIN=$((BASE + 10))
export BENCH_EDGE_HTTP=$((BASE + 20)) BENCH_EDGE_HTTPS=$((BASE + 21))
export BENCH_NGINX_HTTP=$((BASE + 30)) BENCH_NGINX_HTTPS=$((BASE + 31))
export BENCH_HAPROXY_HTTP=$((BASE + 40)) BENCH_HAPROXY_HTTPS=$((BASE + 41))
export BENCH_CADDY_HTTP=$((BASE + 50)) BENCH_CADDY_HTTPS=$((BASE + 51))
# TCP forwards (the l4 and cap cases): the iperf3 server, each forwarder's two forwards, the edge's capped ones.
export BENCH_IPERF=$((BASE + 72))
export BENCH_L4_EDGE_IPERF=$((BASE + 80)) BENCH_L4_EDGE_WEB=$((BASE + 81)) BENCH_L4_HAPROXY_IPERF=$((BASE + 82)) BENCH_L4_HAPROXY_WEB=$((BASE + 83))
export BENCH_L4_NGINX_IPERF=$((BASE + 84)) BENCH_L4_NGINX_WEB=$((BASE + 85))
export BENCH_CAP_FORWARD=$((BASE + 86)) BENCH_CAP_VM=$((BASE + 87)) BENCH_CAP_HIGH=$((BASE + 88))
export BENCH_L4_EDGE_HTTP=$((BASE + 89)) BENCH_L4_EDGE_HTTPS=$((BASE + 90))
export BENCH_CAP_MBPS=${BENCH_CAP_MBPS:-200}
declare -A L4_IPERF=([edge]=$BENCH_L4_EDGE_IPERF [haproxy]=$BENCH_L4_HAPROXY_IPERF [nginx]=$BENCH_L4_NGINX_IPERF)
declare -A L4_WEB=([edge]=$BENCH_L4_EDGE_WEB [haproxy]=$BENCH_L4_HAPROXY_WEB [nginx]=$BENCH_L4_NGINX_WEB)
declare -A L4_PID_NAME=([edge]=edge-l4 [haproxy]=haproxy-tcp [nginx]=nginx-stream)
declare -A L4_ORIGIN=([edge]=$BENCH_ORIGIN_EDGE [haproxy]=$BENCH_ORIGIN_HAPROXY [nginx]=$BENCH_ORIGIN_NGINX)
declare -A HTTP_PORT=([edge]=$BENCH_EDGE_HTTP [nginx]=$BENCH_NGINX_HTTP [haproxy]=$BENCH_HAPROXY_HTTP [caddy]=$BENCH_CADDY_HTTP)
declare -A HTTPS_PORT=([edge]=$BENCH_EDGE_HTTPS [nginx]=$BENCH_NGINX_HTTPS [haproxy]=$BENCH_HAPROXY_HTTPS [caddy]=$BENCH_CADDY_HTTPS)
declare -A ORIGIN_PORT=([edge]=$BENCH_ORIGIN_EDGE [nginx]=$BENCH_ORIGIN_NGINX [haproxy]=$BENCH_ORIGIN_HAPROXY [caddy]=$BENCH_ORIGIN_CADDY)

busy=$(ss -Hltn "sport >= :$BASE and sport <= :$((BASE + 99))" | awk '{print $4}' | tr '\n' ' ')
[[ -z $busy ]] || die "ports in use in $BASE..$((BASE + 99)): $busy (set BENCH_PORT_BASE)"

# One ECDSA P-256 certificate for every TLS listener, made now, never committed.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 90 \
  -subj /CN=bench.example.com -addext 'subjectAltName=DNS:bench.example.com,DNS:*.example.com' \
  -keyout "$WORK/certs/key.pem" -out "$WORK/certs/cert.pem" 2>/dev/null
chmod 600 "$WORK/certs/key.pem"
cat "$WORK/certs/cert.pem" "$WORK/certs/key.pem" >"$WORK/certs/combined.pem"

# HTTPS load goes to https://bench.example.com:PORT so the client sends the real SNI. wrk resolves names
# through /etc/hosts, so it runs in a private mount namespace where a bind-mounted hosts file maps the name
# to 127.0.0.1 (the machine's /etc/hosts is not touched). Without namespaces: https://127.0.0.1 + Host.
printf '127.0.0.1 localhost\n127.0.0.1 bench.example.com plain.example.com ws.example.com\n' >"$WORK/hosts"
if unshare -m sh -c 'mount --bind "$0" /etc/hosts && getent hosts bench.example.com' "$WORK/hosts" >/dev/null 2>&1; then
  SNI_MODE=namespace; HTTPS_HOST=bench.example.com
else
  SNI_MODE=ip; HTTPS_HOST=127.0.0.1
fi

"$NODE" "$BENCH/lib/configs.mjs" peers
"$NODE" "$BENCH/lib/configs.mjs" edge "$WORK/edge.yaml"

# The edge runs from a copy of src/ taken now, so that every case measures the same code even while
# src/ is being edited (node_modules is shared through a symlink). The copy lives outside the repository,
# where neither tsc nor eslint would pick it up, and is removed on exit.
SNAP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/idcs-edge-bench.XXXXXX")
SNAP=$SNAP_DIR/edge-src
GIT_COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
GIT_DIRTY=false
[[ -n $(git -C "$ROOT" status --porcelain -- src 2>/dev/null) ]] && GIT_DIRTY=true
SRC_HASH=none
if [[ -f $ROOT/src/cli.ts ]]; then
  mkdir -p "$SNAP"
  cp -a "$ROOT/src" "$SNAP/src"
  cp "$ROOT/package.json" "$SNAP/package.json"
  ln -s "$ROOT/node_modules" "$SNAP/node_modules"
  SRC_HASH=$(cd "$SNAP" && find src -type f | LC_ALL=C sort | xargs sha1sum | sha1sum | cut -c1-12)
fi

# The edge: the real CLI once it accepts the config, else the stand-in (the report says which ran).
EDGE_KIND=${BENCH_EDGE:-auto}
if [[ $EDGE_KIND == auto ]]; then
  if [[ -f $SNAP/src/cli.ts ]] && (cd "$SNAP" && "$NODE" src/cli.ts --check-config --config "$WORK/edge.yaml") >"$WORK/logs/check-config.out" 2>&1; then
    EDGE_KIND=cli
  else
    EDGE_KIND=standin
    log "src/cli.ts cannot run the bench config yet (see .work/logs/check-config.out): using the stand-in"
  fi
fi
EDGE_NODE_FLAGS=()
# The Node flags users run the edge with: those of `npm start` (package.json), e.g. --max-semi-space-size,
# so the bench measures the process as it is shipped, and follows when the shipped flags change.
read -r -a EDGE_RUN_FLAGS <<<"$("$NODE" -e 'const s = require(process.argv[1]).scripts?.start ?? "";
  const m = /^node\s+(.*?)\s*src\/cli\.ts/.exec(s); console.log(m ? m[1] : "")' "${SNAP:-$ROOT}/package.json" 2>/dev/null || true)"
edge_cmd() { # CONFIG
  if [[ $EDGE_KIND == cli ]]; then echo "$NODE" "${EDGE_RUN_FLAGS[@]}" "${EDGE_NODE_FLAGS[@]}" "$SNAP/src/cli.ts" --config "$1"
  else echo "$NODE" "${EDGE_NODE_FLAGS[@]}" "$BENCH/lib/standin.mjs" --config "$1"; fi
}

spawn_edge() { # NAME CONFIG [CPUS]: starts the edge pinned to CPUS (default: the proxy core), does not wait
  # shellcheck disable=SC2046
  (cd "$SNAP" 2>/dev/null || cd "$ROOT"; exec taskset -c "${3:-$PROXY_CPU}" $(edge_cmd "$2")) >"$WORK/logs/$1.out" 2>&1 &
  PID[$1]=$!
  echo "$! $1" >>"$WORK/pids"
}
start_edge() { # NAME CONFIG HTTP_PORT HTTPS_PORT [LIMIT_SECONDS] [CPUS]
  spawn_edge "$1" "$2" "${6:-}"
  wait_port "$3" "$1" "${5:-30}"
  wait_port "$4" "$1" "${5:-30}"
}

start_proxy() { # NAME (edge|nginx|haproxy|caddy)
  case $1 in
    edge) start_edge edge "$WORK/edge.yaml" "$BENCH_EDGE_HTTP" "$BENCH_EDGE_HTTPS" ;;
    nginx) start nginx "$PROXY_CPU" nginx -p "$WORK" -e "$WORK/logs/nginx-proxy.error.log" -c "$WORK/nginx-proxy.conf" ;;
    haproxy) start haproxy "$PROXY_CPU" haproxy -db -f "$WORK/haproxy.cfg" ;;
    caddy) start caddy "$PROXY_CPU" env GOMAXPROCS=1 HOME="$WORK" XDG_DATA_HOME="$WORK/caddy-data" \
      XDG_CONFIG_HOME="$WORK/caddy-data" caddy run --config "$WORK/Caddyfile" --adapter caddyfile ;;
    *) die "unknown proxy $1" ;;
  esac
  [[ $1 == edge ]] || { wait_port "${HTTP_PORT[$1]}" "$1"; wait_port "${HTTPS_PORT[$1]}" "$1"; }
}

log "origins on cpu $LOAD_CPU; proxies on cpu $PROXY_CPU; edge: $EDGE_KIND; runs $RUNS x ${DUR}s"
start origin "$LOAD_CPU" nginx -p "$WORK" -e "$WORK/logs/origin.error.log" -c "$WORK/origin.conf"
start ws-origin "$LOAD_CPU" "$NODE" "$BENCH/lib/ws-origin.mjs" "$BENCH_WS_ORIGIN"
wait_port "$BENCH_ORIGIN_EDGE" origin
wait_port "$BENCH_WS_ORIGIN" ws-origin
for p in $PROXIES; do start_proxy "$p"; done
ORIGIN_LOG=$WORK/logs/origin.access.log

# Every proxy answers 200 for each virtual host before anything is measured.
for p in $PROXIES; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: plain.example.com' "http://127.0.0.1:${HTTP_PORT[$p]}/")
  [[ $code == 200 ]] || die "$p: plain.example.com answered $code"
  code=$(curl -sk -o /dev/null -w '%{http_code}' --resolve "bench.example.com:${HTTPS_PORT[$p]}:127.0.0.1" "https://bench.example.com:${HTTPS_PORT[$p]}/")
  [[ $code == 200 ]] || die "$p: https bench.example.com answered $code"
done

# ---------------------------------------------------------------- measurement helpers
cpu_ticks() { "$NODE" "$BENCH/lib/proc.mjs" cpu "$1"; }
rss_kb() { "$NODE" "$BENCH/lib/proc.mjs" rss "$1"; }
now_s() { date +%s.%N; }

# wrk_json NAME_OF_PROCESS ORIGIN_PORT SCHEME PORT HOST CONNS SECONDS [wrk args...]
# Prints one JSON object: wrk's summary, proxy CPU use, and the upstream connections the proxy opened
# (origin access-log lines on its port with $connection_requests == 1) during the run.
wrk_json() {
  local name=$1 oport=$2 scheme=$3 port=$4 host=$5 conns=$6 secs=$7 c0 c1 t0 t1 k0 k1 out wj newconns originreq url
  shift 7
  if [[ $scheme == https ]]; then url="https://$HTTPS_HOST:$port/"; else url="http://127.0.0.1:$port/"; fi
  : >"$ORIGIN_LOG" # nginx appends (O_APPEND), so truncating starts this run's window and bounds the file
  c0=$(cpu_ticks "${PID[$name]}"); t0=$(now_s); k0=$(core_busy)
  local cmd=(wrk -t1 "-c$conns" "-d${secs}s" --latency --timeout 5s -s "$BENCH/lib/wrk-json.lua" -H "Host: $host" "$@" "$url")
  if [[ $scheme == https && $SNI_MODE == namespace ]]; then
    out=$(taskset -c "$LOAD_CPU" unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$WORK/hosts" "${cmd[@]}" 2>&1) || true
  else
    out=$(taskset -c "$LOAD_CPU" "${cmd[@]}" 2>&1) || true
  fi
  k1=$(core_busy); t1=$(now_s); c1=$(cpu_ticks "${PID[$name]}")
  sleep 0.3 # origin access log flushes every 100 ms
  read -r newconns originreq < <(awk -v p="$oport" '$1 == p { r++; if ($3 == 1) n++ } END { print n + 0, r + 0 }' "$ORIGIN_LOG")
  wj=$(grep -m1 '^WRKJSON ' <<<"$out" | cut -d' ' -f2-)
  [[ -n $wj ]] || { log "wrk produced no summary: $(tail -3 <<<"$out" | tr '\n' ' ')"; wj=null; }
  printf '{"wrk":%s,%s,"upstreamNew":%s,"originRequests":%s}' "$wj" "$(cpu_fields "$c0" "$c1" "$t0" "$t1" "$k0" "$k1")" "$newconns" "$originreq"
}

# core_busy: "PROXY_CORE_TICKS LOAD_CORE_TICKS", the non-idle time of both cores from /proc/stat.
core_busy() {
  awk -v p="cpu$PROXY_CPU" -v l="cpu$LOAD_CPU" '$1 == p { pb = $2 + $3 + $4 + $7 + $8 + $9 } $1 == l { lb = $2 + $3 + $4 + $7 + $8 + $9 }
    END { print pb ":" lb }' /proc/stat
}

# cpu_fields TICKS0 TICKS1 T0 T1 [CORES0 CORES1]: the proxy's CPU seconds (USER_HZ = 100 ticks/s), wall
# seconds and CPU %; with core readings also the proxy core's busy time NOT spent in the proxy (other
# programs on this shared machine: noise) and the load core's busy %.
cpu_fields() {
  awk -v a="$1" -v b="$2" -v s="$3" -v e="$4" -v k0="${5:-}" -v k1="${6:-}" 'BEGIN {
    printf "\"cpuS\":%.2f,\"wallS\":%.3f,\"cpuPct\":%.1f", (b - a) / 100, e - s, (b - a) / (e - s)
    if (k0 != "" && k1 != "") {
      split(k0, x, ":"); split(k1, y, ":")
      other = (y[1] - x[1]) - (b - a); if (other < 0) other = 0
      printf ",\"otherOnProxyCorePct\":%.1f,\"loadCorePct\":%.1f", other / (e - s), (y[2] - x[2]) / (e - s)
    } }'
}

record() { # CASE VARIANT PROXY RUN JSON
  printf '{"case":"%s","variant":"%s","proxy":"%s","run":%s,"data":%s}\n' "$1" "$2" "$3" "$4" "$5" >>"$RES"
}

# http_case CASE SCHEME CONNS [wrk args...]: warm every proxy, then RUNS rounds, proxies interleaved.
http_case() {
  local cs=$1 scheme=$2 conns=$3 p r port host j
  shift 3
  host=plain.example.com; [[ $scheme == https ]] && host=bench.example.com
  for p in $PROXIES; do
    if [[ $scheme == https ]]; then port=${HTTPS_PORT[$p]}; else port=${HTTP_PORT[$p]}; fi
    wrk_json "$p" "${ORIGIN_PORT[$p]}" "$scheme" "$port" "$host" "$conns" "$WARM" "$@" >/dev/null
  done
  for ((r = 1; r <= RUNS; r++)); do
    for p in $PROXIES; do
      if [[ $scheme == https ]]; then port=${HTTPS_PORT[$p]}; else port=${HTTP_PORT[$p]}; fi
      j=$(wrk_json "$p" "${ORIGIN_PORT[$p]}" "$scheme" "$port" "$host" "$conns" "$DUR" "$@")
      record "$cs" "c$conns" "$p" "$r" "$j"
      log "$cs c$conns $p run $r: $(summary "$j")"
    done
  done
}
summary() { "$NODE" -e 'const d=JSON.parse(process.argv[1]);const w=d.wrk;if(!w){console.log("no result");process.exit()}
const s=w.duration_us/1e6;console.log(`${(w.requests/s).toFixed(0)} req/s p99 ${(w.lat_us.p99/1000).toFixed(2)} ms cpu ${d.cpuPct}% (others on its core ${d.otherOnProxyCorePct}%, load core ${d.loadCorePct}%) upstream-new ${d.upstreamNew} errors ${JSON.stringify(w.errors)}`)' "$1"; }

# iperf_json NAME PORT [iperf3 args...]: one iperf3 run of DUR seconds through a forward of process NAME
# (client on the load core, server already running there); prints the rate received and the proxy's CPU.
iperf_json() {
  local name=$1 port=$2 c0 c1 t0 t1 k0 k1 out bps
  shift 2
  c0=$(cpu_ticks "${PID[$name]}"); t0=$(now_s); k0=$(core_busy)
  out=$(taskset -c "$LOAD_CPU" iperf3 -c 127.0.0.1 -p "$port" -t "$DUR" -O 1 -J "$@" 2>&1) || true
  k1=$(core_busy); t1=$(now_s); c1=$(cpu_ticks "${PID[$name]}")
  bps=$("$NODE" -e 'try { const j = JSON.parse(process.argv[1]); const r = j.end?.sum_received?.bits_per_second;
    console.log(Number.isFinite(r) ? r : "null") } catch { console.log("null") }' "$out")
  [[ $bps != null ]] || log "iperf3 through $name:$port gave no result: $(tail -c 300 <<<"$out" | tr '\n' ' ')"
  printf '{"bps":%s,%s}' "$bps" "$(cpu_fields "$c0" "$c1" "$t0" "$t1" "$k0" "$k1")"
}
iperf_summary() { "$NODE" -e 'const d=JSON.parse(process.argv[1]);console.log(d.bps===null?"no result":`${(d.bps/1e9).toFixed(2)} Gbit/s cpu ${d.cpuPct}%`)' "$1"; }

# h2load_json NAME PORT SECONDS: one h2load run (HTTP/2 over TLS, ALPN h2) of SECONDS against
# https://bench.example.com:PORT, connecting to 127.0.0.1:PORT (so SNI and :authority are the real name);
# prints h2load's summary (lib/h2load-json.mjs) and the proxy's CPU use. Bounded by timeout(1).
h2load_json() {
  local name=$1 port=$2 secs=$3 c0 c1 t0 t1 k0 k1 out hj
  c0=$(cpu_ticks "${PID[$name]}"); t0=$(now_s); k0=$(core_busy)
  out=$(taskset -c "$LOAD_CPU" timeout -k 5 $((secs + 30)) h2load -t 1 -c "$H2_CONNS" -m "$H2_STREAMS" -D "${secs}s" \
    --connect-to="127.0.0.1:$port" "https://bench.example.com:$port/" 2>&1) || true
  k1=$(core_busy); t1=$(now_s); c1=$(cpu_ticks "${PID[$name]}")
  hj=$("$NODE" "$BENCH/lib/h2load-json.mjs" <<<"$out")
  printf '{"h2":%s,%s}' "$hj" "$(cpu_fields "$c0" "$c1" "$t0" "$t1" "$k0" "$k1")"
}
h2_summary() { "$NODE" -e 'const d=JSON.parse(process.argv[1]);const h=d.h2;if(h.error){console.log(h.error);process.exit()}
console.log(`${(h.succeeded/h.durationS).toFixed(0)} req/s (${h.protocol}) mean ${h.lat_ms?.mean} ms cpu ${d.cpuPct}% (others on its core ${d.otherOnProxyCorePct}%, load core ${d.loadCorePct}%) failed ${h.failed} errored ${h.errored}`)' "$1"; }

# The forwarders of the l4 and cap cases (started once, by whichever case comes first).
L4_UP=0
start_l4() {
  ((L4_UP)) && return 0
  "$NODE" "$BENCH/lib/configs.mjs" l4
  start iperf3 "$LOAD_CPU" iperf3 -s -p "$BENCH_IPERF"
  wait_port "$BENCH_IPERF" iperf3
  start_edge edge-l4 "$WORK/edge-l4.yaml" "$BENCH_L4_EDGE_HTTP" "$BENCH_L4_EDGE_HTTPS"
  wait_port "$BENCH_L4_EDGE_IPERF" edge-l4
  start haproxy-tcp "$PROXY_CPU" haproxy -db -f "$WORK/haproxy-tcp.cfg"
  wait_port "$BENCH_L4_HAPROXY_IPERF" haproxy-tcp
  start nginx-stream "$PROXY_CPU" nginx -p "$WORK" -e "$WORK/logs/nginx-stream.error.log" -c "$WORK/nginx-stream.conf"
  wait_port "$BENCH_L4_NGINX_IPERF" nginx-stream
  L4_UP=1
}
stop_l4() { ((L4_UP)) || return 0; stop nginx-stream; stop haproxy-tcp; stop edge-l4; stop iperf3; L4_UP=0; }

# ---------------------------------------------------------------- cases
T_START=$SECONDS
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

if has_case http; then
  log "case: HTTP/1.1 keep-alive"
  http_case http-ka http 50
  http_case http-ka http 200
  # Metrics are always on in the edge (its admin API listens on BASE+22): its own count of what it served
  # goes into the report, so the figures above are with metrics recording.
  if [[ " $PROXIES " == *" edge "* && $EDGE_KIND == cli ]]; then
    counted=$(curl -s -H "Authorization: Bearer $(cat "$WORK/admin.token")" "http://127.0.0.1:$((BASE + 22))/metrics" \
      | awk '/^idcs_edge_http_requests_total\{proxy="plain.example.com"/ { n += $2 } END { printf "%d", n }')
    record metrics http-ka edge 1 "{\"requestsCounted\":${counted:-0}}"
    log "metrics: the edge counted ${counted:-0} requests to plain.example.com"
  fi
fi

if has_case https; then
  log "case: HTTPS keep-alive"
  http_case https-ka https 50
  http_case https-ka https 200
fi

if has_case handshake; then
  log "case: new TLS handshakes (Connection: close)"
  http_case handshake https "$HS_CONNS" -H 'Connection: close'
fi

if has_case h2; then
  log "case: HTTP/2 over TLS (h2load, $H2_CONNS connections x $H2_STREAMS streams)"
  for p in $PROXIES; do h2load_json "$p" "${HTTPS_PORT[$p]}" "$WARM" >/dev/null; done
  for ((r = 1; r <= RUNS; r++)); do
    for p in $PROXIES; do
      j=$(h2load_json "$p" "${HTTPS_PORT[$p]}" "$DUR")
      record h2 "c${H2_CONNS}m$H2_STREAMS" "$p" "$r" "$j"
      log "h2 $p run $r: $(h2_summary "$j")"
    done
  done
fi

if has_case ws-echo; then
  log "case: WebSocket echo round trips"
  for p in $PROXIES; do
    taskset -c "$LOAD_CPU" "$NODE" "$BENCH/lib/ws-client.mjs" --mode echo --port "${HTTP_PORT[$p]}" --conns "$WS_ECHO_CONNS" \
      --duration "$WARM" --warmup 0 >/dev/null
  done
  for ((r = 1; r <= RUNS; r++)); do
    for p in $PROXIES; do
      c0=$(cpu_ticks "${PID[$p]}"); t0=$(now_s); k0=$(core_busy)
      out=$(taskset -c "$LOAD_CPU" "$NODE" "$BENCH/lib/ws-client.mjs" --mode echo --port "${HTTP_PORT[$p]}" \
        --conns "$WS_ECHO_CONNS" --duration "$DUR" --warmup 0.5) || true
      k1=$(core_busy); t1=$(now_s); c1=$(cpu_ticks "${PID[$p]}")
      j=$(grep -m1 '^WSJSON ' <<<"$out" | cut -d' ' -f2-); [[ -n $j ]] || j=null
      record ws-echo "c$WS_ECHO_CONNS" "$p" "$r" "{\"ws\":$j,$(cpu_fields "$c0" "$c1" "$t0" "$t1" "$k0" "$k1")}"
      log "ws-echo $p run $r: $j"
    done
  done
fi

if has_case ws-idle; then
  log "case: idle WebSocket memory (sizes $WS_SIZES, at most $MAXCONN by the fd limit $FDS)"
  sizes=$(tr ',' '\n' <<<"$WS_SIZES" | awk -v m="$MAXCONN" '{ print ($1 > m ? m : $1) }' | paste -sd,)
  for ((r = 1; r <= RUNS; r++)); do
    for p in $PROXIES; do
      stop "$p"; start_proxy "$p" # a fresh process: the growth is the connections', not earlier garbage's
      out=$(taskset -c "$LOAD_CPU" "$NODE" "$BENCH/lib/ws-client.mjs" --mode idle --port "${HTTP_PORT[$p]}" \
        --sizes "$sizes" --pid "${PID[$p]}" --settle 2 --deadline 120) || true
      while read -r line; do
        j=${line#WSJSON }
        n=$(grep -o '"target":[0-9]*' <<<"$j" | cut -d: -f2)
        record ws-idle "n$n" "$p" "$r" "{\"ws\":$j}"
        log "ws-idle $p run $r: $j"
      done < <(grep '^WSJSON ' <<<"$out")
    done
  done
  # Leave every proxy fresh for the cases after this one.
  for p in $PROXIES; do stop "$p"; start_proxy "$p"; done
fi

if has_case routes && [[ " $PROXIES " == *" edge "* ]]; then
  log "case: route table 1 vs $ROUTES"
  "$NODE" "$BENCH/lib/configs.mjs" edge "$WORK/edge-routes-1.yaml" --http $((BASE + 60)) --https $((BASE + 61))
  "$NODE" "$BENCH/lib/configs.mjs" edge "$WORK/edge-routes-big.yaml" --routes "$ROUTES" --http $((BASE + 62)) --https $((BASE + 63))
  last=$((ROUTES / 2 - 1)); ((last >= 0)) || last=0
  declare -A RPORT=([1]=$((BASE + 60)) [$ROUTES]=$((BASE + 62)))
  for v in 1 "$ROUTES"; do
    cfg=$WORK/edge-routes-1.yaml; [[ $v == 1 ]] || cfg=$WORK/edge-routes-big.yaml
    t0=$(now_s)
    start_edge "routes-$v" "$cfg" "${RPORT[$v]}" $((RPORT[$v] + 1)) 600
    t1=$(now_s)
    record routes-start "r$v" edge 1 "{\"startupMs\":$(awk -v s="$t0" -v e="$t1" 'BEGIN { printf "%.0f", (e - s) * 1000 }'),\"rssKb\":$(rss_kb "${PID[routes-$v]}"),\"configBytes\":$(stat -c %s "$cfg")}"
    log "routes $v: started in $(awk -v s="$t0" -v e="$t1" 'BEGIN { printf "%.1f", e - s }') s"
  done
  # (The same table as JSON, reloads and API changes of it, and peak memory: the apply case.)
  for v in 1 "$ROUTES"; do
    l=$last; [[ $v == 1 ]] && l=0
    wrk_json "routes-$v" "$BENCH_ORIGIN_EDGE" http "${RPORT[$v]}" plain.example.com 50 "$WARM" >/dev/null
    wrk_json "routes-$v" "$BENCH_ORIGIN_EDGE" http "${RPORT[$v]}" "vm1.u$l.example.com" 50 "$WARM" >/dev/null
  done
  for ((r = 1; r <= RUNS; r++)); do
    for v in 1 "$ROUTES"; do
      l=$last; [[ $v == 1 ]] && l=0
      j=$(wrk_json "routes-$v" "$BENCH_ORIGIN_EDGE" http "${RPORT[$v]}" plain.example.com 50 "$DUR")
      record routes "exact-r$v" edge "$r" "$j"; log "routes $v exact run $r: $(summary "$j")"
      j=$(wrk_json "routes-$v" "$BENCH_ORIGIN_EDGE" http "${RPORT[$v]}" "vm1.u$l.example.com" 50 "$DUR")
      record routes "template-r$v" edge "$r" "$j"; log "routes $v template run $r: $(summary "$j")"
    done
  done
  stop "routes-1"; stop "routes-$ROUTES"
fi

if has_case apply && [[ " $PROXIES " == *" edge "* && $EDGE_KIND == cli ]]; then
  log "case: applying $ROUTES routes (YAML, JSON): start to serving, a full reload, $APPLY_CHANGES one-route API change(s)"
  AH=$((BASE + 91)) AS=$((BASE + 92)) AA=$((BASE + 93))
  last=$((ROUTES / 2 - 1)); ((last >= 0)) || last=0
  for f in yaml json; do
    cfg=$WORK/edge-apply.$f next=$WORK/edge-apply-next.$f
    # info: the measurement reads the edge's `config applied` line. next = the same table plus one proxy.
    "$NODE" "$BENCH/lib/configs.mjs" edge "$cfg" --routes "$ROUTES" --http "$AH" --https "$AS" --admin "$AA" --level info
    "$NODE" "$BENCH/lib/configs.mjs" edge "$next" --routes "$ROUTES" --probe --http "$AH" --https "$AS" --admin "$AA" --level info
    bytes=$(stat -c %s "$cfg")
    sync # the files are in the page cache either way; what is measured is parsing and building, not the disk
    t0=$(now_s)
    spawn_edge "apply-$f" "$cfg"
    j=$(taskset -c "$LOAD_CPU" timeout -k 5 900 "$NODE" "$BENCH/lib/apply.mjs" measure --pid "${PID[apply-$f]}" --t0 "$t0" --port "$AH" \
      --host "r$last.example.com" --origin "$BENCH_ORIGIN_EDGE" --admin "$AA" --token "$WORK/admin.token" --config "$cfg" \
      --next "$next" --changes "$APPLY_CHANGES" --log "$WORK/logs/apply-$f.out") || j='{"error":"apply.mjs failed"}'
    record apply "$f" edge 1 "${j%\}},\"configBytes\":$bytes}"
    log "apply $f: $j"
    stop "apply-$f"
  done
fi

if has_case reload && [[ " $PROXIES " == *" edge "* ]]; then
  log "case: config rewritten every second under load"
  RCFG=$WORK/edge-reload.yaml
  "$NODE" "$BENCH/lib/configs.mjs" edge "$RCFG" --probe --http $((BASE + 64)) --https $((BASE + 65))
  start_edge reload "$RCFG" $((BASE + 64)) $((BASE + 65))
  wrk_json reload "$BENCH_ORIGIN_EDGE" http $((BASE + 64)) plain.example.com 50 "$WARM" >/dev/null
  for ((r = 1; r <= RUNS; r++)); do
    : >"$WORK/reload-probe.txt"
    # The rewriter: every second a new config (the probe proxy toggled, a new note), written atomically;
    # half a second later the probe host shows whether the edge applied it (200 present, 404 absent).
    (
      i=0
      while :; do
        i=$((i + 1)); start_t=$(now_s)
        if ((i % 2)); then want=404; "$NODE" "$BENCH/lib/configs.mjs" edge "$RCFG" --http $((BASE + 64)) --https $((BASE + 65))
        else want=200; "$NODE" "$BENCH/lib/configs.mjs" edge "$RCFG" --probe --note "rewrite $i" --http $((BASE + 64)) --https $((BASE + 65)); fi
        sleep 0.5
        got=$(curl -s -o /dev/null -m 0.4 -w '%{http_code}' -H 'Host: probe.example.com' "http://127.0.0.1:$((BASE + 64))/" || true)
        echo "$want $got" >>"$WORK/reload-probe.txt"
        sleep "$(awk -v s="$start_t" -v e="$(now_s)" 'BEGIN { d = 1 - (e - s); print (d > 0 ? d : 0) }')"
      done
    ) &
    RW=$!
    PID[rewriter]=$RW
    j=$(wrk_json reload "$BENCH_ORIGIN_EDGE" http $((BASE + 64)) plain.example.com 50 "$DUR")
    stop rewriter
    rewrites=$(wc -l <"$WORK/reload-probe.txt")
    applied=$(awk '$1 == $2' "$WORK/reload-probe.txt" | wc -l)
    failedReloads=$(grep -c 'config not reloaded' "$WORK/logs/reload.out" || true)
    record reload c50 edge "$r" "${j%\}},\"rewrites\":$rewrites,\"applied\":$applied,\"failedReloads\":$failedReloads}"
    log "reload run $r: $(summary "$j"); rewrites $rewrites, seen applied $applied"
  done
  stop reload
fi

if has_case workers && [[ " $PROXIES " == *" edge "* ]]; then
  log "case: workers mode (1 worker; workers: 2 on the proxy core; workers: auto on both cores)"
  WCFG=$WORK/edge-workers.yaml ACFG=$WORK/edge-workers-auto.yaml
  "$NODE" "$BENCH/lib/configs.mjs" edge "$WCFG" --workers 2 --http $((BASE + 66)) --https $((BASE + 67))
  "$NODE" "$BENCH/lib/configs.mjs" edge "$ACFG" --workers auto --http $((BASE + 94)) --https $((BASE + 95)) --admin $((BASE + 96))
  if [[ $EDGE_KIND == cli ]] && (cd "$SNAP" && "$NODE" src/cli.ts --check-config --config "$WCFG") >"$WORK/logs/workers-check.out" 2>&1; then
    start_edge workers "$WCFG" $((BASE + 66)) $((BASE + 67))
    # auto counts the CPUs the process may run on (its affinity): pinned to both cores it makes 2 workers,
    # which share the load core with wrk and the origin. That is all this machine can show of scaling.
    start_edge workers-auto "$ACFG" $((BASE + 94)) $((BASE + 95)) 30 "$LOAD_CPU,$PROXY_CPU"
    auto_procs=$(wc -w <<<"$(proc_tree "${PID[workers-auto]}")")
    declare -A WPID=([1]=edge [2]=workers [auto]=workers-auto)
    for s in http https; do
      host=plain.example.com; [[ $s == https ]] && host=bench.example.com
      declare -A WPORT=([1]=$BENCH_EDGE_HTTP [2]=$((BASE + 66)) [auto]=$((BASE + 94)))
      [[ $s == https ]] && WPORT=([1]=$BENCH_EDGE_HTTPS [2]=$((BASE + 67)) [auto]=$((BASE + 95)))
      for w in 2 auto; do wrk_json "${WPID[$w]}" "$BENCH_ORIGIN_EDGE" "$s" "${WPORT[$w]}" "$host" 50 "$WARM" >/dev/null; done
      for ((r = 1; r <= RUNS; r++)); do
        for w in 1 2 auto; do
          j=$(wrk_json "${WPID[$w]}" "$BENCH_ORIGIN_EDGE" "$s" "${WPORT[$w]}" "$host" 50 "$DUR")
          [[ $w == auto ]] && j="${j%\}},\"processes\":$auto_procs}"
          record workers "$s-w$w" edge "$r" "$j"; log "workers $s w$w run $r: $(summary "$j")"
        done
      done
    done
    stop workers; stop workers-auto
  else
    reason=$(grep -v '^invalid config in' "$WORK/logs/workers-check.out" 2>/dev/null | grep -m1 -iE 'workers|unknown' | sed 's/^ *//' | head -c 300 || true)
    reason="\`--check-config\` rejects \`workers: 2\`: ${reason:-see bench/.work/logs/workers-check.out}"
    [[ $EDGE_KIND == cli ]] || reason="the stand-in has no workers mode"
    record workers na edge 1 "{\"available\":false,\"reason\":$("$NODE" -e 'console.log(JSON.stringify(process.argv[1]))' "$reason")}"
    log "workers: not available ($reason)"
  fi
fi

if has_case fleet && [[ " $PROXIES " == *" edge "* && $EDGE_KIND == cli ]]; then
  log "case: a route change through one edge reaching every edge of a three-edge fleet (one Redis)"
  export BENCH_PORT_BASE=$BASE
  read -r FLEET_REDIS FA_HTTP FA_ADMIN FB_HTTP FB_ADMIN FC_HTTP FC_ADMIN <<<"$("$NODE" "$BENCH/lib/fleet.mjs" ports)"
  start fleet-redis "$LOAD_CPU" redis-server --port "$FLEET_REDIS" --bind 127.0.0.1 --save '' --appendonly no --protected-mode no --dir "$WORK"
  wait_port "$FLEET_REDIS" fleet-redis
  "$NODE" "$BENCH/lib/fleet.mjs" configs
  # The three edges share the proxy core, as three small edges on one host would share a machine.
  start_edge fleet-a "$WORK/edge-fleet-a.yaml" "$FA_HTTP" "$FA_ADMIN"
  start_edge fleet-b "$WORK/edge-fleet-b.yaml" "$FB_HTTP" "$FB_ADMIN"
  start_edge fleet-c "$WORK/edge-fleet-c.yaml" "$FC_HTTP" "$FC_ADMIN"
  FLEET_N=20; [[ $QUICK == 1 ]] && FLEET_N=10
  j=$(taskset -c "$LOAD_CPU" "$NODE" "$BENCH/lib/fleet.mjs" measure "$FLEET_N")
  record fleet changes edge 1 "$j"
  log "fleet: $("$NODE" -e 'const c=JSON.parse(process.argv[1]).changes;const e=c.map((x)=>Math.max(...Object.values(x.perEdge))).sort((a,b)=>a-b);console.log(`${c.length} changes, to every edge: median ${e[e.length>>1].toFixed(1)} ms, max ${e[e.length-1].toFixed(1)} ms`)' "$j")"
  stop fleet-a; stop fleet-b; stop fleet-c; stop fleet-redis
fi

if has_case l4; then
  log "case: TCP forwards (idcs-edge, HAProxy mode tcp, nginx stream): iperf3 throughput and new connections/s"
  start_l4
  L4P="edge haproxy nginx"
  for p in $L4P; do
    iperf_json "${L4_PID_NAME[$p]}" "${L4_IPERF[$p]}" >/dev/null
    wrk_json "${L4_PID_NAME[$p]}" "${L4_ORIGIN[$p]}" http "${L4_WEB[$p]}" plain.example.com 50 "$WARM" -H 'Connection: close' >/dev/null
  done
  for ((r = 1; r <= RUNS; r++)); do
    for p in $L4P; do
      j=$(iperf_json "${L4_PID_NAME[$p]}" "${L4_IPERF[$p]}")
      record l4 up "$p" "$r" "$j"; log "l4 up $p run $r: $(iperf_summary "$j")"
      j=$(iperf_json "${L4_PID_NAME[$p]}" "${L4_IPERF[$p]}" -R)
      record l4 down "$p" "$r" "$j"; log "l4 down $p run $r: $(iperf_summary "$j")"
      # Every request on a new connection through the forward: req/s = new forwarded connections/s.
      j=$(wrk_json "${L4_PID_NAME[$p]}" "${L4_ORIGIN[$p]}" http "${L4_WEB[$p]}" plain.example.com 50 "$DUR" -H 'Connection: close')
      record l4 connrate "$p" "$r" "$j"; log "l4 connrate $p run $r: $(summary "$j")"
    done
  done
fi

if has_case cap && [[ " $PROXIES " == *" edge "* ]]; then
  log "case: bandwidth caps (${BENCH_CAP_MBPS} Mbps): accuracy, and the cost of the cap code where nothing is capped"
  start_l4
  # The reference for the policy step's cost: the main edge's config without its access rules and caps.
  "$NODE" "$BENCH/lib/configs.mjs" edge "$WORK/edge-bare.yaml" --bare --http $((BASE + 97)) --https $((BASE + 98)) --admin $((BASE + 99))
  start_edge edge-bare "$WORK/edge-bare.yaml" $((BASE + 97)) $((BASE + 98))
  wrk_json edge-bare "$BENCH_ORIGIN_EDGE" http $((BASE + 97)) plain.example.com 50 "$WARM" >/dev/null
  for ((r = 1; r <= RUNS; r++)); do
    j=$(iperf_json edge-l4 "$BENCH_CAP_FORWARD"); record cap forward-ingress edge "$r" "$j"; log "cap forward ingress run $r: $(iperf_summary "$j")"
    j=$(iperf_json edge-l4 "$BENCH_CAP_FORWARD" -R); record cap forward-egress edge "$r" "$j"; log "cap forward egress run $r: $(iperf_summary "$j")"
    # Two connections to one VM share its cap.
    j=$(iperf_json edge-l4 "$BENCH_CAP_VM" -R -P 2); record cap vm-egress-2conns edge "$r" "$j"; log "cap VM egress, 2 connections, run $r: $(iperf_summary "$j")"
    for v in none high; do
      port=$BENCH_L4_EDGE_IPERF; [[ $v == high ]] && port=$BENCH_CAP_HIGH
      j=$(iperf_json edge-l4 "$port"); record cap "cost-forward-$v" edge "$r" "$j"; log "cap cost forward $v run $r: $(iperf_summary "$j")"
    done
    j=$(wrk_json edge-bare "$BENCH_ORIGIN_EDGE" http $((BASE + 97)) plain.example.com 50 "$DUR")
    record cap cost-http-none edge "$r" "$j"; log "cap cost HTTP, no policies, run $r: $(summary "$j")"
    if [[ -n ${PID[edge]:-} ]]; then
      j=$(wrk_json edge "$BENCH_ORIGIN_EDGE" http "$BENCH_EDGE_HTTP" plain.example.com 50 "$DUR")
      record cap cost-http-own edge "$r" "$j"; log "cap cost HTTP, the route's own access rule and never-reached cap, run $r: $(summary "$j")"
    fi
    j=$(wrk_json edge-l4 "$BENCH_ORIGIN_EDGE" http "$BENCH_L4_EDGE_HTTP" plain.example.com 50 "$DUR")
    record cap cost-http-policies edge "$r" "$j"; log "cap cost HTTP, policies elsewhere in the config, run $r: $(summary "$j")"
  done
  stop edge-bare
fi
stop_l4

if has_case profile && [[ " $PROXIES " == *" edge "* ]]; then
  log "case: CPU profile of the edge (HTTP and HTTPS keep-alive, new TLS handshakes, HTTP/2)"
  EDGE_NODE_FLAGS=(--cpu-prof --cpu-prof-dir "$WORK/prof")
  "$NODE" "$BENCH/lib/configs.mjs" edge "$WORK/edge-profile.yaml" --http $((BASE + 68)) --https $((BASE + 69))
  for s in http https handshake h2; do
    scheme=https; port=$((BASE + 69)); host=bench.example.com; extra=()
    [[ $s == http ]] && { scheme=http; port=$((BASE + 68)); host=plain.example.com; }
    [[ $s == handshake ]] && extra=(-H 'Connection: close')
    rm -f "$WORK"/prof/*.cpuprofile
    t_spawn=$(now_s)
    start_edge profile "$WORK/edge-profile.yaml" $((BASE + 68)) $((BASE + 69))
    t_load=$(now_s)
    if [[ $s == h2 ]]; then h2load_json profile "$port" "$((WARM + DUR))" >/dev/null
    else wrk_json profile "$BENCH_ORIGIN_EDGE" "$scheme" "$port" "$host" 50 "$((WARM + DUR))" "${extra[@]}" >/dev/null; fi
    t_end=$(now_s)
    stop profile # SIGTERM: the edge drains and exits, and node writes the profile on exit
    prof=$(ls "$WORK"/prof/*.cpuprofile 2>/dev/null | head -1 || true)
    if [[ -n $prof ]]; then
      mv "$prof" "$WORK/prof/edge-$s.cpuprofile.json"
      # Only the load window counts (profile time starts about when the process does): skip start-up and
      # the first half second of load, stop when wrk stopped.
      from=$(awk -v a="$t_spawn" -v b="$t_load" 'BEGIN { printf "%d", (b - a) * 1000 + 500 }')
      to=$(awk -v a="$t_spawn" -v b="$t_end" 'BEGIN { printf "%d", (b - a) * 1000 - 300 }')
      record profile "$s" edge 1 "$("$NODE" "$BENCH/lib/cpuprofile.mjs" "$WORK/prof/edge-$s.cpuprofile.json" 15 "$from" "$to")"
    else
      record profile "$s" edge 1 '{"error":"no profile written: the edge did not exit normally on SIGTERM within 5 s"}'
    fi
  done
  EDGE_NODE_FLAGS=()
fi

# ---------------------------------------------------------------- report
for p in $PROXIES; do stop "$p"; done
stop ws-origin; stop origin

ver() { "$@" 2>&1 | head -1 | tr -d '"\\' || true; }
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
cat >"$WORK/meta.json" <<EOF
{
  "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "quick": $([[ $QUICK == 1 ]] && echo true || echo false),
  "runs": $RUNS, "durationS": $DUR, "warmupS": $WARM, "totalS": $((SECONDS - T_START)),
  "cases": "$CASES", "proxies": "$PROXIES",
  "edgeKind": "$EDGE_KIND", "edgeNodeFlags": "${EDGE_RUN_FLAGS[*]}",
  "gitCommit": "$GIT_COMMIT", "gitDirty": $GIT_DIRTY, "srcHash": "$SRC_HASH",
  "sniMode": "$SNI_MODE",
  "proxyCpu": "$PROXY_CPU", "loadCpu": "$LOAD_CPU",
  "capMbps": $BENCH_CAP_MBPS,
  "routes": $ROUTES, "wsSizes": "$WS_SIZES", "fdLimit": $FDS, "maxConn": $MAXCONN,
  "wsEchoConns": $WS_ECHO_CONNS, "handshakeConns": $HS_CONNS,
  "h2Conns": $H2_CONNS, "h2Streams": $H2_STREAMS, "applyChanges": $APPLY_CHANGES,
  "nproc": $(nproc),
  "cpuModel": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' | tr -d '"')",
  "kernel": "$(uname -sr)",
  "memTotal": "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)",
  "loadStart": "$LOAD_START", "loadEnd": "$(cut -d' ' -f1-3 /proc/loadavg)",
  "versions": {
    "node": "$("$NODE" --version)",
    "nginx": "$(ver nginx -v)",
    "haproxy": "$(ver haproxy -v)",
    "caddy": "$(ver caddy version)",
    "iperf3": "$(ver iperf3 --version)",
    "wrk": "$(ver wrk -v)",
    "h2load": "$(ver h2load --version)",
    "openssl": "$(ver openssl version)",
    "http-proxy-3": "$("$NODE" -p 'require(process.argv[1]).version' "$ROOT/node_modules/http-proxy-3/package.json" 2>/dev/null || echo '?')"
  }
}
EOF
# Only a full run (every case, every proxy, not quick) writes <stamp>.md and replaces latest.md, which the
# README quotes; a quick or partial run writes quick-<stamp>.md (git-ignored: bench/.gitignore).
FULL=0
[[ $QUICK == 0 && -z ${BENCH_CASES:-} && -z ${BENCH_PROXIES:-} ]] && FULL=1
OUT=$STAMP; ((FULL)) || OUT=quick-$STAMP
"$NODE" "$BENCH/lib/report.mjs" "$WORK/meta.json" "$RES" >"$RESULTS/$OUT.md"
cp "$RES" "$RESULTS/$OUT.raw.json"
cat "$RESULTS/$OUT.md"
if ((FULL)); then
  cp "$RESULTS/$OUT.md" "$RESULTS/latest.md"
  log "report: bench/results/latest.md and bench/results/$OUT.md ($((SECONDS - T_START)) s)"
else
  log "report: bench/results/$OUT.md (a quick or partial run: latest.md is left as it was) ($((SECONDS - T_START)) s)"
fi
