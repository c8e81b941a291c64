/**
 * WebSocket load client for the WS cases, written on raw TCP so that the client stays cheap next to the
 * proxy under test (no frame parser: every message has the same size, so each echo is a fixed number of
 * bytes). It speaks RFC 6455 as far as these cases need: the upgrade, masked binary frames out, unmasked
 * binary frames back.
 *
 *   echo: --conns C connections each keep one message in flight (send, wait for the echo, send again) for
 *         --warmup + --duration seconds; prints round trips/s and latency percentiles of the measured part.
 *   idle: opens connections up to each of --sizes (e.g. 5000,10000), checks each with one echo, lets the
 *         proxy settle, reads the VmRSS of --pid (and its children) and prints the growth per connection.
 *
 * Output: one line `WSJSON {...}` per result. Exit code 0 even when connections failed: failures are counted
 * in the JSON so the report can show them.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { rssTreeKb } from './proc.mjs';

const { values: a } = parseArgs({
  options: {
    mode: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string', default: 'ws.example.com' },
    conns: { type: 'string', default: '50' },
    sizes: { type: 'string', default: '5000,10000' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    payload: { type: 'string', default: '32' },
    pid: { type: 'string' },
    settle: { type: 'string', default: '2' },
    'open-parallel': { type: 'string', default: '256' },
    'deadline': { type: 'string', default: '120' },
  },
});

const PORT = Number(a.port);
const PAYLOAD = Number(a.payload);
if (!(PAYLOAD > 0 && PAYLOAD <= 125)) throw new Error('--payload must be 1..125 (one-byte length frames)');
const ECHO_BYTES = 2 + PAYLOAD; // server frames are unmasked: FIN|opcode, length, payload
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const emit = (o) => process.stdout.write(`WSJSON ${JSON.stringify(o)}\n`);

// One client frame reused for every send: FIN + binary, MASK bit + length, mask key, masked payload.
const FRAME = (() => {
  const mask = randomBytes(4);
  const body = Buffer.alloc(PAYLOAD, 0x61);
  const f = Buffer.alloc(6 + PAYLOAD);
  f[0] = 0x82;
  f[1] = 0x80 | PAYLOAD;
  mask.copy(f, 2);
  for (let i = 0; i < PAYLOAD; i++) f[6 + i] = body[i] ^ mask[i & 3];
  return f;
})();

/** Opens one upgraded connection; resolves with the socket (data listeners removed) or rejects. */
function openWs() {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: PORT, noDelay: true });
    let buf = Buffer.alloc(0);
    const fail = (err) => { s.destroy(); reject(err); };
    const timer = setTimeout(() => fail(new Error('upgrade timeout')), 15_000);
    s.once('error', (e) => { clearTimeout(timer); fail(e); });
    s.once('connect', () => {
      s.write(`GET / HTTP/1.1\r\nHost: ${a.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
        + `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      s.off('data', onData);
      const status = buf.subarray(0, buf.indexOf('\r\n')).toString();
      if (!/^HTTP\/1\.1 101/.test(status)) return fail(new Error(`upgrade refused: ${status}`));
      s.removeAllListeners('error');
      s.on('error', () => {});
      const rest = buf.subarray(end + 4);
      if (rest.length) s.unshift(rest);
      resolve(s);
    };
    s.on('data', onData);
  });
}

/** One echo round trip on an idle connection (checks the tunnel reaches the origin). */
function echoOnce(s) {
  return new Promise((resolve, reject) => {
    let got = 0;
    const timer = setTimeout(() => { s.off('data', onData); reject(new Error('echo timeout')); }, 15_000);
    const onData = (d) => {
      got += d.length;
      if (got >= ECHO_BYTES) { clearTimeout(timer); s.off('data', onData); resolve(); }
    };
    s.on('data', onData);
    s.write(FRAME);
  });
}

async function openMany(n, sockets, deadline) {
  let failed = 0;
  let next = 0;
  const errors = new Map();
  const worker = async () => {
    while (next < n && Date.now() < deadline) {
      next++;
      let s;
      try {
        s = await openWs();
        await echoOnce(s);
        sockets.push(s);
      } catch (e) {
        s?.destroy();
        failed++;
        const k = e.code ?? e.message;
        errors.set(k, (errors.get(k) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: Number(a['open-parallel']) }, worker));
  return { failed, errors: Object.fromEntries(errors) };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function echoMode() {
  const conns = Number(a.conns);
  const sockets = [];
  const opened = await openMany(conns, sockets, Date.now() + 30_000);
  const warmupMs = Number(a.warmup) * 1000;
  const durMs = Number(a.duration) * 1000;
  let measuring = false;
  let count = 0;
  let errors = 0;
  let lat = new Float64Array(1 << 20);
  let nlat = 0;
  let stopped = false;
  for (const s of sockets) {
    let pending = 0;
    let sentAt = 0;
    s.on('error', () => { errors++; });
    s.on('close', () => { if (!stopped) errors++; });
    s.on('data', (d) => {
      pending += d.length;
      while (pending >= ECHO_BYTES) {
        pending -= ECHO_BYTES;
        const now = performance.now();
        if (measuring) {
          count++;
          if (nlat === lat.length) { const bigger = new Float64Array(lat.length * 2); bigger.set(lat); lat = bigger; }
          lat[nlat++] = now - sentAt;
        }
        if (!stopped) { sentAt = now; s.write(FRAME); }
      }
    });
    sentAt = performance.now();
    s.write(FRAME);
  }
  await sleep(warmupMs);
  measuring = true;
  const t0 = performance.now();
  await sleep(durMs);
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  stopped = true;
  for (const s of sockets) s.destroy();
  const sorted = lat.subarray(0, nlat).sort();
  emit({
    mode: 'echo', conns, connected: sockets.length, openFailed: opened.failed, openErrors: opened.errors, errors,
    roundTrips: count, seconds: elapsed, rtps: count / elapsed,
    lat_ms: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: nlat ? sorted[nlat - 1] : 0 },
  });
}

async function idleMode() {
  const pid = Number(a.pid);
  const sizes = a.sizes.split(',').map(Number).sort((x, y) => x - y);
  const settleMs = Number(a.settle) * 1000;
  const deadline = Date.now() + Number(a.deadline) * 1000;
  const sockets = [];
  await sleep(settleMs);
  const before = rssTreeKb(pid);
  for (const n of sizes) {
    const t0 = performance.now();
    const r = await openMany(n - sockets.length, sockets, deadline);
    const openMs = performance.now() - t0;
    await sleep(settleMs);
    const after = rssTreeKb(pid);
    const open = sockets.length;
    emit({
      mode: 'idle', target: n, open, failed: r.failed, errors: r.errors, openMs,
      rssBeforeKb: before, rssAfterKb: after, perConnKb: open ? (after - before) / open : null,
    });
    if (Date.now() >= deadline) break;
  }
  for (const s of sockets) s.destroy();
}

if (a.mode === 'echo') await echoMode();
else if (a.mode === 'idle') await idleMode();
else { process.stderr.write('usage: ws-client.mjs --mode echo|idle --port P [...]\n'); process.exit(2); }
process.exit(0);
