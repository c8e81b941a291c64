/**
 * Where the file storage keeps each key. Today's layout, so existing installs keep their certificates:
 *
 *   certs/<folder>/<file>   <dir>/<folder>/<file>        (cert.pem, key.pem, meta.json; `_wildcard_.a.b`)
 *   acme/<file>             <dir>/acme/<file>             (the account key and info)
 *   state/<path>            <dir>/.state/<path>           (renewal failure state)
 *   challenges/<token>      <challengeDir>/<token>        (never inside <dir>: tokens are served, keys are not)
 *   lock <name>             <dir>/.locks/<…>.lock         (certs/<folder> -> .locks/<folder>.lock, as before)
 *
 * Change notification is a generation file per namespace: `<dir>/.generation` for certificates (what
 * earlier versions poll) and `<dir>/.generation-<namespace>` for the others, so that writing a token does
 * not make every edge re-read every certificate. Dot-leading names are never keys (contract.ts), so temp
 * files, `.state`, `.locks` and generation files cannot collide with anything stored.
 */
import { join, resolve, sep } from 'node:path';
import { ErrorCodes, StorageError } from '../errors.ts';
import { checkKey, type Namespace } from './contract.ts';

export interface FileLayout {
  readonly dir: string;
  readonly challengeDir: string;
  /** The folder holding a namespace's keys. */
  rootOf(ns: Namespace): string;
  /** The file of a key, and its namespace; `kind: 'prefix'` gives the folder of a prefix. */
  pathOf(key: string, kind?: 'key' | 'prefix'): { ns: Namespace; path: string; segments: string[] };
  /** Folders below a namespace root that belong to another namespace (certs: `acme`). */
  foreign(ns: Namespace): readonly string[];
  generationFile(ns: Namespace): string;
  lockFile(name: string): string;
}

const inside = (child: string, parent: string) => child === parent || child.startsWith(parent + sep);

/** Throws StorageError when `challengeDir` is `dir` or inside it (the responder would sit next to private keys). */
export function fileLayout(dirIn: string, challengeDirIn: string): FileLayout {
  const dir = resolve(dirIn);
  const challengeDir = resolve(challengeDirIn);
  if (inside(challengeDir, dir)) {
    throw new StorageError(ErrorCodes.STORAGE, '', `the challenge folder ${challengeDir} is inside ${dir}, where private keys live`);
  }
  const roots: Record<Namespace, string> = { certs: dir, acme: join(dir, 'acme'), state: join(dir, '.state'), challenges: challengeDir };
  // Lock files mirror the data layout under .locks, each namespace apart (dot names cannot be certificate folders).
  const lockRoots: Record<Namespace, string> = { certs: '', acme: 'acme', state: '.state', challenges: '.challenges' };

  const pathOf: FileLayout['pathOf'] = (key, kind = 'key') => {
    const segments = checkKey(key, kind);
    const ns = segments[0] as Namespace;
    // `<dir>/acme` is the account's folder; `acme` is refused as a proxy domain, so no certificate wants it.
    if (ns === 'certs' && segments[1] === 'acme') {
      throw new StorageError(ErrorCodes.STORAGE_KEY, key, `${key}: certs/acme is reserved by the file storage layout (the ACME account's folder)`);
    }
    return { ns, segments, path: join(roots[ns], ...segments.slice(1)) };
  };

  return {
    dir,
    challengeDir,
    rootOf: (ns) => roots[ns],
    pathOf,
    foreign: (ns) => (ns === 'certs' ? ['acme'] : []),
    generationFile: (ns) => join(dir, ns === 'certs' ? '.generation' : `.generation-${ns}`),
    lockFile(name) {
      const { ns, segments } = pathOf(name);
      return `${join(dir, '.locks', lockRoots[ns], ...segments.slice(1))}.lock`;
    },
  };
}
