/**
 * The `forwards` section: TCP and UDP port forwards to VMs. Mounted by config/schema.ts at `forwards`; the
 * checks that need the rest of the config (overlapping ports, the edge's own listeners, inventory VMs) are in
 * `forwardIssues`, which the top-level schema calls. A port is forwarded once per protocol, whatever the
 * address, because the platform (and the admin API) names a forward by protocol and port.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { isValidHostname } from '../routing/host.ts';
import { bandwidthSchema, cidrList } from '../policy/config.ts';

/** A port or an inclusive range of ports, as `port` and `targetPort` write it. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** Most ports one forward may cover: each is a listening socket. */
export const MAX_RANGE = 1024;

/** `22` or `2000-2009`: how the config, the CSV and the API path write a forward's ports. */
export function portText(r: PortRange): string {
  return r.from === r.to ? String(r.from) : `${r.from}-${r.to}`;
}

/** Reads `22`, `"22"` or `"2000-2009"`; a message when it is not a port or a range of at most MAX_RANGE ports. */
export function parsePortRange(v: unknown): PortRange | string {
  const text = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : null;
  const m = text === null ? null : /^(\d{1,5})(?:\s*-\s*(\d{1,5}))?$/.exec(text);
  if (!m) return 'expected a port 1-65535 or a range such as "2000-2009"';
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from < 1 || to > 65535 || from > 65535) return 'expected ports 1-65535';
  if (to < from) return `the range ${text} ends before it starts`;
  if (to - from + 1 > MAX_RANGE) return `expected at most ${MAX_RANGE} ports in one forward`;
  return { from, to };
}

const ports = z.union([z.number(), z.string()], { error: 'expected a port 1-65535 or a range such as "2000-2009"' })
  .transform((v, ctx): PortRange => {
    const r = parsePortRange(v);
    if (typeof r === 'string') {
      ctx.addIssue({ code: 'custom', message: r });
      return z.NEVER;
    }
    return r;
  });

const address = z.string({ error: 'expected the VM address: an IP such as 10.0.0.5 or a host name' }).trim()
  .refine((s) => isIP(s) !== 0 || isValidHostname(s.toLowerCase()), { error: 'expected an IP address or host name (no port: use targetPort)' });

const name = (what: string) => z.string({ error: `expected the VM's ${what}` }).trim().min(1, { error: `expected a non-empty ${what}` })
  .transform((s) => s.toLowerCase());

const ms = (what: string, min: number, max: number) => z.number({ error: `expected ${what} as a number of milliseconds` })
  .int({ error: 'expected a whole number of milliseconds' })
  .min(min, { error: `expected at least ${min} ms` }).max(max, { error: `expected at most ${max} ms` });

export const forwardSchema = z.strictObject({
  protocol: z.enum(['tcp', 'udp'], { error: 'expected tcp or udp' }).default('tcp'),
  /** Address to bind; default listen.host. */
  listen: z.string({ error: 'expected the IP address to listen on' }).trim()
    .refine((s) => isIP(s) !== 0, { error: 'expected an IP address to listen on, such as 127.0.0.1, 0.0.0.0 or ::' }).optional(),
  port: ports,
  target: address.optional(),
  vm: z.strictObject({ owner: name('owner'), name: name('name') }).optional(),
  /** Default: the same port(s) as `port`. */
  targetPort: ports.optional(),
  note: z.string().optional(),
  allow: cidrList.optional(),
  deny: cidrList.optional(),
  /** Send the client's address to the VM in a PROXY protocol header (TCP only). */
  proxyProtocol: z.union([z.literal(false), z.literal('v1'), z.literal('v2')], { error: 'expected false, v1 or v2' }).default(false),
  bandwidth: bandwidthSchema.optional(),
  /** Close a TCP connection, or end a UDP session, after this long without traffic either way. */
  idleTimeoutMs: ms('idleTimeoutMs', 1000, 86_400_000).optional(),
  /** UDP: most client sessions at once (each has its own socket to the VM). */
  maxSessions: z.number({ error: 'expected maxSessions as a number' }).int({ error: 'expected a whole number' })
    .min(1, { error: 'expected at least 1' }).max(100_000, { error: 'expected at most 100000' }).optional(),
}).superRefine((f, ctx) => {
  if ((f.target === undefined) === (f.vm === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['target'], message: 'give target (an address) or vm: { owner, name } (an inventory VM), one of them' });
  }
  const width = f.port.to - f.port.from;
  if (f.targetPort && f.targetPort.to - f.targetPort.from !== width) {
    ctx.addIssue({ code: 'custom', path: ['targetPort'], message: `expected ${width === 0 ? 'one port' : `a range of ${width + 1} ports`}, as many as port ${portText(f.port)}` });
  }
  if (f.protocol === 'udp' && f.proxyProtocol !== false) {
    ctx.addIssue({ code: 'custom', path: ['proxyProtocol'], message: 'the PROXY protocol header is sent on TCP forwards only' });
  }
  if (f.protocol === 'tcp' && f.maxSessions !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['maxSessions'], message: 'maxSessions bounds UDP sessions; TCP forwards have none' });
  }
});

export type ForwardRule = z.output<typeof forwardSchema>;

/** The id a forward is named by in the API, metrics and logs: `tcp/10022`, `udp/2000-2009`. */
export function forwardId(f: Pick<ForwardRule, 'protocol' | 'port'>): string {
  return `${f.protocol}/${portText(f.port)}`;
}

const WILDCARDS = new Set(['0.0.0.0', '::']);
const sameAddress = (a: string, b: string) => a === b || WILDCARDS.has(a) || WILDCARDS.has(b);

interface Listeners {
  readonly listen: { readonly host: string; readonly http: number; readonly https: number };
}

/**
 * What is wrong with the forwards given the rest of the config: a port forwarded twice for one protocol,
 * a TCP port of the edge's own HTTP/HTTPS listeners, a VM the inventory does not have.
 */
export function forwardIssues(forwards: readonly ForwardRule[], c: Listeners & { readonly vms: ReadonlyArray<{ owner: string; name: string }> }):
  Array<{ path: Array<string | number>; message: string }> {
  const issues: Array<{ path: Array<string | number>; message: string }> = [];
  const vms = new Set(c.vms.map((v) => `${v.owner}/${v.name}`));
  const own = [['http', c.listen.http], ['https', c.listen.https]] as const;
  forwards.forEach((f, i) => {
    forwards.slice(0, i).forEach((g, j) => {
      if (g.protocol === f.protocol && g.port.from <= f.port.to && f.port.from <= g.port.to) {
        issues.push({ path: ['forwards', i, 'port'], message: `${f.protocol} port ${Math.max(f.port.from, g.port.from)} is already forwarded by forwards[${j}] (${forwardId(g)})` });
      }
    });
    const host = f.listen ?? c.listen.host;
    for (const [what, p] of own) {
      if (f.protocol === 'tcp' && p !== 0 && f.port.from <= p && p <= f.port.to && sameAddress(host, c.listen.host)) {
        issues.push({ path: ['forwards', i, 'port'], message: `tcp port ${p} is the edge's ${what.toUpperCase()} listener (listen.${what})` });
      }
    }
    if (f.vm && !vms.has(`${f.vm.owner}/${f.vm.name}`)) {
      issues.push({ path: ['forwards', i, 'vm'], message: `${f.vm.owner} has no VM named ${f.vm.name} in vms` });
    }
  });
  return issues;
}
