/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`) as JSON: self time per area of code (the edge's own
 * src/ files, http-proxy-3, Node's http/net/tls/stream internals, GC, idle) and the top functions by self
 * time, as shares of the busy (non-idle) samples. Usage: node cpuprofile.mjs FILE [TOP] [FROM_MS] [TO_MS]:
 * only samples taken FROM_MS..TO_MS after the profile started count (run.sh passes the load window, so
 * start-up and shutdown stay out).
 */
import { readFileSync } from 'node:fs';

const [file, topArg, fromArg, toArg] = process.argv.slice(2);
const TOP = Number(topArg ?? 15);
const FROM_US = Number(fromArg ?? 0) * 1000;
const TO_US = toArg === undefined ? Infinity : Number(toArg) * 1000;
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));

// Self time per node: sum of the sample intervals attributed to it, inside the window.
const self = new Map();
let t = 0;
let windowUs = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const dt = prof.timeDeltas[i] ?? 0;
  t += dt;
  if (t < FROM_US || t > TO_US) continue;
  const id = prof.samples[i];
  windowUs += dt;
  if (byId.get(id)?.callFrame.functionName === '(idle)') continue;
  self.set(id, (self.get(id) ?? 0) + dt);
}
const totalUs = [...self.values()].reduce((a, b) => a + b, 0);

function area(cf) {
  const { functionName: fn, url } = cf;
  if (!url) {
    if (fn === '(idle)' || fn === '(garbage collector)' || fn === '(program)' || fn === '(root)') return fn;
    if (/^(writev|writeLatin1String|writeUtf8String|writeAsciiString|writeBuffer|shutdown|readStart|readStop|close|onStreamRead)$/.test(fn)) {
      return 'socket I/O (C++ bindings and syscalls)';
    }
    return '(native: V8 builtins, other C++ bindings)';
  }
  const src = /\/src\/([^?]+)$/.exec(url);
  if (src && !url.includes('node_modules')) return `idcs-edge src/${src[1]}`;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `npm ${nm[1]}`;
  if (url.startsWith('node:')) {
    const m = url.slice(5).replace(/^internal\//, '');
    if (/^_?http|^http/.test(m)) return 'node http (parser, server, outgoing, agent)';
    if (/^(_?tls|tls\/|crypto)/.test(m)) return 'node tls/crypto';
    if (/^(net|stream_base|streams\/|stream)/.test(m)) return 'node net/streams';
    if (/^(timers|process\/task_queues|async_hooks|event_target|events)/.test(m) || m === 'events') return 'node events/timers/ticks';
    return `node ${m.split('/')[0]}`;
  }
  if (url.includes('/bench/lib/')) return 'bench stand-in';
  if (url.startsWith('wasm://')) return 'WebAssembly (undici llhttp)';
  return url;
}

const byArea = new Map();
const byFn = new Map();
for (const n of prof.nodes) {
  const t = self.get(n.id) ?? 0;
  if (!t) continue;
  const a = area(n.callFrame);
  byArea.set(a, (byArea.get(a) ?? 0) + t);
  const where = n.callFrame.url ? `${n.callFrame.url.replace(/^.*\/(src|node_modules)\//, '$1/')}:${n.callFrame.lineNumber + 1}` : '';
  const k = `${n.callFrame.functionName || '(anonymous)'}\t${where}`;
  byFn.set(k, (byFn.get(k) ?? 0) + t);
}
const pct = (t) => Math.round((1000 * t) / totalUs) / 10;
const sorted = (m) => [...m.entries()].sort((x, y) => y[1] - x[1]);
process.stdout.write(`${JSON.stringify({
  windowMs: Math.round(windowUs / 1000),
  busyPct: windowUs ? Math.round((1000 * totalUs) / windowUs) / 10 : 0,
  areas: sorted(byArea).map(([name, t]) => ({ name, pct: pct(t) })).filter((x) => x.pct >= 0.5),
  top: sorted(byFn).slice(0, TOP).map(([k, t]) => { const [fn, where] = k.split('\t'); return { fn, where, pct: pct(t) }; }),
})}\n`);
