/**
 * Every access rule, basic-auth user list and bandwidth cap of one config, compiled once when the config
 * is prepared, so that a request or a connection pays one lookup: `forMatch` for HTTP (the proxy's rules
 * and its VM's, combined once per route match and kept), `forForward` for forwards. Buckets live as long
 * as their cap is unchanged: an apply that keeps a VM's cap keeps its bucket (and the connections sharing
 * it), so a reload neither refills a cap nor splits one VM's traffic over two buckets.
 */
import { systemTicks, type Ticks } from '../clock.ts';
import type { ConfigPart } from '../config/apply.ts';
import type { EdgeConfig } from '../config/schema.ts';
import { forwardId } from '../l4/config.ts';
import { buildInventory, vmKeyOf, type Inventory } from '../routing/inventory.ts';
import type { Match } from '../routing/table.ts';
import { accessCheckOf, compileAccess, type AccessCheck, type AccessList } from './access.ts';
import { createBasicAuth, type BasicAuth } from './basic-auth.ts';
import { bytesPerSecondOfMbps, createBucket, defaultBurstBytes, type Bucket } from './bucket.ts';
import type { BandwidthConfig } from './config.ts';
import type { Caps } from './throttle.ts';

/** What one HTTP route match must pass; null from forMatch when there is nothing. */
export interface MatchPolicy {
  readonly access: AccessCheck | null;
  readonly auth: BasicAuth | null;
  /** The proxy's domain: the basic-auth realm. */
  readonly realm: string;
  readonly caps: Caps | null;
}

export interface ForwardPolicy {
  readonly access: AccessCheck | null;
  readonly caps: Caps | null;
  /** `owner/name` of the VM the forward reaches (its `vm`, or the one VM with its target address). */
  readonly vmKey: string | undefined;
}

export interface Policies {
  readonly config: EdgeConfig;
  readonly inventory: Inventory;
  /** No proxy and no VM has access rules, auth or caps: HTTP requests skip the check. */
  readonly httpNone: boolean;
  forMatch(m: Match): MatchPolicy | null;
  forForward(index: number): ForwardPolicy;
  /** The buckets in use, by cap (the next config takes over those whose cap it keeps). */
  readonly buckets: ReadonlyMap<string, Bucket>;
}

interface Level {
  readonly access: AccessList | null;
  readonly ingress: Bucket | null;
  readonly egress: Bucket | null;
}

export interface PolicyOptions {
  readonly now?: Ticks;
  /**
   * Fraction of each HTTP cap this process enforces: 1 in a single edge; 1/N in each of N workers, which
   * share a proxy's and a VM's HTTP traffic (see README "Workers").
   */
  readonly httpShare?: number;
}

type BucketPool = Map<string, Bucket>;

/** A bucket for `key` at this rate and burst: the previous config's when they are the same. */
function bucketOf(pool: BucketPool, previous: ReadonlyMap<string, Bucket> | undefined, key: string, mbps: number | undefined,
  burstKB: number | undefined, share: number, now: Ticks): Bucket | null {
  if (mbps === undefined) return null;
  const bytesPerSecond = bytesPerSecondOfMbps(mbps) * share;
  const burstBytes = burstKB !== undefined ? burstKB * 1024 * share : defaultBurstBytes(bytesPerSecond);
  const id = `${key}\0${bytesPerSecond}\0${burstBytes}`;
  const b = previous?.get(id) ?? createBucket({ bytesPerSecond, burstBytes, now });
  pool.set(id, b);
  return b;
}

const capsOf = (levels: ReadonlyArray<Level | undefined>): Caps | null => {
  const ingress = levels.map((l) => l?.ingress).filter((b): b is Bucket => b != null);
  const egress = levels.map((l) => l?.egress).filter((b): b is Bucket => b != null);
  return ingress.length || egress.length ? Object.freeze({ ingress, egress }) : null;
};

