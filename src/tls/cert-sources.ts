/**
 * Where the certificates that are not uploads come from when the SNI index is built: self-signed ones read
 * from the store or made once under the name's lock (another process may make it first), and in-memory
 * stand-ins for Let's Encrypt names that have no certificate yet.
 */
import type { Clock } from '../clock.ts';
import { CertError, ErrorCodes } from '../errors.ts';
import type { Logger } from '../log.ts';
import { coversAll, parseCertPem } from './certinfo.ts';
import type { Issuer, StoredCert } from './issuer.ts';
import { DEFAULT_CERT_NAME } from './selfsigned.ts';
import type { CertStore } from './store.ts';

export interface CertSources {
  /** The stored self-signed certificate for `name` when it covers `names` and is valid, else a new one. */
  selfSigned(name: string, names: readonly string[]): Promise<StoredCert>;
  /** A self-signed stand-in served until the CA's certificate is stored; kept in memory only. */
  standIn(name: string, names: readonly string[]): Promise<StoredCert>;
  /** Forgets stand-ins no route needs any more. */
  keepStandIns(names: ReadonlySet<string>): void;
}

export function createCertSources(o: { store: CertStore; selfSigned: Issuer; clock: Clock; log: Logger }): CertSources {
  const { store, selfSigned, clock, log } = o;
  const valid = (names: readonly string[]) => (s: StoredCert) =>
    coversAll(s.meta.names, names) && Date.parse(s.meta.notAfter) > clock.now().getTime();
  // Stand-ins live in memory only: storing them would need the name's lock, which an issuing renewer holds
  // for as long as the CA takes, and the handshake must never wait on the CA.
  const standIns = new Map<string, StoredCert>();

  return {
    async selfSigned(name, names) {
      const usable = (s: StoredCert) => s.meta.source === 'self-signed' && valid(names)(s);
      const first = await store.read(name);
      if (first && usable(first)) return first;
      return store.withLock(name, async () => {
        const again = await store.read(name); // another process may have made it while we waited
        if (again && usable(again)) return again;
        const issued = await selfSigned.issue({ name, names });
        await store.write(name, { ...issued, meta: { source: 'self-signed' } });
        const stored = await store.read(name);
        if (!stored) throw new CertError(ErrorCodes.CERT_STORE, name, `certificate ${name} vanished from the store right after it was written`);
        // The default certificate (for clients without SNI) is the edge's own detail, not an operator's.
        log[name === DEFAULT_CERT_NAME ? 'debug' : 'info']({ name, notAfter: stored.meta.notAfter },
          again ? 'self-signed certificate replaced' : 'self-signed certificate created');
        return stored;
      });
    },
    async standIn(name, names) {
      const hit = standIns.get(name);
      if (hit && valid(names)(hit)) return hit;
      const issued = await selfSigned.issue({ name, names });
      const info = parseCertPem(issued.certPem);
      const cert: StoredCert = { ...issued, meta: { name, source: 'self-signed', names: info.names, notBefore: info.notBefore,
        notAfter: info.notAfter, issuer: info.issuer, fingerprint256: info.fingerprint256, storedAt: clock.now().toISOString() } };
      standIns.set(name, cert);
      return cert;
    },
    keepStandIns(names) {
      for (const name of standIns.keys()) if (!names.has(name)) standIns.delete(name);
    },
  };
}
