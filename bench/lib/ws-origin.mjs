/**
 * WebSocket echo origin for the WS cases: every data frame is sent back with the same opcode and payload.
 *
 * Usage: node ws-origin.mjs PORT [--ws]
 *
 * By default it is a minimal RFC 6455 server on raw TCP (upgrade, masked frames in, unmasked frames out,
 * close and ping answered), because the origin shares a core with the load client and every microsecond
 * it spends is one the proxy under test is not measured with. `--ws` uses the `ws` package instead
 * (perMessageDeflate off), for checking that the raw one does not flatter any proxy.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';

const port = Number(process.argv[2]);
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

async function startWs() {
  const { WebSocketServer } = await import('ws');
  const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, clientTracking: false, backlog: 4096 });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => ws.terminate());
  });
  return new Promise((r) => wss.on('listening', r));
}

/** Server frame header for a payload of n bytes (never masked). */
function header(opcode, n) {
  if (n < 126) return Buffer.from([0x80 | opcode, n]);
  if (n < 65536) { const h = Buffer.alloc(4); h[0] = 0x80 | opcode; h[1] = 126; h.writeUInt16BE(n, 2); return h; }
  const h = Buffer.alloc(10); h[0] = 0x80 | opcode; h[1] = 127; h.writeBigUInt64BE(BigInt(n), 2); return h;
}

function onSocket(s) {
  s.setNoDelay(true);
  s.on('error', () => s.destroy());
  let buf = Buffer.alloc(0);
  let upgraded = false;
  s.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    if (!upgraded) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) { if (buf.length > 16384) s.destroy(); return; }
      const key = /^sec-websocket-key:\s*(\S+)/im.exec(buf.subarray(0, end).toString('latin1'))?.[1];
      if (!key) { s.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'); return; }
      const accept = createHash('sha1').update(key + GUID).digest('base64');
      s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      upgraded = true;
      buf = buf.subarray(end + 4);
    }
    const out = [];
    for (;;) {
      if (buf.length < 2) break;
      const opcode = buf[0] & 0x0f;
      const masked = (buf[1] & 0x80) !== 0;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) { if (buf.length < 4) break; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) break; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      const maskOff = off;
      if (masked) off += 4;
      if (buf.length < off + len) break;
      const payload = Buffer.from(buf.subarray(off, off + len));
      if (masked) for (let i = 0; i < len; i++) payload[i] ^= buf[maskOff + (i & 3)];
      buf = buf.subarray(off + len);
      if (opcode === 0x8) { out.push(header(0x8, len), payload); s.end(Buffer.concat(out)); return; }
      if (opcode === 0x9) { out.push(header(0xa, len), payload); continue; }
      if (opcode === 0xa) continue;
      out.push(header(opcode, len), payload); // unfragmented text/binary frames, as the bench clients send
    }
    if (out.length) s.write(out.length === 1 ? out[0] : Buffer.concat(out));
  });
}

if (process.argv.includes('--ws')) {
  await startWs();
} else {
  const server = net.createServer(onSocket);
  await new Promise((r) => server.listen({ host: '127.0.0.1', port, backlog: 4096 }, r));
}
process.stdout.write(`ws origin (${process.argv.includes('--ws') ? 'ws package' : 'raw'}) listening on 127.0.0.1:${port}\n`);
process.on('SIGTERM', () => process.exit(0));
