/**
 * The built-in demo VM: a small page and a WebSocket echo, started only when the config says
 * `demo.enabled: true`, so that a fresh `npm start` has something to proxy to. It listens on 127.0.0.1 only
 * and says on every page that it is the demo.
 */
import http from 'node:http';
import { WebSocketServer } from 'ws';
import { listenOn } from '../proxy/listeners.ts';

export interface DemoVm {
  readonly port: number;
  close(): Promise<void>;
}

function page(req: http.IncomingMessage): string {
  const seen = ['host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded']
    .map((h) => `<tr><td>${h}</td><td>${String(req.headers[h] ?? '').replace(/[<>&"]/g, '')}</td></tr>`).join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>idcs-edge demo VM</title>
<style>body{font-family:system-ui,sans-serif;max-width:42em;margin:3em auto}td{padding:.2em .8em;font-family:monospace}</style>
</head><body><h1>idcs-edge demo VM</h1>
<p>This page is served by the <strong>demo VM</strong> built into idcs-edge (<code>demo.enabled: true</code> in the config),
reached through the edge. Replace the demo proxy with your own VMs in <code>config/edge.yaml</code>.</p>
<h2>What the VM received</h2><table>${seen}</table>
<h2>WebSocket echo</h2><p id="ws">connecting...</p>
<script>
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/echo');
ws.onopen = () => ws.send('hello through idcs-edge');
ws.onmessage = (e) => { document.getElementById('ws').textContent = 'echo: ' + e.data; };
ws.onerror = () => { document.getElementById('ws').textContent = 'WebSocket failed'; };
</script></body></html>\n`;
}

export function startDemoVm(port: number): Promise<DemoVm> {
  const server = http.createServer((req, res) => {
    const body = page(req);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-demo-vm': 'idcs-edge' });
    res.end(body);
  });
  const wss = new WebSocketServer({ server });
  // ws re-emits the server's errors; listenOn() reports a failed listen as EDGE_ERR_LISTEN already.
  wss.on('error', () => {});
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  return listenOn(server, port, '127.0.0.1', 'the demo VM (demo.port)').then((bound) => ({
    port: bound,
    close: () => new Promise<void>((r) => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      server.close(() => r());
    }),
  }));
}
