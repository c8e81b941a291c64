/**
 * Real TCP and UDP peers for forward tests: VM-like backends on loopback addresses, free port ranges on a
 * given address, clients from a chosen source address (127.0.0.0/8 is all loopback on Linux, so a test can
 * be "another client" by binding 127.0.0.5), and helpers to read what a connection received.
 */
import dgram from 'node:dgram';
import net from 'node:net';

type Ctx = { after(fn: () => unknown): void };

function tryListen(server: net.Server, port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, host, () => resolve(true));
  });
}

/**
 * `n` consecutive ports free for TCP and UDP on every address of `hosts` (probed by binding them); the race
 * with other programs is small on a test machine and fails the test loudly rather than silently.
 */
export async function freePortRange(hosts: readonly string[], n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    const held: Array<{ close(): void }> = [];
    let ok = true;
    for (let p = base; p < base + n && ok; p++) {
      for (const h of hosts) {
        const s = net.createServer();
        if (!(await tryListen(s, p, h))) { ok = false; break; }
        held.push({ close: () => s.close() });
        const u = dgram.createSocket('udp4');
        const bound = await new Promise<boolean>((resolve) => { u.once('error', () => resolve(false)); u.bind(p, h, () => resolve(true)); });
        if (!bound) { ok = false; u.close(); break; }
        held.push({ close: () => u.close() });
      }
    }
    for (const h of held) h.close();
    if (ok) return base;
  }
  throw new Error(`no ${n} free ports on ${hosts.join(', ')}`);
}

/** A TCP server on host:port (0: any) running `onConn` for each connection; closed after the test. */
export async function tcpServer(t: Ctx, host: string, port: number, onConn: (c: net.Socket) => void,
  opts: { allowHalfOpen?: boolean } = {}): Promise<{ port: number; connections: Set<net.Socket> }> {
  const connections = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: opts.allowHalfOpen ?? false }, (c) => {
    connections.add(c);
    c.on('close', () => connections.delete(c));
    c.on('error', () => c.destroy());
    onConn(c);
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, host, () => resolve()); });
  t.after(() => new Promise<void>((r) => { for (const c of connections) c.destroy(); server.close(() => r()); }));
  return { port: (server.address() as net.AddressInfo).port, connections };
}

/** A TCP echo server. */
export const tcpEcho = (t: Ctx, host = '127.0.0.1', port = 0) => tcpServer(t, host, port, (c) => c.pipe(c));

export interface Client {
  readonly socket: net.Socket;
  /** Everything received so far. */
  received(): string;
  /** Resolves when the connection is closed (and whether it ended cleanly). */
  readonly closed: Promise<{ hadError: boolean }>;
}

/** Connects to host:port, from `localAddress` if given. */
export function connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host, ...(localAddress ? { localAddress } : {}) });
    let data = '';
    socket.on('data', (d) => { data += d; });
    const closed = new Promise<{ hadError: boolean }>((r) => socket.once('close', (hadError) => r({ hadError })));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, received: () => data, closed }));
    socket.once('error', reject);
  });
}

/** A UDP socket bound on `host` that answers every datagram with `<sender port>:<datagram>` (the session it saw). */
export async function udpEcho(t: Ctx, host = '127.0.0.1', port = 0): Promise<number> {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => s.send(`${r.port}:${m}`, r.port, r.address));
  await new Promise<void>((resolve) => s.bind(port, host, () => resolve()));
  t.after(() => new Promise<void>((r) => s.close(() => r())));
  return s.address().port;
}

/** A UDP client: sends to host:port, resolves with the first reply and the port it came from. */
export async function udpClient(t: Ctx, localAddress = '127.0.0.1'): Promise<{ ask(port: number, msg: string, host?: string, timeoutMs?: number): Promise<{ text: string; from: number } | null> }> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, localAddress, () => resolve()));
  t.after(() => new Promise<void>((r) => s.close(() => r())));
  return {
    ask: (port, msg, host = '127.0.0.1', timeoutMs = 2000) => new Promise((resolve) => {
      const timer = setTimeout(() => { s.off('message', onMessage); resolve(null); }, timeoutMs);
      const onMessage = (m: Buffer, r: dgram.RemoteInfo) => { clearTimeout(timer); resolve({ text: m.toString(), from: r.port }); };
      s.once('message', onMessage);
      s.send(msg, port, host);
    }),
  };
}