/** Compiles `config`'s policies; buckets whose cap did not change are taken over from `previous`. */
export function compilePolicies(config: EdgeConfig, previous: Policies | null, opts: PolicyOptions = {}): Policies {
  const now = opts.now ?? systemTicks;
  const share = opts.httpShare ?? 1;
  const pool: BucketPool = new Map();
  const prev = previous?.buckets;
  const level = (key: string, where: string, rules: { allow?: readonly string[] | undefined; deny?: readonly string[] | undefined } | undefined,
    bw: BandwidthConfig | undefined, s: number): Level => ({
    access: compileAccess(rules, where),
    ingress: bucketOf(pool, prev, `${key}\0in`, bw?.ingressMbps, bw?.burstKB, s, now),
    egress: bucketOf(pool, prev, `${key}\0out`, bw?.egressMbps, bw?.burstKB, s, now),
  });
  const empty = (l: Level) => !l.access && !l.ingress && !l.egress;

  // VM levels, separately for HTTP (a share of the cap in workers mode) and for forwards.
  const vmHttp = new Map<string, Level>();
  const vmL4 = new Map<string, Level>();
  config.vms.forEach((v, i) => {
    if (!v.access && !v.bandwidth) return;
    const where = `vms[${i}] (${vmKeyOf(v)})`;
    vmHttp.set(vmKeyOf(v), level(`vm\0${vmKeyOf(v)}\0http`, where, v.access, v.bandwidth, share));
    vmL4.set(vmKeyOf(v), level(`vm\0${vmKeyOf(v)}\0l4`, where, v.access, v.bandwidth, 1));
  });
  const proxies = config.proxies.map((p, i) => level(`proxy\0${p.domain}`, `proxies[${i}] (${p.domain})`, p.access, p.bandwidth, share));
  const auths = config.proxies.map((p) => (p.auth ? createBasicAuth(p.auth.users) : null));
  const inventory = buildInventory(config.vms);
  const forwards = config.forwards.map((f, i): ForwardPolicy => {
    const id = forwardId(f);
    const own = level(`forward\0${id}`, `forwards[${i}] (${id})`, { allow: f.allow, deny: f.deny }, f.bandwidth, 1);
    const vm = f.vm ? inventory.resolve({ vm: f.vm })?.vm : inventory.byAddress(f.target!);
    const vmKey = vm ? vmKeyOf(vm) : undefined;
    const vmLevel = vmKey === undefined ? undefined : vmL4.get(vmKey);
    return Object.freeze({ access: accessCheckOf([own.access, vmLevel?.access]), caps: capsOf([own, vmLevel]), vmKey });
  });
  const httpNone = vmHttp.size === 0 && proxies.every(empty) && auths.every((a) => a === null);

  const byMatch = new WeakMap<Match, MatchPolicy | null>();
  const policies: Policies = Object.freeze({
    config,
    inventory,
    httpNone,
    forMatch(m: Match): MatchPolicy | null {
      if (httpNone) return null;
      let p = byMatch.get(m);
      if (p === undefined) {
        const own = proxies[m.route.index];
        const vm = m.vmKey === undefined ? undefined : vmHttp.get(m.vmKey);
        const access = accessCheckOf([own?.access, vm?.access]);
        const auth = auths[m.route.index] ?? null;
        const caps = capsOf([own, vm]);
        p = access || auth || caps ? Object.freeze({ access, auth, realm: m.route.domain, caps }) : null;
        byMatch.set(m, p);
      }
      return p;
    },
    forForward: (index: number) => forwards[index]!,
    buckets: pool,
  });
  return policies;
}

export interface PolicyPart extends ConfigPart {
  /** The policies of `config`: the one being applied, or the running one. */
  of(config: EdgeConfig): Policies;
}

/**
 * The policies as a part of the apply pipeline. It must come before the parts that read `of(next)` while
 * they prepare (the request state, the forwards).
 */
export function createPolicyPart(opts: PolicyOptions = {}): PolicyPart {
  let current: Policies | null = null;
  let staged: Policies | null = null;
  return {
    name: 'access and bandwidth policies',
    prepare(next) {
      const s = compilePolicies(next, current, opts);
      staged = s;
      return {
        commit() { current = s; if (staged === s) staged = null; },
        abort() { if (staged === s) staged = null; },
      };
    },
    of(config) {
      if (staged?.config === config) return staged;
      if (current?.config === config) return current;
      return compilePolicies(config, current, opts);
    },
  };
}
