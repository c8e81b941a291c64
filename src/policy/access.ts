/**
 * Access rules by source address: `allow` and `deny` CIDR lists on a proxy, a forward or an inventory VM.
 * Deny wins; a non-empty allow list admits only the addresses it covers. The rules of every level a
 * connection passes (its proxy or forward, and the VM it reaches) must all admit it. PURE: lists are
 * compiled into node:net BlockLists once per config, so a check is a few BlockList lookups. IPv4 clients
 * on a dual-stack socket (`::ffff:10.0.0.5`) match IPv4 rules, and IPv4-mapped rules match IPv4 clients.
 */
import { BlockList, isIP } from 'node:net';
import { parseCidrOrNull, unmapV4 } from './cidr.ts';

export interface AccessRules {
  readonly allow?: readonly string[] | undefined;
  readonly deny?: readonly string[] | undefined;
}

/** One level's compiled rules, named for the operator's log line (`forwards[2]`, `vms[0] (user1/web1)`). */
export interface AccessList {
  readonly where: string;
  readonly allow: BlockList | null;
  readonly deny: BlockList | null;
}

/** The rules a connection must pass; `refusal` is null when the address is admitted. */
export interface AccessCheck {
  /** Why `address` is refused (for the log), or null when every level admits it. */
  refusal(address: string): string | null;
}

function blockListOf(cidrs: readonly string[] | undefined): BlockList | null {
  if (!cidrs || cidrs.length === 0) return null;
  const list = new BlockList();
  for (const c of cidrs) {
    const p = parseCidrOrNull(c);
    if (p) list.addSubnet(p.address, p.prefix, p.family === 4 ? 'ipv4' : 'ipv6');
  }
  return list;
}

/** Compiles one level's rules; null when it has none (nothing to check). */
export function compileAccess(rules: AccessRules | undefined, where: string): AccessList | null {
  const allow = blockListOf(rules?.allow);
  const deny = blockListOf(rules?.deny);
  return allow || deny ? Object.freeze({ where, allow, deny }) : null;
}

/** Combines the levels a connection passes; null when none has rules (the common case costs nothing). */
export function accessCheckOf(levels: ReadonlyArray<AccessList | null | undefined>): AccessCheck | null {
  const lists = levels.filter((l): l is AccessList => l != null);
  if (lists.length === 0) return null;
  return Object.freeze({
    refusal(address: string): string | null {
      const ip = unmapV4(address);
      const family = isIP(ip);
      // A connection without a usable peer address (already closed) cannot be shown to be admitted.
      if (family === 0) return `the client address ${JSON.stringify(address)} is not an IP address`;
      const type = family === 4 ? 'ipv4' : 'ipv6';
      for (const l of lists) {
        if (l.deny?.check(ip, type)) return `${ip} is in the deny list of ${l.where}`;
        if (l.allow && !l.allow.check(ip, type)) return `${ip} is not in the allow list of ${l.where}`;
      }
      return null;
    },
  });
}
