/** Relative file paths of a config section resolved against a base directory (the working directory). */
import { resolve } from 'node:path';

type PathKeys<T> = { [K in keyof T]-?: NonNullable<T[K]> extends string ? K : never }[keyof T];

/** `section` with each of `keys` that is set resolved against `baseDir`; unset keys stay unset. */
export function resolvePathKeys<T extends object>(section: T, keys: ReadonlyArray<PathKeys<T>>, baseDir: string): T {
  const out = { ...section } as Record<string, unknown>;
  for (const k of keys) {
    const v = section[k];
    if (typeof v === 'string' && v !== '') out[k as string] = resolve(baseDir, v);
  }
  return out as T;
}
