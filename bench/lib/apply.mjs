/**
 * The `apply` case's measurement: how long a big config takes to serve, to reload, and to change by one
 * route through the admin API, and how much memory each costs. run.sh starts the edge (so that its PID is
 * recorded and stopped like every other process) and then runs
 *
 *   node apply.mjs measure --pid PID --t0 EPOCH_S --port HTTP --host HOST --origin PORT
 *        --admin PORT --token FILE --config FILE --next FILE --changes K --log FILE [--deadline S]
 *
 * which prints one JSON object:
 *   start   from t0 (taken just before the edge was spawned) to the first 200 for HOST (a route from the
 *           end of the table), VmHWM (peak RSS) and VmRSS then, and the edge's CPU time so far;
 *   reload  FILE is replaced by NEXT (rename, as a controller writes it; NEXT is the same table plus the
 *           proxy probe.example.com) and probe.example.com polled until it answers 200: the time includes
 *           the watcher's 150 ms debounce. Also when the edge logged `config applied` (its own clock), the
 *           peak RSS of the reload alone (VmHWM reset through /proc/PID/clear_refs first) and its CPU time;
 *   api     K one-route changes, each a PUT /api/v1/proxies/api<i>.example.com: time to the answer, time
 *           until the new host answers 200, CPU time, and the peak RSS over the K changes.
 * Every wait is bounded by the deadline (default 180 s); a wait that ran out is reported as null.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { parseArgs } from 'node:util';
import { cpuTicksTree } from './proc.mjs';

/** The status a GET for `host` got from 127.0.0.1:port, or 0 when the connection failed or took over 2 s. */
function status(port, host) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Epoch ms when host first answered `want` (polled about every 10 ms), or null at the deadline. */
async function waitFor(port, host, want, deadlineMs) {
  for (;;) {
    if ((await status(port, host)) === want) return Date.now();
    if (Date.now() > deadlineMs) return null;
    await sleep(10);
  }
}

function procStatusKb(pid, field) {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)\\s+kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Resets VmHWM to the current RSS (Linux >= 4.0, root or the process's owner); false when refused. */
function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU time of the edge's process tree in ms (10 ms resolution: USER_HZ). */
const cpuMs = (pid) => cpuTicksTree(pid) * 10;

/** Epoch ms of the first `config applied` line with source `source` logged at or after `afterMs`, or null. */
function appliedAt(logFile, source, afterMs) {
  let text = '';
  try { text = readFileSync(logFile, 'utf8'); } catch { return null; }
  for (const line of text.split('\n')) {
    if (!line.includes('"config applied"')) continue;
    try {
      const j = JSON.parse(line);
      const t = typeof j.time === 'number' ? j.time : Date.parse(j.time); // pino: ISO time in this edge
      if (j.source === source && t >= afterMs) return t;
    } catch { /* not a JSON line */ }
  }
  return null;
}

/** PUT one proxy through the admin API; resolves with the status (0: failed or no answer within timeoutMs) and the answer's arrival time. */
function putProxy(adminPort, token, domain, body, timeoutMs) {
  return new Promise((resolve) => {
    const data = JSON.stringify(body);
    const req = request({
      host: '127.0.0.1', port: adminPort, method: 'PUT', path: `/api/v1/proxies/${encodeURIComponent(domain)}`, agent: false, timeout: timeoutMs,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, at: Date.now(), body: text.slice(0, 300) }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ status: 0, at: Date.now(), body: String(err) }));
    req.end(data);
  });
}

async function measure(o) {
  const pid = Number(o.pid);
  const port = Number(o.port);
  const deadline = () => Date.now() + Number(o.deadline ?? 180) * 1000;
  const t0 = Number(o.t0) * 1000;
  const out = { peakResetWorks: null };

  const served = await waitFor(port, o.host, 200, deadline());
  out.start = { ms: served === null ? null : served - t0, hwmKb: procStatusKb(pid, 'VmHWM'), rssKb: procStatusKb(pid, 'VmRSS'), cpuMs: cpuMs(pid) };
  if (served === null) return out;

  // A full reload: the same table plus one proxy, written the way a controller writes (rename into place).
  if ((await status(port, 'probe.example.com')) !== 404) out.reloadNote = 'probe.example.com did not answer 404 before the reload';
  out.peakResetWorks = resetPeak(pid);
  let c0 = cpuMs(pid);
  const r0 = Date.now();
  renameSync(o.next, o.config);
  const visible = await waitFor(port, 'probe.example.com', 200, deadline());
  await sleep(50); // the log line is written right after the commit; give stdout a moment
  const logged = appliedAt(o.log, 'file', r0);
  out.reload = {
    ms: visible === null ? null : visible - r0,
    appliedLogMs: logged === null ? null : logged - r0,
    hwmKb: procStatusKb(pid, 'VmHWM'), cpuMs: cpuMs(pid) - c0,
  };

  // One-route changes through the API on the same edge.
  const token = readFileSync(o.token, 'utf8').trim();
  out.api = [];
  resetPeak(pid);
  const origin = Number(o.origin);
  for (let i = 1; i <= Number(o.changes); i++) {
    const domain = `api${i}.example.com`;
    c0 = cpuMs(pid);
    const a0 = Date.now();
    const res = await putProxy(Number(o.admin), token, domain, { target: '127.0.0.1', targetPort: origin, protocol: 'http', ssl: false, note: `api change ${i}` },
      Number(o.deadline ?? 180) * 1000);
    const seen = res.status >= 200 && res.status < 300 ? await waitFor(port, domain, 200, deadline()) : null;
    out.api.push({
      status: res.status, answerMs: res.at - a0, servedMs: seen === null ? null : seen - a0, cpuMs: cpuMs(pid) - c0,
      ...(res.status >= 300 || res.status === 0 ? { body: res.body } : {}),
    });
  }
  out.apiHwmKb = procStatusKb(pid, 'VmHWM');
  return out;
}

const { values } = parseArgs({
  args: process.argv.slice(3),
  options: Object.fromEntries(['pid', 't0', 'port', 'host', 'origin', 'admin', 'token', 'config', 'next', 'changes', 'log', 'deadline']
    .map((k) => [k, { type: 'string' }])),
});
if (process.argv[2] !== 'measure') {
  process.stderr.write('usage: apply.mjs measure --pid PID --t0 EPOCH_S --port P --host H --origin P --admin P --token FILE --config FILE --next FILE --changes K --log FILE\n');
  process.exit(2);
}
process.stdout.write(`${JSON.stringify(await measure(values))}\n`);
