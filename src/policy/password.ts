/**
 * Password hashes for basic auth. The config holds hashes, never passwords: scrypt from node:crypto in the
 * PHC string format (`$scrypt$ln=15,r=8,p=1$<salt>$<hash>`, base64 without padding), which
 * `idcs-edge hash-password` makes, or bcrypt (`$2a$`/`$2b$`/`$2y$`, as htpasswd -B writes them), checked
 * with bcryptjs. Verification compares in constant time (timingSafeEqual; bcryptjs compares every byte).
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import bcrypt from 'bcryptjs';

export type PasswordHash =
  | { readonly kind: 'scrypt'; readonly ln: number; readonly r: number; readonly p: number; readonly salt: Buffer; readonly hash: Buffer }
  | { readonly kind: 'bcrypt'; readonly text: string };

/** What hash-password uses: N = 2^15, r = 8 (32 MiB, tens of ms), p = 1; a 16-byte salt, a 32-byte key. */
const DEFAULT = { ln: 15, r: 8, p: 1, saltBytes: 16, keyBytes: 32 } as const;

// Bounds on what a config may ask for: a hash whose cost is absurd would let every request cost seconds.
const SCRYPT_RE = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d)\$([A-Za-z0-9+/]{16,88})\$([A-Za-z0-9+/]{32,88})$/;
const BCRYPT_RE = /^\$2[aby]\$(0[4-9]|1[0-4])\$[./A-Za-z0-9]{53}$/;

const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');

/** Reads a hash string; null when it is not a scrypt (PHC) or bcrypt hash this edge accepts. */
export function parsePasswordHash(text: string): PasswordHash | null {
  const s = SCRYPT_RE.exec(text);
  if (s) {
    const [ln, r, p] = [Number(s[1]), Number(s[2]), Number(s[3])];
    if (ln < 10 || ln > 20 || r < 1 || r > 16 || p < 1 || p > 4) return null;
    return { kind: 'scrypt', ln, r, p, salt: Buffer.from(s[4]!, 'base64'), hash: Buffer.from(s[5]!, 'base64') };
  }
  return BCRYPT_RE.test(text) ? { kind: 'bcrypt', text } : null;
}

function scrypt(password: string, salt: Buffer, keylen: number, o: { ln: number; r: number; p: number }): Promise<Buffer> {
  const N = 2 ** o.ln;
  const options: ScryptOptions = { N, r: o.r, p: o.p, maxmem: 256 * N * o.r };
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** A new scrypt hash of `password` (random salt) in the PHC format. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(DEFAULT.saltBytes);
  const key = await scrypt(password, salt, DEFAULT.keyBytes, DEFAULT);
  return `$scrypt$ln=${DEFAULT.ln},r=${DEFAULT.r},p=${DEFAULT.p}$${b64(salt)}$${b64(key)}`;
}

/** true when `password` matches `hash`; the work is the hash's own cost whatever the answer. */
export async function verifyPassword(password: string, hash: PasswordHash): Promise<boolean> {
  if (hash.kind === 'bcrypt') return bcrypt.compare(password, hash.text);
  const key = await scrypt(password, hash.salt, hash.hash.length, hash);
  return timingSafeEqual(key, hash.hash);
}
