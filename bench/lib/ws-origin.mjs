/**
 * WebSocket echo origin for the WS cases: every message is sent back as it came (text or binary).
 * Usage: node ws-origin.mjs PORT. Compression off, so the proxies carry exactly what the client sent.
 */
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, clientTracking: false, backlog: 4096 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => ws.terminate());
});
wss.on('listening', () => process.stdout.write(`ws origin listening on 127.0.0.1:${port}\n`));
process.on('SIGTERM', () => process.exit(0));
