/**
 * The VM inventory and the one place a target is resolved: HTTP proxies (an address, or a template's
 * `<vm-name>.<domain>`) and port forwards (an address, or `vm: { owner, name }`) all find their VM here.
 * Pure: built once per config, read-only after.
 */
import type { VmEntry } from '../config/schema.ts';

/** What a rule points at: a fixed address, or a VM of the inventory by owner and name. */
export type TargetSpec = { readonly address: string } | { readonly vm: { readonly owner: string; readonly name: string } };

/** `owner/name`: how metrics, traffic statistics and policies name a VM. */
export function vmKeyOf(vm: Pick<VmEntry, 'owner' | 'name'>): string {
  return `${vm.owner}/${vm.name}`;
}

/** A resolved target: the address to connect to, the VM's own port if it names one, and the VM if any. */
export interface ResolvedTarget {
  readonly address: string;
  readonly port: number | undefined;
  readonly vm: VmEntry | undefined;
}

export interface Inventory {
  /** The VMs of one owner, by (lower-case) name; empty for an owner without VMs. */
  vmsOf(owner: string): ReadonlyMap<string, VmEntry>;
  /** The one VM with this address, if exactly one has it (so traffic to a fixed target is still a VM's). */
  byAddress(address: string): VmEntry | undefined;
  /** Resolves a target; null when it names a VM the inventory does not have. */
  resolve(t: TargetSpec): ResolvedTarget | null;
}

const EMPTY: ReadonlyMap<string, VmEntry> = new Map();

export function buildInventory(vms: readonly VmEntry[]): Inventory {
  const byOwner = new Map<string, Map<string, VmEntry>>();
  const byIp = new Map<string, VmEntry | null>();
  for (const vm of vms) {
    byIp.set(vm.ip, byIp.has(vm.ip) ? null : vm);
    let m = byOwner.get(vm.owner);
    if (!m) byOwner.set(vm.owner, m = new Map());
    m.set(vm.name, vm);
  }
  return Object.freeze({
    vmsOf: (owner: string) => byOwner.get(owner) ?? EMPTY,
    byAddress: (address: string) => byIp.get(address) ?? undefined,
    resolve(t: TargetSpec): ResolvedTarget | null {
      if ('address' in t) return { address: t.address, port: undefined, vm: undefined };
      const vm = byOwner.get(t.vm.owner)?.get(t.vm.name);
      return vm ? { address: vm.ip, port: vm.port, vm } : null;
    },
  });
}
