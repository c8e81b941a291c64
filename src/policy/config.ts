/**
 * The config fragments of access rules, basic auth and bandwidth caps, mounted by config/schema.ts on
 * proxies and VMs (and by l4/config.ts on forwards). Hashes are checked here: a plain password in the
 * config is refused with the way to make a hash.
 */
import { z } from 'zod';
import { parseCidrOrNull } from './cidr.ts';
import { parsePasswordHash } from './password.ts';

const cidr = z.string({ error: 'expected an IP address or CIDR such as 10.0.0.0/8 or 2001:db8::/32' })
  .refine((s) => parseCidrOrNull(s) !== null, { error: 'expected an IP address or CIDR such as 10.0.0.0/8 or 2001:db8::/32' });

export const cidrList = z.array(cidr, { error: 'expected a list of IP addresses or CIDRs, e.g. [192.168.1.0/24, "::1"]' });

/** `access: { allow, deny }`: deny wins; a non-empty allow list admits only what it covers. */
export const accessSchema = z.strictObject({
  allow: cidrList.optional(),
  deny: cidrList.optional(),
});

const mbps = (what: string) => z.number({ error: `expected ${what} in Mbps (megabits per second), e.g. 100` })
  .positive({ error: 'expected more than 0 Mbps' }).max(100_000, { error: 'expected at most 100000 Mbps' });

/** `bandwidth: { ingressMbps, egressMbps, burstKB }`: ingress is client to VM, egress VM to client. */
export const bandwidthSchema = z.strictObject({
  ingressMbps: mbps('ingressMbps').optional(),
  egressMbps: mbps('egressMbps').optional(),
  burstKB: z.number({ error: 'expected burstKB as a number of KiB' }).int({ error: 'expected a whole number of KiB' })
    .min(1, { error: 'expected at least 1 KiB' }).max(1_048_576, { error: 'expected at most 1048576 KiB (1 GiB)' }).optional(),
}).refine((b) => b.ingressMbps !== undefined || b.egressMbps !== undefined, { error: 'give ingressMbps, egressMbps or both' });

const hash = z.string({ error: 'expected a password hash' }).refine((s) => parsePasswordHash(s) !== null, {
  error: 'expected a password hash made by `idcs-edge hash-password` ($scrypt$...) or bcrypt ($2b$...); never the password itself',
});

/** `auth: { users: [{ name, hash }] }`: HTTP basic auth (RFC 7617). */
export const authSchema = z.strictObject({
  users: z.array(z.strictObject({
    name: z.string({ error: 'expected the user name' }).min(1, { error: 'expected a non-empty user name' })
      .refine((s) => !s.includes(':'), { error: 'a user name cannot contain ":" (RFC 7617)' }),
    hash,
  }), { error: 'expected a list of users' }).min(1, { error: 'expected at least one user' }),
}).superRefine((a, ctx) => {
  const seen = new Set<string>();
  a.users.forEach((u, i) => {
    if (seen.has(u.name)) ctx.addIssue({ code: 'custom', path: ['users', i, 'name'], message: `${u.name} is listed twice` });
    seen.add(u.name);
  });
});

export type AccessConfig = z.output<typeof accessSchema>;
export type BandwidthConfig = z.output<typeof bandwidthSchema>;
export type AuthConfig = z.output<typeof authSchema>;
