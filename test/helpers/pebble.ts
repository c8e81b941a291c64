/**
 * Pebble (Let's Encrypt's test CA) and pebble-challtestsrv (its mock DNS) on free loopback ports, one pair
 * per call, exactly as /work/shared/ACME-TESTING.md describes: a throwaway CA and a localhost leaf made at
 * test time for Pebble's HTTPS listener, readiness by polling /dir, SIGTERM to our own PIDs at the end.
 * Pebble really validates: HTTP-01 against `httpPort` on 127.0.0.1, DNS-01 against the mock DNS.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import forge from 'node-forge';
import { waitFor } from './net.ts';

type Ctx = { after(fn: () => unknown): void };

export interface PebbleOptions {
  /** Where Pebble sends HTTP-01 validation requests (our listener on 127.0.0.1). */
  httpPort: number;
  /** Lifetime of issued certificates in seconds (whole instance). */
  certificateValidityPeriod?: number;
  /** EAB: kid -> base64url HMAC key; when given, Pebble requires EAB. */
  eabKeys?: Record<string, string>;
  /** Names Pebble refuses to issue for (rejectedIdentifier). */
  domainBlocklist?: string[];
}

export interface Pebble {
  readonly directoryUrl: string;
  /** The throwaway CA that signed Pebble's HTTPS certificate (acme.caFile). */
  readonly caFile: string;
  /** challtestsrv's management API (/set-txt, /clear-txt, /add-a, /dns-request-history). */
  readonly mgmtUrl: string;
  /** challtestsrv's mock DNS as `127.0.0.1:<port>` (for acme.resolvers). */
  readonly dnsAddress: string;
  /** Pebble's own management API (/roots/0, /intermediates/0). */
  readonly pebbleMgmtUrl: string;
  /** The localhost/127.0.0.1 leaf Pebble serves, reusable by a test's own fake ACME server. */
  readonly tls: { cert: string; key: string; ca: string };
  rootsPem(): Promise<string>;
  intermediatePem(): Promise<string>;
  /** Everything Pebble printed (it logs each request it handles, e.g. `POST /order-plz`). */
  output(): string;
  stop(): Promise<void>;
}

/** Why the ACME tests cannot run here, or undefined. Tries test/helpers/ensure-pebble.sh once when missing. */
export function pebbleSkipReason(): string | undefined {
  const has = () => spawnSync('sh', ['-c', 'command -v pebble && command -v pebble-challtestsrv'], { stdio: 'ignore' }).status === 0;
  if (has()) return undefined;
  const r = spawnSync('sh', [resolve(import.meta.dirname, 'ensure-pebble.sh')], { encoding: 'utf8' });
  if (has()) return undefined;
  return `pebble is not installed and could not be installed (apt-get install -y pebble): ${(r.stderr || r.stdout || '').trim().slice(-300)}`;
}

/** A throwaway CA and a leaf for localhost + 127.0.0.1 signed by it (RSA, node-forge; native keygen). */
export function makeLoopbackTls(): { cert: string; key: string; ca: string } {
  const pki = forge.pki;
  const make = (cn: string, issuer: { cert: forge.pki.Certificate; key: forge.pki.rsa.PrivateKey } | null) => {
    const keys = pki.rsa.generateKeyPair({ bits: 2048 });
    const cert = pki.createCertificate();
    cert.publicKey = keys.publicKey;
    cert.serialNumber = `01${forge.util.bytesToHex(forge.random.getBytesSync(8))}`;
    cert.validity.notBefore = new Date(Date.now() - 60_000);
    cert.validity.notAfter = new Date(Date.now() + 86_400_000);
    cert.setSubject([{ name: 'commonName', value: cn }]);
    cert.setIssuer(issuer ? issuer.cert.subject.attributes : [{ name: 'commonName', value: cn }]);
    cert.setExtensions(issuer
      ? [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
        { name: 'extKeyUsage', serverAuth: true }]
      : [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }]);
    cert.sign(issuer ? issuer.key : keys.privateKey, forge.md.sha256.create());
    return { cert, key: keys.privateKey };
  };
  const ca = make('idcs-edge test CA for pebble', null);
  const leaf = make('localhost', ca);
  return { cert: pki.certificateToPem(leaf.cert), key: pki.privateKeyToPem(leaf.key), ca: pki.certificateToPem(ca.cert) };
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r, j) => s.once('error', j).listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** GET over HTTPS trusting only `ca`. */
export function httpsGet(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    https.get(url, { ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', fail);
    }).on('error', fail);
  });
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); r(true); });
    s.on('error', () => r(false));
  });
}

