/** CIDR notation as the config writes it (`10.0.0.0/8`, `::1`, `192.168.1.5`). PURE. */
import { isIP, isIPv4 } from 'node:net';

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 4 | 6;
}

/** Parses "10.0.0.0/8", "::1" or "192.168.1.5" into a normalised form; null when it is not one. */
export function parseCidrOrNull(s: string): Cidr | null {
  const [addr, bits, extra] = s.trim().split('/');
  if (extra !== undefined || !addr) return null;
  const fam = isIP(addr);
  if (fam === 0) return null;
  const max = fam === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (bits !== undefined && !/^\d+$/.test(bits))) return null;
  return { address: addr, prefix, family: fam as 4 | 6 };
}

/** `::ffff:10.0.0.5` (an IPv4 client on a dual-stack socket) -> `10.0.0.5`; anything else unchanged. */
export function unmapV4(ip: string): string {
  return ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
}
