/**
 * The listener set: the sockets the config asks for beyond the HTTP/HTTPS listeners (port forwards), as a
 * part of the apply pipeline. Each apply derives the wanted listeners from the config and compares them with
 * the open ones by key (kind, address, port): new ones are bound while the config is prepared, so a port that
 * is taken refuses the whole apply with the rule's path and nothing changes; listeners that stay get their new
 * settings at commit without touching their connections; listeners that went away close after the commit.
 * The HTTP/HTTPS listeners are restart-only (config/restart.ts) and not part of the set.
 */
import type { ConfigPart } from '../config/apply.ts';
import type { EdgeConfig } from '../config/schema.ts';
import { ConfigError, EdgeError, ErrorCodes, type ConfigIssue } from '../errors.ts';

export interface ListenerSpec {
  /** `tcp:127.0.0.1:10022`: same key, same socket across applies. */
  readonly key: string;
  readonly kind: string;
  readonly host: string;
  readonly port: number;
  /** The config path of the rule that asks for it, for errors (`forwards[2].port`). */
  readonly path: string;
}

export interface OpenListener<S extends ListenerSpec = ListenerSpec> {
  /** Starts serving: a listener bound while a config is prepared serves only once that config commits. */
  activate(): void;
  /** Takes new settings (a new target, new limits) for connections accepted from now on. */
  update(spec: S): void;
  /** Stops accepting and closes its connections, giving them `graceMs` to finish. */
  close(graceMs: number): Promise<void>;
}

export interface ListenerKind<S extends ListenerSpec = ListenerSpec> {
  /** Binds; rejects with EdgeError EDGE_ERR_LISTEN when the address cannot be used. */
  open(spec: S): Promise<OpenListener<S>>;
}

export interface ListenerSet extends ConfigPart {
  /** Keys of the open listeners. */
  keys(): string[];
  close(graceMs: number): Promise<void>;
}

export function createListenerSet<S extends ListenerSpec>(kinds: Readonly<Record<string, ListenerKind<S>>>,
  specsOf: (c: EdgeConfig) => readonly S[]): ListenerSet {
  let open = new Map<string, OpenListener<S>>();

  return {
    name: 'listeners',
    async prepare(next) {
      const wanted = new Map(specsOf(next).map((s) => [s.key, s]));
      const opened = new Map<string, OpenListener<S>>();
      const issues: ConfigIssue[] = [];
      for (const [key, spec] of wanted) {
        if (open.has(key)) continue;
        const kind = kinds[spec.kind];
        try {
          if (!kind) throw new Error(`no listener kind ${spec.kind}`);
          opened.set(key, await kind.open(spec));
        } catch (err) {
          issues.push({ path: spec.path, message: err instanceof EdgeError ? err.message : `cannot listen on ${spec.host}:${spec.port}: ${(err as Error).message}` });
        }
      }
      if (issues.length > 0) {
        await Promise.all([...opened.values()].map((l) => l.close(0)));
        throw new ConfigError(ErrorCodes.CONFIG_INVALID, `cannot open listeners:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`, { issues });
      }
      return {
        commit() {
          const nextOpen = new Map<string, OpenListener<S>>();
          for (const [key, spec] of wanted) {
            const fresh = opened.get(key);
            if (fresh) fresh.activate();
            else open.get(key)!.update(spec);
            nextOpen.set(key, fresh ?? open.get(key)!);
          }
          for (const [key, l] of open) if (!wanted.has(key)) void l.close(next.shutdown.graceMs);
          open = nextOpen;
        },
        abort() {
          for (const l of opened.values()) void l.close(0);
        },
      };
    },
    keys: () => [...open.keys()],
    async close(graceMs) {
      const all = [...open.values()];
      open = new Map();
      await Promise.all(all.map((l) => l.close(graceMs)));
    },
  };
}
