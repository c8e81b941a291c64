/**
 * The `config` section of the config: where the edge's rules come from. `file` (the default): this file
 * holds everything. `redis`: the fleet's rules live in one versioned document in the Redis of
 * `storage` (split.ts says which keys), shared by every edge of the fleet. Mounted by config/schema.ts at
 * the top-level key `config`; restart-only (config/restart.ts).
 */
import { z } from 'zod';

export const configSourceSchema = z.strictObject({
  source: z.enum(['file', 'redis'], { error: 'expected file or redis' }).default('file'),
});

export type ConfigSourceConfig = z.output<typeof configSourceSchema>;

/** `config.source: redis` needs the Redis storage, where the fleet document lives. */
export function configSourceIssues(c: ConfigSourceConfig, storageType: string): Array<{ path: string[]; message: string }> {
  return c.source === 'redis' && storageType !== 'redis'
    ? [{ path: ['config', 'source'], message: 'config.source: redis needs storage.type: redis (the fleet document lives in that Redis)' }]
    : [];
}
