/**
 * A proxy's own error pages (`proxies[].errorPages`): read when a config is applied, served from memory.
 * A file that cannot be read refuses the config with the proxy's path, like any other bad value.
 */
import { readFileSync, statSync } from 'node:fs';
import type { EdgeConfig } from '../config/schema.ts';
import type { ConfigIssue } from '../errors.ts';
import type { Route } from '../routing/table.ts';

const MAX_PAGE_BYTES = 256 * 1024;

export interface ErrorPageFiles {
  /** The page text for a route and status, if the route's proxy names one. */
  custom(route: Route | undefined, status: number): string | undefined;
}

/** Reads every page file of the config; unreadable or oversized files are issues, never thrown. */
export function loadErrorPageFiles(config: Pick<EdgeConfig, 'proxies'>): { pages: ErrorPageFiles; issues: ConfigIssue[] } {
  const byDomain = new Map<string, Map<number, string>>();
  const issues: ConfigIssue[] = [];
  config.proxies.forEach((p, i) => {
    if (!p.errorPages) return;
    const pages = new Map<number, string>();
    for (const [status, file] of Object.entries(p.errorPages)) {
      const path = `proxies[${i}].errorPages.${status}`;
      try {
        if (statSync(file).size > MAX_PAGE_BYTES) throw new Error(`larger than ${MAX_PAGE_BYTES / 1024} KB`);
        pages.set(Number(status), readFileSync(file, 'utf8'));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        issues.push({ path, message: `cannot use ${file} as an error page: ${code === 'ENOENT' ? 'the file does not exist' : (err as Error).message}` });
      }
    }
    byDomain.set(p.domain, pages);
  });
  return {
    pages: { custom: (route, status) => (route === undefined ? undefined : byDomain.get(route.domain)?.get(status)) },
    issues,
  };
}
