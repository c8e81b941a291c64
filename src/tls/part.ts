/**
 * The certificate index as a part of the apply pipeline: prepare loads or makes every certificate the new
 * routes need (an unusable upload refuses the apply), commit makes it the one handshakes use and asks for
 * the Let's Encrypt names that have none yet (only a committed config may ask the CA for anything).
 */
import type { ConfigPart } from '../config/apply.ts';
import type { CertManager } from './contexts.ts';

export function certsPart(certs: CertManager): ConfigPart {
  return {
    name: 'certificates',
    async prepare(_next, table) {
      const index = await certs.prepare(table);
      return {
        commit(changes) {
          certs.activate(index);
          changes.certificatesRequested.push(...index.missing.map((m) => m.name));
        },
        abort() {},
      };
    },
  };
}
