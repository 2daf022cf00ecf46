import type { Pool } from 'pg';
import type { CrmItems } from '../crm/crmItems';
import { PgCrmItems } from '../crm/pgCrmItems';
import { FieldDirectionService } from './fieldDirectionService';
import { SyncFilterService } from './syncFilterService';

/** What the API and CLI need for contacts', appointments' and tasks' sync: the records, filters and field directions. */
export interface ItemServices {
  records: CrmItems;
  filters: SyncFilterService;
  directions: FieldDirectionService;
}

export function createItemServices(pool: Pool): ItemServices {
  const records = new PgCrmItems(pool);
  return { records, filters: new SyncFilterService(pool, records), directions: new FieldDirectionService(pool) };
}
