import { Pool, types } from 'pg';

// BIGINT columns (counts, serials) fit in a JS number for this schema's sizes.
types.setTypeParser(types.builtins.INT8, (v) => Number(v));

export function createPool(databaseUrl: string, max = 10): Pool {
  return new Pool({ connectionString: databaseUrl, max });
}
