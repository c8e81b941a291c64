/**
 * The PROXY protocol header (HAProxy's spec, versions 1 and 2) a TCP forward sends first to the VM when
 * `proxyProtocol` asks for it, so the VM learns the client's address and port although the connection comes
 * from the edge. PURE. Both ends must be of one family: an IPv4 client on a dual-stack socket
 * (`::ffff:10.0.0.5`) is written as IPv4 when the local address is too; otherwise the header says UNKNOWN
 * (v1) or LOCAL (v2), which a VM reads as "no address given".
 */
import { isIPv4, isIPv6 } from 'node:net';
import { unmapV4 } from '../policy/cidr.ts';

export interface ConnectionEnds {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
}

/** 12 bytes that start every v2 header (spec section 2.2). */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

function familyOf(e: ConnectionEnds): { src: string; dst: string; family: 4 | 6 } | null {
  if (!e.remoteAddress || !e.localAddress || e.remotePort === undefined || e.localPort === undefined) return null;
  const src = unmapV4(e.remoteAddress);
  const dst = unmapV4(e.localAddress);
  if (isIPv4(src) && isIPv4(dst)) return { src, dst, family: 4 };
  if (isIPv6(e.remoteAddress) && isIPv6(e.localAddress)) return { src: e.remoteAddress, dst: e.localAddress, family: 6 };
  return null;
}

/** `PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n` (spec section 2.1). */
export function proxyHeaderV1(e: ConnectionEnds): Buffer {
  const f = familyOf(e);
  if (!f) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  return Buffer.from(`PROXY TCP${f.family} ${f.src} ${f.dst} ${e.remotePort} ${e.localPort}\r\n`, 'latin1');
}

function v6Bytes(ip: string): Buffer {
  const [head, tail] = ip.includes('::') ? ip.split('::') as [string, string] : [ip, undefined];
  const parts = (s: string | undefined) => (s ? s.split(':') : []);
  let groups = parts(head);
  let rest = parts(tail);
  // An embedded IPv4 tail (::ffff:10.0.0.5) is two groups.
  const last = (tail === undefined ? groups : rest).at(-1);
  if (last !== undefined && last.includes('.')) {
    const [a, b, c, d] = last.split('.').map(Number) as [number, number, number, number];
    const v4 = [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
    if (tail === undefined) groups = [...groups.slice(0, -1), ...v4];
    else rest = [...rest.slice(0, -1), ...v4];
  }
  const all = tail === undefined ? groups : [...groups, ...Array<string>(8 - groups.length - rest.length).fill('0'), ...rest];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return out;
}

/** The binary v2 header with the PROXY command over TCP (spec section 2.2); LOCAL when the ends are not one family. */
export function proxyHeaderV2(e: ConnectionEnds): Buffer {
  const f = familyOf(e);
  if (!f) return Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  const addrs = f.family === 4
    ? Buffer.concat([Buffer.from(f.src.split('.').map(Number)), Buffer.from(f.dst.split('.').map(Number))])
    : Buffer.concat([v6Bytes(f.src), v6Bytes(f.dst)]);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(e.remotePort!, 0);
  ports.writeUInt16BE(e.localPort!, 2);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(addrs.length + 4);
  // 0x21: version 2, PROXY command; 0x11 TCP over IPv4, 0x21 TCP over IPv6.
  return Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, f.family === 4 ? 0x11 : 0x21]), len, addrs, ports]);
}
