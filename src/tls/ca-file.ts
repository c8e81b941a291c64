/**
 * Reading a PEM CA file named in the config (`upstreamTls.caFile`): the one place that says why a file is
 * unusable, for the apply pipeline's checks and for the pools that use the CA. Synchronous: runs while a
 * config is prepared, off the request path.
 */
import { readFileSync } from 'node:fs';

/** The file's text; throws an Error whose message says what is wrong with the file. */
export function readCaFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`cannot use ${file}: ${code === 'ENOENT' ? 'the file does not exist' : (err as Error).message}`, { cause: err });
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`cannot use ${file}: no PEM certificate in it`);
  return text;
}
