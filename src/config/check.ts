/**
 * The checks of a config that need more than the schema: files it names must be usable. Run by the apply
 * pipeline before anything is prepared (so a refusal names every problem at once), and by --check-config,
 * so that what --check-config accepts is what the edge accepts.
 */
import { readFileSync } from 'node:fs';
import type { ConfigIssue } from '../errors.ts';
import { loadErrorPageFiles } from '../proxy/page-files.ts';
import { readCaFile } from '../tls/ca-file.ts';
import { uploadIssues } from '../tls/upload.ts';
import type { EdgeConfig } from './schema.ts';

/** Every problem with the files `config` names: uploads, upstream CA files, error pages, the ACME CA file. */
export function checkConfig(config: EdgeConfig, now: Date): ConfigIssue[] {
  const issues = uploadIssues(config.proxies, now);
  const seenCa = new Set<string>();
  config.proxies.forEach((p, i) => {
    const file = p.upstreamTls?.caFile;
    if (!file || seenCa.has(file) || !p.enabled) return;
    seenCa.add(file);
    try { readCaFile(file); } catch (err) { issues.push({ path: `proxies[${i}].upstreamTls.caFile`, message: (err as Error).message }); }
  });
  issues.push(...loadErrorPageFiles(config).issues);
  if (config.acme?.caFile) {
    try { readFileSync(config.acme.caFile); } catch (err) {
      issues.push({ path: 'acme.caFile', message: `cannot read ${config.acme.caFile}: ${(err as Error).message}` });
    }
  }
  return issues.sort((a, b) => a.path.localeCompare(b.path, 'en', { numeric: true }));
}

/**
 * What is valid but most likely not what the operator meant; reported, never refused: a template whose
 * owner has no VM in the inventory (every name under it answers 404 until one is added).
 */
export function configWarnings(config: EdgeConfig): ConfigIssue[] {
  const owners = new Set(config.vms.map((v) => v.owner));
  const warnings: ConfigIssue[] = [];
  config.proxies.forEach((p, i) => {
    if (p.owner !== undefined && p.enabled && !owners.has(p.owner)) {
      warnings.push({ path: `proxies[${i}].owner`, where: `proxies[${i}] (${p.domain}).owner`,
        message: `${p.owner} has no VM in the inventory (vms): every name under ${p.domain} answers 404 until one is added` });
    }
  });
  return warnings;
}
