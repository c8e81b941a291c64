/**
 * Which certificates a set of routes needs. Pure: derived from the proxies and the inventory when a config
 * is applied. A wildcard route needs its wildcard certificate, except a letsencrypt template without a DNS
 * hook: a CA issues wildcards only through DNS-01, so each VM's own name gets an HTTP-01 certificate, and
 * names no VM has are never sent to the CA.
 */
import type { CertSource, ProxyRule } from '../config/schema.ts';
import { isDnsLabel } from './host.ts';
import type { Inventory } from './inventory.ts';

/** One certificate the table needs: its store name, the names in it, and where it comes from. */
export interface CertTarget {
  readonly name: string;
  readonly names: readonly string[];
  readonly source: CertSource;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** The proxy's position in the config, for errors that name it. */
  readonly index: number;
}

/** The certificate targets of one enabled proxy. */
export function certTargetsOf(p: ProxyRule, index: number, inventory: Inventory, hasDnsHook: boolean): CertTarget[] {
  if (!p.ssl) return [];
  const perVm = p.owner !== undefined && p.certSource === 'letsencrypt' && !hasDnsHook;
  if (!perVm) {
    return [Object.freeze({ name: p.domain, names: Object.freeze([p.domain]), source: p.certSource, index,
      ...(p.certFile !== undefined ? { certFile: p.certFile } : {}), ...(p.keyFile !== undefined ? { keyFile: p.keyFile } : {}) })];
  }
  const suffix = p.domain.slice(2);
  const out: CertTarget[] = [];
  for (const vm of inventory.vmsOf(p.owner!).keys()) {
    // A VM name that is not a DNS label (upper case is folded already) cannot be in a certificate.
    if (isDnsLabel(vm)) out.push(Object.freeze({ name: `${vm}.${suffix}`, names: Object.freeze([`${vm}.${suffix}`]), source: p.certSource, index }));
  }
  return out;
}
