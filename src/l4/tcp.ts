/**
 * The TCP forward listener: accepts, checks the source against the forward's (and its VM's) access rules,
 * connects to the VM, optionally sends a PROXY protocol header, then pipes both ways. Backpressure and
 * half-close are TCP's own: each direction is a pipe (capped ones pause their source), and one side's FIN
 * is passed on as a FIN while the other direction keeps flowing. Whichever side errors, both are destroyed.
 * A connection idle both ways for `idleTimeoutMs` is closed; one that cannot reach the VM within
 * `upstream.connectTimeoutMs` is closed too. Nothing is read from a client before it is admitted and its
 * VM connection is up (pauseOnConnect), so a refused client never gets a byte through.
 */
import net from 'node:net';
import { classifyUpstreamError } from '../errors.ts';
import { pipeCapped } from '../policy/throttle.ts';
import { listenOn } from '../proxy/listeners.ts';
import type { ForwardDeps, ForwardListener } from './listener.ts';
import { proxyHeaderV1, proxyHeaderV2 } from './proxy-protocol.ts';
import { hostPort, type ForwardSpec } from './specs.ts';

interface Conn {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  readonly spec: ForwardSpec;
  /** The client's address (a destroyed socket forgets it). */
  readonly peer: string;
  /** Bytes already reported to the observer. */
  inReported: number;
  outReported: number;
  /** Sides fully closed (0-2). */
  closed: number;
}

function report(c: Conn, deps: ForwardDeps): void {
  const bytesIn = c.client.bytesRead - c.inReported;
  const bytesOut = c.client.bytesWritten - c.outReported;
  if (bytesIn === 0 && bytesOut === 0) return;
  c.inReported += bytesIn;
  c.outReported += bytesOut;
  deps.observer.bytes(c.spec, bytesIn, bytesOut);
}

/** Connections held while the apply that bound the listener is not committed yet. */
const MAX_WAITING = 1024;

export async function openTcpForward(first: ForwardSpec, deps: ForwardDeps): Promise<ForwardListener> {
  let spec = first;
  let active = false;
  const conns = new Set<Conn>();

  /** An error, the idle deadline, a removed forward or shutdown: both sides go now. */
  const cut = (c: Conn) => {
    c.client.destroy();
    c.upstream.destroy();
  };
  /**
   * One side closed cleanly (both its directions ended): the other side is closed once what it still has
   * to write is written (destroySoon), so the last bytes of an answer are never lost.
   */
  const sideClosed = (c: Conn, other: net.Socket) => {
    if (other.connecting) other.destroy();
    else other.destroySoon();
    if (++c.closed < 2) return;
    conns.delete(c);
    report(c, deps);
  };

  // Connections that arrive between the bind and the commit of the apply that made this listener wait
  // (paused: nothing is read) and are served once it commits; an aborted apply closes them.
  let waiting: net.Socket[] | null = [];
  const onConnection = (client: net.Socket) => {
    const s = spec;
    if (!active) {
      if (waiting && waiting.length < MAX_WAITING) waiting.push(client);
      else client.destroy();
      return;
    }
    const peer = client.remoteAddress ?? '';
    const why = s.policy.access?.refusal(peer) ?? null;
    if (why !== null) {
      // Closed at once: a refused source learns nothing but that the connection went away.
      client.resetAndDestroy();
      deps.observer.refused(s, 'access');
      deps.refusals.note({ forward: s.id, listen: hostPort(s.host, s.port), client: peer, reason: why });
      return;
    }
    deps.observer.opened(s);
    const target = hostPort(s.target.host, s.target.port);
    const upstream = net.connect({ host: s.target.host, port: s.target.port, allowHalfOpen: true });
    const c: Conn = { client, upstream, spec: s, peer, inReported: 0, outReported: 0, closed: 0 };
    conns.add(c);
    const connectTimer = setTimeout(() => upstream.destroy(Object.assign(new Error(`no connection within ${s.connectTimeoutMs} ms`),
      { code: 'ECONNECT_TIMEOUT' })), s.connectTimeoutMs);
    client.on('error', () => cut(c));
    upstream.on('error', (err) => {
      if (upstream.bytesRead === 0 && upstream.bytesWritten === 0) {
        const e = classifyUpstreamError(err, target);
        deps.failures.note({ forward: s.id, client: peer, target, code: e.code, err: e.message });
      }
      cut(c);
    });
    client.once('close', () => sideClosed(c, upstream));
    upstream.once('close', () => {
      clearTimeout(connectTimer);
      sideClosed(c, client);
    });
    // Any byte either way passes through both sockets, so either one's inactivity timer sees idleness both ways.
    client.setTimeout(s.idleTimeoutMs, () => cut(c));
    upstream.setTimeout(s.idleTimeoutMs, () => cut(c));
    upstream.once('connect', () => {
      clearTimeout(connectTimer);
      if (s.proxyProtocol) upstream.write(s.proxyProtocol === 'v1' ? proxyHeaderV1(client) : proxyHeaderV2(client));
      const caps = s.policy.caps;
      pipeCapped(client, upstream, caps?.ingress ?? []);
      pipeCapped(upstream, client, caps?.egress ?? []);
    });
  };

  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, onConnection);
  await listenOn(server, spec.port, spec.host, `forward ${spec.id}`);
  let closing: Promise<void> | null = null;

  const listener: ForwardListener = {
    spec: () => spec,
    activate() {
      active = true;
      const early = waiting ?? [];
      waiting = null;
      for (const c of early) if (!c.destroyed) onConnection(c);
    },
    update(next) {
      const moved = next.target.host !== spec.target.host || next.target.port !== spec.target.port || next.proxyProtocol !== spec.proxyProtocol;
      spec = next;
      // Like a WebSocket whose route now points elsewhere: connections to the old target go; so do sources the new rules refuse.
      for (const c of [...conns]) {
        if (moved || (next.policy.access?.refusal(c.peer) ?? null) !== null) cut(c);
      }
    },
    open: () => conns.size,
    sweep() { for (const c of conns) report(c, deps); },
    close(graceMs) {
      closing ??= new Promise<void>((resolve) => {
        active = false;
        for (const c of waiting ?? []) c.destroy();
        waiting = null;
        const cutAll = () => { for (const c of [...conns]) cut(c); };
        const timer = graceMs > 0 ? setTimeout(cutAll, graceMs) : null;
        if (timer === null) cutAll();
        server.close(() => {
          if (timer) clearTimeout(timer);
          resolve();
        });
        deps.registry.delete(listener);
      });
      return closing;
    },
  };
  deps.registry.add(listener);
  return listener;
}