function spawnLogged(cmd: string, args: string[], env: NodeJS.ProcessEnv, out: string[], all?: { text: string }): ChildProcess {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (d: Buffer) => {
    out.push(d.toString());
    if (out.length > 200) out.shift();
    if (all) all.text += d.toString();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Starts challtestsrv + Pebble; `stop()` is also registered on `t.after`. Retries with new ports if one was taken. */
export async function startPebble(t: Ctx, opts: PebbleOptions): Promise<Pebble> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-pebble-'));
  const tlsFiles = makeLoopbackTls();
  writeFileSync(join(dir, 'localhost.crt'), tlsFiles.cert);
  writeFileSync(join(dir, 'localhost.key'), tlsFiles.key, { mode: 0o600 });
  writeFileSync(join(dir, 'ca.pem'), tlsFiles.ca);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const [dnsPort, mgmtPort, acmePort, pebbleMgmtPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    writeFileSync(join(dir, 'pebble.json'), JSON.stringify({ pebble: {
      listenAddress: `127.0.0.1:${acmePort}`, managementListenAddress: `127.0.0.1:${pebbleMgmtPort}`,
      certificate: join(dir, 'localhost.crt'), privateKey: join(dir, 'localhost.key'),
      httpPort: opts.httpPort, tlsPort: 5001, ocspResponderURL: '',
      externalAccountBindingRequired: opts.eabKeys !== undefined,
      ...(opts.eabKeys ? { externalAccountMACKeys: opts.eabKeys } : {}),
      ...(opts.domainBlocklist ? { domainBlocklist: opts.domainBlocklist } : {}),
      ...(opts.certificateValidityPeriod ? { certificateValidityPeriod: opts.certificateValidityPeriod } : {}),
    } }));
    const output: string[] = [];
    const pebbleLog = { text: '' };
    // -defaultIPv6 "": otherwise Pebble dials [::1] first and our 127.0.0.1 listener refuses it.
    const dns = spawnLogged('pebble-challtestsrv', ['-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${dnsPort}`,
      '-management', `127.0.0.1:${mgmtPort}`, '-http01', '', '-https01', '', '-tlsalpn01', ''], process.env, output);
    const pebble = spawnLogged('pebble', ['-config', join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dnsPort}`, '-strict=false'],
      // PEBBLE_AUTHZREUSE=0: every order runs its challenges (Pebble otherwise reuses half of the valid
      // authorizations of an account, and a test of the challenge path would pass without one).
      { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' }, output, pebbleLog);
    const stop = async () => {
      await Promise.all([stopChild(pebble), stopChild(dns)]);
    };
    const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
    try {
      await waitFor('pebble /dir and challtestsrv', async () => {
        if (pebble.exitCode !== null || dns.exitCode !== null) throw new Error('exited');
        return (await httpsGet(directoryUrl, tlsFiles.ca)).status === 200 && await tcpOpen(mgmtPort);
      }, 15_000);
    } catch (err) {
      lastError = new Error(`pebble did not start: ${(err as Error).message}\n${output.join('').slice(-2000)}`);
      await stop();
      continue;
    }
    const pebbleMgmtUrl = `https://127.0.0.1:${pebbleMgmtPort}`;
    const fetchPem = async (path: string) => {
      const r = await httpsGet(`${pebbleMgmtUrl}${path}`, tlsFiles.ca);
      if (r.status !== 200) throw new Error(`GET ${path}: ${r.status}`);
      return r.body;
    };
    t.after(async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    });
    return {
      directoryUrl, caFile: join(dir, 'ca.pem'), mgmtUrl: `http://127.0.0.1:${mgmtPort}`, dnsAddress: `127.0.0.1:${dnsPort}`, pebbleMgmtUrl, tls: tlsFiles,
      rootsPem: () => fetchPem('/roots/0'), intermediatePem: () => fetchPem('/intermediates/0'), output: () => pebbleLog.text, stop,
    };
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

/**
 * Writes an executable DNS hook into `dir` that runs test/helpers/dns-hook.mjs against challtestsrv at
 * `mgmtUrl` with this Node, and logs each call (`set|clear name value`) to `<dir>/dns-hook.log`.
 */
export function writeDnsHook(dir: string, mgmtUrl: string): { path: string; logFile: string } {
  const path = join(dir, 'dns-hook.sh');
  const logFile = join(dir, 'dns-hook.log');
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  writeFileSync(path, `#!/bin/sh\necho "$@" >> ${q(logFile)}\nCHALLTESTSRV_URL=${q(mgmtUrl)} exec ${q(process.execPath)} `
    + `${q(resolve(import.meta.dirname, 'dns-hook.mjs'))} "$@"\n`);
  chmodSync(path, 0o755);
  return { path, logFile };
}

/** Tells challtestsrv to answer A queries for `host` with `addresses` (instead of its default 127.0.0.1). */
export async function setARecord(pebble: Pebble, host: string, addresses: string[]): Promise<void> {
  const res = await fetch(`${pebble.mgmtUrl}/add-a`, { method: 'POST', body: JSON.stringify({ host: host.endsWith('.') ? host : `${host}.`, addresses }) });
  if (!res.ok) throw new Error(`challtestsrv /add-a: HTTP ${res.status} ${await res.text()}`);
}
