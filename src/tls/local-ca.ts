/**
 * The edge's local CA: one root per edge (per storage: a fleet on one Redis shares it), kept in the
 * storage with its key as a secret (0600 on disk), made on first need under a lease so that two processes
 * starting together end up with the same CA. It signs the `self-signed` leaves; `idcs-edge ca export`
 * prints it so an operator can make browsers and tools trust the edge once.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { Storage } from '../storage/contract.ts';
import { randomSerial, rsaKeyPair } from './selfsigned.ts';

export interface LocalCa {
  readonly certPem: string;
  readonly keyPem: string;
  readonly notAfter: string;
  readonly fingerprint256: string;
}

const CERT_KEY = 'state/local-ca/ca.pem';
const KEY_KEY = 'state/local-ca/ca.key';
const YEARS = 10;
/** A CA this close to its end is replaced, so that leaves (7 days) never hit its expiry. */
const REPLACE_WITHIN_MS = 30 * 86_400_000;

async function makeCa(clock: Clock): Promise<{ certPem: string; keyPem: string }> {
  const { publicKey, privateKey } = await rsaKeyPair(3072);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  cert.serialNumber = randomSerial();
  const now = clock.now();
  cert.validity.notBefore = now;
  cert.validity.notAfter = new Date(Date.UTC(now.getUTCFullYear() + YEARS, now.getUTCMonth(), now.getUTCDate()));
  const attrs = [{ shortName: 'CN', value: `idcs-edge local CA ${now.toISOString().slice(0, 10)}` }, { shortName: 'O', value: 'idcs-edge local CA' }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: privateKey };
}

function parse(certPem: string, keyPem: string): LocalCa {
  const x = new X509Certificate(certPem);
  return Object.freeze({ certPem, keyPem, notAfter: x.validToDate.toISOString(), fingerprint256: x.fingerprint256 });
}

/** The local CA of `storage`: read once per process, made (and replaced near its end) under a lease. */
export function localCa(o: { storage: Storage; clock: Clock; log: Logger }): () => Promise<LocalCa> {
  let current: Promise<LocalCa> | null = null;
  const usable = (ca: LocalCa | null): ca is LocalCa => ca !== null && Date.parse(ca.notAfter) - o.clock.now().getTime() > REPLACE_WITHIN_MS;
  const read = async (): Promise<LocalCa | null> => {
    const [c, k] = await Promise.all([o.storage.get(CERT_KEY), o.storage.get(KEY_KEY)]);
    if (!c || !k) return null;
    const ca = parse(c.toString(), k.toString());
    // A key that does not match is a replacement caught half-way: the lease holder is about to finish.
    return new X509Certificate(ca.certPem).checkPrivateKey(createPrivateKey(ca.keyPem)) ? ca : null;
  };
  const load = async (): Promise<LocalCa> => {
    const first = await read();
    if (usable(first)) return first;
    const lease = await o.storage.lock('state/local-ca');
    try {
      const again = await read(); // another process may have made it while we waited
      if (usable(again)) return again;
      const made = await makeCa(o.clock);
      // The key first: a reader that finds the certificate always finds its key.
      await o.storage.put(KEY_KEY, made.keyPem, { secret: true });
      await o.storage.put(CERT_KEY, made.certPem);
      const ca = parse(made.certPem, made.keyPem);
      o.log.info({ notAfter: ca.notAfter, fingerprint256: ca.fingerprint256 }, again ? 'local CA replaced' : 'local CA created');
      return ca;
    } finally {
      await lease.release();
    }
  };
  return () => {
    current ??= load().catch((err: unknown) => { current = null; throw err; });
    return current.then((ca) => (usable(ca) ? ca : (current = load())));
  };
}
