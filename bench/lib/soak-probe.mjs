/**
 * Loaded into the edge by bench/soak.mjs (`node --expose-gc --import bench/lib/soak-probe.mjs src/cli.ts`):
 * answers `{ type: 'soak-probe', id }` on the IPC channel with the process's memory after a full GC, so the
 * soak reads heap growth, not garbage not yet collected. The edge itself never sees these messages.
 */
process.on('message', (m) => {
  if (m?.type !== 'soak-probe') return;
  globalThis.gc?.();
  const mu = process.memoryUsage();
  process.send?.({ type: 'soak-probe', id: m.id, rss: mu.rss, heapUsed: mu.heapUsed, heapTotal: mu.heapTotal, external: mu.external });
});
