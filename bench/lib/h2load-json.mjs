/**
 * Reads h2load's text output on stdin and prints its summary as one JSON object (the h2 case's analogue of
 * wrk-json.lua): duration, requests done / succeeded / failed / errored / timed out, status classes, the
 * negotiated protocol, and "time for request" (min, max, mean, sd in ms: h2load reports no percentiles).
 * Prints {"error": ...} when the output has no summary (h2load could not connect, for instance).
 */
import { readFileSync } from 'node:fs';

const text = readFileSync(0, 'utf8');
const toMs = (v) => {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v ?? '');
  if (!m) return null;
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 'ms' ? 1 : 1000);
};
const fin = /finished in ([\d.]+)(us|ms|s), ([\d.]+) req\/s/.exec(text);
const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text);
const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
const lat = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)/.exec(text);
const proto = /Application protocol: (\S+)/.exec(text);
if (!fin || !req) {
  const tail = text.trim().split('\n').slice(-3).join(' | ').slice(0, 300);
  process.stdout.write(`${JSON.stringify({ error: `h2load gave no summary: ${tail}` })}\n`);
} else {
  const n = req.slice(1).map(Number);
  process.stdout.write(`${JSON.stringify({
    durationS: toMs(`${fin[1]}${fin[2]}`) / 1000,
    requests: n[2], succeeded: n[3], failed: n[4], errored: n[5], timeout: n[6],
    status: codes ? { '2xx': +codes[1], '3xx': +codes[2], '4xx': +codes[3], '5xx': +codes[4] } : null,
    protocol: proto ? proto[1] : null,
    lat_ms: lat ? { min: toMs(lat[1]), max: toMs(lat[2]), mean: toMs(lat[3]), sd: toMs(lat[4]) } : null,
  })}\n`);
}
