/**
 * The config file as the admin API edits it: read fresh from disk for every write (so a hand edit is built
 * upon, never overwritten), replaced atomically (temp file, fsync, rename: the storage's writer), and
 * refused when it changed on disk since it was read. The file watcher asks isOwnWrite() so that the API's
 * own write, applied already, is not applied a second time.
 */
import { createHash } from 'node:crypto';
import { realpath, stat } from 'node:fs/promises';
import { EdgeError, ErrorCodes } from '../errors.ts';
import type { Logger } from '../log.ts';
import { writeFileAtomic } from '../storage/atomic.ts';
import { parseConfigDocument, type ConfigDocument } from './document.ts';
import { readConfigText } from './load.ts';

export interface ConfigFile {
  readonly path: string;
  /** The file as it is on disk now; throws ConfigError EDGE_ERR_CONFIG_READ when it is missing or does not parse. */
  read(): ConfigDocument;
  /**
   * Replaces the file with `doc`, keeping its mode, unless its content is no longer `expected` (edited
   * meanwhile: EdgeError EDGE_ERR_ADMIN_CONFLICT). A failed write (EDGE_ERR_CONFIG_WRITE) leaves the old file whole.
   */
  write(doc: ConfigDocument, expected: string): Promise<void>;
  /** True while the file holds exactly what write() last put there. */
  isOwnWrite(): boolean;
}

const hash = (s: string) => createHash('sha256').update(s).digest('hex');

/** The config file at `path`; nothing is read until asked. */
export function openConfigFile(path: string): ConfigFile {
  let written: string | null = null;
  // Parsing a large file takes a while: the last parse is kept for as long as the text is the same.
  let cached: ConfigDocument | null = null;
  const read = (): ConfigDocument => {
    const text = readConfigText(path);
    if (cached?.text !== text) cached = parseConfigDocument(text, path);
    return cached;
  };
  return {
    path,
    read,
    async write(doc, expected) {
      const { text } = doc;
      if (readConfigText(path) !== expected) {
        throw new EdgeError(ErrorCodes.ADMIN_CONFLICT, `${path} was changed by someone else while this write was applied; nothing was changed, retry`);
      }
      try {
        // A symlinked config (a mounted volume) is written where it points, not replaced by a plain file.
        const target = await realpath(path);
        const mode = (await stat(target)).mode & 0o777;
        written = hash(text);
        await writeFileAtomic(target, text, mode);
        cached = doc;
      } catch (err) {
        throw new EdgeError(ErrorCodes.CONFIG_WRITE, `cannot write ${path}: ${(err as Error).message}`, { cause: err });
      }
    },
    isOwnWrite() {
      try {
        return written !== null && hash(readConfigText(path)) === written;
      } catch {
        return false;
      }
    },
  };
}

/** The file watcher's callback: `reload`, unless the file holds the API's own write (applied already). */
export function reloadUnlessOwnWrite(file: ConfigFile | null, log: Logger, reload: () => void): () => void {
  return () => {
    if (file?.isOwnWrite()) log.debug({ file: file.path }, 'config file changed by the admin API, which applied it already');
    else reload();
  };
}
