/**
 * VMs that misbehave, for the fault suite: a raw TCP "VM" whose every connection gets a scripted
 * behaviour (answer half a body and reset, answer garbage, hold the connection), a target whose SYNs are
 * never answered, and small log helpers. Loopback and test-made network namespaces only.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { waitFor } from './net.ts';

type Ctx = { after(fn: () => unknown): void; diagnostic?(msg: string): void };

export interface RawVm {
  readonly port: number;
  /** Connections the VM has accepted so far. */
  accepted(): number;
  /** Connections open now. */
  open(): number;
  /** Every connection's received bytes, in order. */
  readonly received: string[];
}

/**
 * A TCP server on 127.0.0.1:0 that calls `onRequest(socket, bytes)` once per connection, when the first
 * request's header block has arrived (what a VM's HTTP server would have parsed by then).
 */
export async function startRawVm(t: Ctx, onRequest: (socket: net.Socket, bytes: string) => void): Promise<RawVm> {
  const sockets = new Set<net.Socket>();
  const received: string[] = [];
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    sockets.add(s);
    const i = received.push('') - 1;
    let answered = false;
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.on('data', (c: Buffer) => {
      received[i] += c.toString('latin1');
      if (!answered && received[i]!.includes('\r\n\r\n')) {
        answered = true;
        onRequest(s, received[i]!);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.close(() => r());
  }));
  return { port: (server.address() as net.AddressInfo).port, accepted: () => accepted, open: () => sockets.size, received };
}

export interface SilentTarget {
  readonly host: string;
  readonly port: number;
  /** How the silence was made: a test-made network namespace that drops packets, or a full accept queue. */
  readonly how: 'netns' | 'full-accept-queue';
}

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * A veth pair into a network namespace made for this test, whose far end has no address: SYNs sent to
 * 198.18.N.2 (RFC 2544 benchmarking space) reach the namespace through a permanent neighbour entry and are
 * dropped there, never answered, exactly like a VM host that is down behind a firewall. Needs root
 * (CAP_NET_ADMIN); null when that is not available.
 */
function netnsTarget(t: Ctx): SilentTarget | null {
  const tag = randomBytes(4).toString('hex');
  const ns = `idcs-bh-${tag}`;
  const near = `ibh${tag}a`;
  for (let attempt = 0; attempt < 4; attempt++) {
    const subnet = 1 + ((process.pid + attempt * 61) % 250);
    const cleanup = () => {
      try { ip(['link', 'del', near]); } catch { /* gone with the namespace */ }
      try { ip(['netns', 'del', ns]); } catch { /* already gone */ }
    };
    try {
      ip(['netns', 'add', ns]);
    } catch {
      return null;
    }
    try {
      ip(['link', 'add', near, 'type', 'veth', 'peer', 'name', 'far', 'netns', ns]);
      ip(['addr', 'add', `198.18.${subnet}.1/30`, 'dev', near]);
      ip(['link', 'set', near, 'up']);
      ip(['-n', ns, 'link', 'set', 'far', 'up']);
      const mac = (JSON.parse(ip(['-n', ns, '-j', 'link', 'show', 'far'])) as Array<{ address: string }>)[0]!.address;
      ip(['neigh', 'replace', `198.18.${subnet}.2`, 'lladdr', mac, 'dev', near, 'nud', 'permanent']);
      t.after(cleanup);
      return { host: `198.18.${subnet}.2`, port: 80, how: 'netns' };
    } catch {
      cleanup();
    }
  }
  return null;
}

/**
 * A listener in a child process that is stopped (SIGSTOP) with its accept queue filled: the kernel drops
 * further SYNs to it (Linux does when the accept queue is full), so a connect hangs as it would to a host
 * that never answers. Used where network namespaces cannot be made.
 */
async function fullQueueTarget(t: Ctx): Promise<SilentTarget> {
  const child = spawn(process.execPath, ['-e',
    "const s=require('net').createServer();s.listen({port:0,host:'127.0.0.1',backlog:1},()=>process.stdout.write(s.address().port+'\\n'))"],
  { stdio: ['ignore', 'pipe', 'ignore'] });
  const fillers: net.Socket[] = [];
  t.after(() => {
    for (const f of fillers) f.destroy();
    if (child.exitCode === null) process.kill(child.pid!, 'SIGKILL');
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  const port = Number(await waitFor('the listener child to report its port', () => /^\d+\n/.test(out) && out.trim()));
  process.kill(child.pid!, 'SIGSTOP');
  // Fill the queue: connections complete until it is full; the first one that does not is the proof.
  for (let i = 0; i < 16; i++) {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => {});
    fillers.push(s);
    const connected = await new Promise<boolean>((r) => {
      const timer = setTimeout(() => r(false), 300);
      s.once('connect', () => { clearTimeout(timer); r(true); });
    });
    if (!connected) return { host: '127.0.0.1', port, how: 'full-accept-queue' };
  }
  throw new Error('could not fill the accept queue of the stopped listener');
}

/** An address whose SYNs are never answered: a network namespace when the test may make one, else a full accept queue. */
export async function silentTarget(t: Ctx): Promise<SilentTarget> {
  return netnsTarget(t) ?? fullQueueTarget(t);
}

export type LogLine = Record<string, unknown>;

/** Waits for the first log line with message `msg` whose fields include `fields`. */
export function logLine(logs: readonly LogLine[], msg: string, fields: Record<string, unknown> = {}, timeoutMs = 5_000): Promise<LogLine> {
  return waitFor(`a "${msg}" log line with ${JSON.stringify(fields)}`,
    () => logs.find((l) => l.msg === msg && Object.entries(fields).every(([k, v]) => l[k] === v)), timeoutMs);
}

/** The number of open file descriptors of this process. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}
