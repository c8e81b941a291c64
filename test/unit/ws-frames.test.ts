/**
 * The frame tracker that lets shutdown put a Close frame between two frames: for streams of frames of every
 * header form (7-bit, 16-bit and 64-bit lengths, masked or not, empty payloads), cut into chunks at every
 * possible place, it must know the frame boundaries exactly. Frames are built here byte by byte from
 * RFC 6455 5.2; the Close frames are sent over real sockets to `ws` peers, which must read 1001.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { closeFrame, createFrameTracker } from '../../src/proxy/ws-frames.ts';

function frame(payloadLength: number, masked: boolean, opcode = 0x2): Buffer {
  const len = payloadLength < 126 ? [payloadLength] : payloadLength < 65536 ? [126, payloadLength >> 8, payloadLength & 0xff]
    : [127, ...Array.from({ length: 8 }, (_, i) => Number((BigInt(payloadLength) >> BigInt(8 * (7 - i))) & 0xffn))];
  len[0]! |= masked ? 0x80 : 0;
  return Buffer.concat([Buffer.from([0x80 | opcode, ...len]), masked ? Buffer.from([1, 2, 3, 4]) : Buffer.alloc(0), Buffer.alloc(payloadLength, 7)]);
}

const cases: Array<{ name: string; lengths: number[]; masked: boolean }> = [
  { name: 'small unmasked frames', lengths: [0, 1, 5, 125], masked: false },
  { name: 'small masked frames', lengths: [3, 0, 125], masked: true },
  { name: '16-bit lengths', lengths: [126, 300, 65535], masked: false },
  { name: '16-bit lengths, masked', lengths: [126, 1000], masked: true },
  { name: 'a 64-bit length', lengths: [65536, 2], masked: true },
];

describe('WebSocket frame tracker', () => {
  for (const c of cases) {
    it(`${c.name}: boundaries are exact wherever the stream is cut`, () => {
      const frames = c.lengths.map((n) => frame(n, c.masked));
      const stream = Buffer.concat(frames);
      const ends = new Set<number>([0]);
      let at = 0;
      for (const f of frames) ends.add((at += f.length));
      // Cut points: every byte for small streams, around every boundary and header for large ones.
      const cuts = stream.length < 2000 ? [...Array(stream.length + 1).keys()]
        : [...new Set([...ends].flatMap((e) => Array.from({ length: 30 }, (_, i) => e - 15 + i)).filter((x) => x >= 0 && x <= stream.length))];
      for (const cut of cuts) {
        const tr = createFrameTracker();
        tr.push(stream.subarray(0, cut));
        assert.equal(tr.atBoundary(), ends.has(cut), `after ${cut} bytes`);
        const rest = stream.subarray(cut);
        const next = [...ends].filter((e) => e >= cut).sort((a, b) => a - b)[0]!;
        assert.equal(tr.boundaryIn(rest), next === cut ? 0 : next - cut, `next boundary after ${cut} bytes`);
        // boundaryIn only looks: pushing the rest then ends at the end of the last frame.
        tr.push(rest);
        assert.equal(tr.atBoundary(), true, `at the end after a cut at ${cut}`);
      }
    });
  }

  it('a boundary past the chunk is -1, and a header split over three chunks is followed', () => {
    const f = frame(300, true);
    const tr = createFrameTracker();
    tr.push(f.subarray(0, 1));
    assert.equal(tr.boundaryIn(f.subarray(1, 3)), -1);
    tr.push(f.subarray(1, 3));
    tr.push(f.subarray(3, 5));
    assert.equal(tr.boundaryIn(f.subarray(5)), f.length - 5);
  });

  it('closeFrame(1001, false) is a Close 1001 a ws client accepts from its server', async (t) => {
    // A raw server: answers the handshake, then sends only the Close frame.
    const server = net.createServer((sock) => {
      sock.once('data', (req) => {
        const key = /sec-websocket-key: (.+)\r\n/i.exec(req.toString())![1]!;
        const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
        sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
        sock.write(closeFrame(1001, false));
        sock.end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => server.close());
    const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const [code] = await once(ws, 'close');
    assert.equal(code, 1001);
  });

  it('closeFrame(1001, true) is a masked Close 1001 a ws server accepts from its client', async (t) => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    t.after(() => wss.close());
    const code = new Promise<number>((resolve) => wss.on('connection', (ws) => ws.on('close', (c) => resolve(c))));
    const sock = net.connect((wss.address() as AddressInfo).port, '127.0.0.1');
    t.after(() => sock.destroy());
    sock.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n'
      + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    await once(sock, 'data');
    // ws closes the connection with 1002 when a client frame is not masked (RFC 6455 5.1).
    sock.write(closeFrame(1001, true));
    assert.equal(await code, 1001);
  });
});
