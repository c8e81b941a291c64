/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`) as JSON: self time per area of code (the edge's own
 * src/ files, http-proxy-3, Node's http/net/tls/stream internals, GC, idle) and the top functions by self
 * time. Usage: node cpuprofile.mjs FILE [TOP]
 */
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
const TOP = Number(topArg ?? 15);
const prof = JSON.parse(readFileSync(file, 'utf8'));

// Self time per node: sum of the sample intervals attributed to it.
const self = new Map();
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
const totalUs = [...self.values()].reduce((a, b) => a + b, 0);

function area(cf) {
  const { functionName: fn, url } = cf;
  if (!url) {
    if (fn === '(idle)' || fn === '(garbage collector)' || fn === '(program)' || fn === '(root)') return fn;
    return '(native: V8 builtins, C++ bindings)';
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
  totalMs: Math.round(totalUs / 1000),
  areas: sorted(byArea).map(([name, t]) => ({ name, pct: pct(t) })).filter((x) => x.pct >= 0.5),
  top: sorted(byFn).slice(0, TOP).map(([k, t]) => { const [fn, where] = k.split('\t'); return { fn, where, pct: pct(t) }; }),
})}\n`);
