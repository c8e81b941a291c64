/**
 * The UDP forward listener. Each client address and port is a session with a socket of its own to the VM
 * (connected, so only the VM's replies are accepted on it); replies go back to the client from the
 * listening socket, so the client sees answers from the port it sent to. A session ends after
 * `idleTimeoutMs` without a datagram either way (checked by one sweep timer, not a timer per datagram).
 * Sessions are bounded by `maxSessions`: a new source beyond it is dropped. A refused source's datagrams
 * are dropped without an answer. A cap cannot pause a datagram: one the bucket has no tokens for is dropped.
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { EdgeError, ErrorCodes } from '../errors.ts';
import type { Cap } from '../policy/throttle.ts';
import type { ForwardDeps, ForwardListener } from './listener.ts';
import type { RefusalReason } from './observer.ts';
import { hostPort, type ForwardSpec } from './specs.ts';

interface Session {
  readonly client: { readonly address: string; readonly port: number };
  readonly upstream: dgram.Socket;
  readonly spec: ForwardSpec;
  connected: boolean;
  /** Datagrams that arrived while the upstream socket was connecting (bounded). */
  queue: Buffer[];
  lastSeen: number;
  pendingIn: number;
  pendingOut: number;
}

const MAX_QUEUED = 16;

function fits(cap: Cap | undefined, n: number): boolean {
  if (!cap) return true;
  for (const b of cap) if (!b.tryTake(n)) return false;
  return true;
}

function bindUdp(socket: dgram.Socket, spec: ForwardSpec): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'EACCES' ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)'
        : err.code === 'EADDRINUSE' ? ' (another program listens there already)' : '';
      reject(new EdgeError(ErrorCodes.LISTEN, `cannot listen for forward ${spec.id} on udp ${hostPort(spec.host, spec.port)}: ${err.code ?? err.message}${hint}`, { cause: err }));
    };
    socket.once('error', onError);
    // exclusive: the socket is this process's own, never one node:cluster shares with others.
    socket.bind({ address: spec.host, port: spec.port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

export async function openUdpForward(first: ForwardSpec, deps: ForwardDeps, now: () => number = Date.now): Promise<ForwardListener> {
  let spec = first;
  let active = false;
  const sessions = new Map<string, Session>();
  const socket = dgram.createSocket({ type: isIPv6(first.host) ? 'udp6' : 'udp4' });
  await bindUdp(socket, first);
  socket.on('error', () => { /* a send to a client that went away: nothing to do */ });

  const flush = (s: Session) => {
    if (s.pendingIn === 0 && s.pendingOut === 0) return;
    deps.observer.bytes(s.spec, s.pendingIn, s.pendingOut);
    s.pendingIn = 0;
    s.pendingOut = 0;
  };
  const endSession = (key: string, s: Session) => {
    if (sessions.get(key) !== s) return;
    sessions.delete(key);
    flush(s);
    try { s.upstream.close(); } catch { /* already closed */ }
  };
  const refuse = (sp: ForwardSpec, reason: RefusalReason, client: string, why: string) => {
    deps.observer.refused(sp, reason);
    deps.refusals.note({ forward: sp.id, listen: `udp ${hostPort(sp.host, sp.port)}`, client, reason: why });
  };

  const startSession = (key: string, sp: ForwardSpec, address: string, port: number): Session | null => {
    const why = sp.policy.access?.refusal(address) ?? null;
    if (why !== null) { refuse(sp, 'access', address, why); return null; }
    if (sessions.size >= sp.maxSessions) {
      refuse(sp, 'sessions', address, `the forward has maxSessions (${sp.maxSessions}) sessions open`);
      return null;
    }
    const upstream = dgram.createSocket({ type: isIPv6(sp.target.host) ? 'udp6' : 'udp4' });
    const s: Session = { client: { address, port }, upstream, spec: sp, connected: false, queue: [], lastSeen: now(), pendingIn: 0, pendingOut: 0 };
    sessions.set(key, s);
    deps.observer.opened(sp);
    upstream.on('message', (reply) => {
      s.lastSeen = now();
      if (!fits(sp.policy.caps?.egress, reply.length)) { deps.observer.refused(sp, 'bandwidth'); return; }
      s.pendingOut += reply.length;
      socket.send(reply, port, address);
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      // ECONNREFUSED: the VM's port is closed (an ICMP unreachable came back).
      deps.failures.note({ forward: sp.id, client: address, target: hostPort(sp.target.host, sp.target.port), code: err.code, err: err.message });
      endSession(key, s);
    });
    upstream.connect(sp.target.port, sp.target.host, () => {
      s.connected = true;
      for (const d of s.queue) upstream.send(d);
      s.queue = [];
    });
    return s;
  };

  socket.on('message', (msg, rinfo) => {
    if (!active) return;
    const key = `${rinfo.address}\0${rinfo.port}`;
    const s = sessions.get(key) ?? startSession(key, spec, rinfo.address, rinfo.port);
    if (s === null) return;
    s.lastSeen = now();
    if (!fits(s.spec.policy.caps?.ingress, msg.length)) { deps.observer.refused(s.spec, 'bandwidth'); return; }
    s.pendingIn += msg.length;
    if (s.connected) s.upstream.send(msg);
    else if (s.queue.length < MAX_QUEUED) s.queue.push(msg);
  });

  const sweep = () => {
    const t = now();
    for (const [key, s] of sessions) {
      if (t - s.lastSeen >= s.spec.idleTimeoutMs) endSession(key, s);
      else flush(s);
    }
  };
  const sweeper = setInterval(sweep, Math.min(5_000, Math.max(250, Math.floor(first.idleTimeoutMs / 4))));
  sweeper.unref();
  let closing: Promise<void> | null = null;

  const listener: ForwardListener = {
    spec: () => spec,
    activate() { active = true; },
    update(next) {
      const moved = next.target.host !== spec.target.host || next.target.port !== spec.target.port;
      spec = next;
      for (const [key, s] of [...sessions]) {
        if (moved || (next.policy.access?.refusal(s.client.address) ?? null) !== null) endSession(key, s);
      }
    },
    open: () => sessions.size,
    sweep,
    // A datagram is never "in flight" the way a request is: sessions end now, whatever the grace.
    close(_graceMs) {
      closing ??= new Promise<void>((resolve) => {
        active = false;
        deps.registry.delete(listener);
        clearInterval(sweeper);
        for (const [key, s] of [...sessions]) endSession(key, s);
        socket.close(() => resolve());
      });
      return closing;
    },
  };
  deps.registry.add(listener);
  return listener;
}
