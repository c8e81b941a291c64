/**
 * The live request state as a part of the apply pipeline: the route table, trusted proxies and error pages
 * of the running config, swapped as one object, so a request reads one consistent snapshot. Committing a new
 * state also closes the upgraded connections whose route went away or now points to another VM.
 */
import type { ConfigPart } from '../config/apply.ts';
import type { EdgeConfig } from '../config/schema.ts';
import { ConfigError, ErrorCodes } from '../errors.ts';
import type { Policies } from '../policy/policies.ts';
import type { LiveState } from './context.ts';
import { compileTrustedProxies } from './forwarded.ts';
import { loadErrorPageFiles } from './page-files.ts';
import type { UpgradeRegistry } from './upgrades.ts';

export interface LiveStatePart extends ConfigPart {
  /** The state of the running config; throws before the first commit. */
  get(): LiveState;
  /** The port HTTPS redirects name, known once the HTTPS listener is up. */
  setHttpsPort(port: number): void;
}

/** `policiesOf` gives the compiled policies of the config being prepared (policy/policies.ts PolicyPart.of). */
export function createLiveStatePart(upgrades: UpgradeRegistry, policiesOf: (c: EdgeConfig) => Policies): LiveStatePart {
  let state: LiveState | null = null;
  let httpsPort = 0;
  return {
    name: 'request state',
    prepare(next, table) {
      const { pages, issues } = loadErrorPageFiles(next);
      if (issues.length > 0) throw new ConfigError(ErrorCodes.CONFIG_INVALID, 'unusable error pages', { issues });
      const built: LiveState = Object.freeze({
        table, trusted: compileTrustedProxies(next.trustedProxies), policies: policiesOf(next), httpsPort,
        pages: Object.freeze({ detail: next.errorPages.detail, custom: pages.custom }),
      });
      return {
        commit(changes) {
          state = built.httpsPort === httpsPort ? built : { ...built, httpsPort };
          changes.webSocketsClosed = upgrades.prune((info) => {
            const r = table.lookup(info.host);
            return r.ok && r.upstream.poolKey === info.poolKey;
          });
        },
        abort() {},
      };
    },
    get() {
      if (state === null) throw new Error('no config has been applied yet');
      return state;
    },
    setHttpsPort(port) {
      httpsPort = port;
      if (state) state = { ...state, httpsPort };
    },
  };
}
