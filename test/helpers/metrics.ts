/**
 * Reading what the edge reports: Prometheus text parsed into samples, and clients that count the bytes
 * their own sockets wrote and read (after TLS decryption, as the edge counts them), so tests can compare
 * the edge's traffic figures with what was really sent.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';

/** Samples of a Prometheus text exposition: `name{a="1",b="2"}` (labels sorted) -> value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels = [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => `${l[1]}="${l[2]}"`).sort();
    out.set(`${m[1]}{${labels.join(',')}}`, Number(m[3]));
  }
  return out;
}

/** The sample `name` with exactly `labels` (undefined when there is none). */
export function sample(samples: Map<string, number>, name: string, labels: Record<string, string> = {}): number | undefined {
  const key = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(',');
  return samples.get(`${name}{${key}}`);
}

export interface Exchange {
  readonly statuses: number[];
  /** What the client's connection wrote (requests) and read (responses). */
  readonly written: number;
  readonly read: number;
}

/** Sends `requests` one after another over one keep-alive connection to 127.0.0.1:port with Host `host`. */
export async function exchange(port: number, host: string, requests: Array<{ path?: string; method?: string; body?: string }>,
  opts: { https?: boolean } = {}): Promise<Exchange> {
  const mod = opts.https ? https : http;
  const agent = new mod.Agent({ keepAlive: true, maxSockets: 1 });
  let socket: Socket | null = null;
  const statuses: number[] = [];
  try {
    for (const r of requests) {
      statuses.push(await new Promise<number>((resolve, reject) => {
        const req = mod.request({ host: '127.0.0.1', port, path: r.path ?? '/', method: r.method ?? 'GET', agent, headers: { host },
          ...(opts.https ? { servername: host, rejectUnauthorized: false } : {}) }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        });
        req.on('socket', (s: Socket) => { socket = s; });
        req.on('error', reject);
        req.end(r.body);
      }));
    }
  } finally {
    agent.destroy();
  }
  const s = socket as Socket | null;
  if (!s) throw new Error('no connection was made');
  if (!s.destroyed) await new Promise((r) => s.once('close', r));
  return { statuses, written: s.bytesWritten, read: s.bytesRead };
}

/** Opens a WebSocket through the edge, echoes `messages`, closes it; returns the echoes and the socket's bytes. */
export async function webSocketSession(port: number, host: string, messages: string[], opts: { https?: boolean } = {}): Promise<Exchange & { echoes: string[] }> {
  const ws = new WebSocket(`${opts.https ? 'wss' : 'ws'}://127.0.0.1:${port}/`, { headers: { host }, ...(opts.https ? { servername: host, rejectUnauthorized: false } : {}) });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const socket = (ws as unknown as { _socket: Socket })._socket;
  const echoes: string[] = [];
  for (const m of messages) {
    echoes.push(await new Promise<string>((resolve) => { ws.once('message', (d) => resolve(String(d))); ws.send(m); }));
  }
  const closed = new Promise((r) => ws.once('close', r));
  ws.close();
  await closed;
  if (!socket.destroyed) await new Promise((r) => socket.once('close', r));
  return { statuses: [101], echoes, written: socket.bytesWritten, read: socket.bytesRead };
}
