-- Up Migration
-- What a delete on one side does to the linked copy on the other, per entity and direction
-- (dynamics-sss.md §6.2, §6.3; src/policy/itemMerge.ts crmDeleted, exchangeDeleted): 'dynamics'
-- follows Dynamics' rule for that entity, 'delete' always deletes the copy, 'unlink' always keeps it
-- unlinked.
ALTER TABLE organization_settings
  ADD COLUMN items_delete_contact_from_crm text NOT NULL DEFAULT 'dynamics' CHECK (items_delete_contact_from_crm IN ('dynamics', 'delete', 'unlink')),
  ADD COLUMN items_delete_contact_from_exchange text NOT NULL DEFAULT 'dynamics' CHECK (items_delete_contact_from_exchange IN ('dynamics', 'delete', 'unlink')),
  ADD COLUMN items_delete_appointment_from_crm text NOT NULL DEFAULT 'dynamics' CHECK (items_delete_appointment_from_crm IN ('dynamics', 'delete', 'unlink')),
  ADD COLUMN items_delete_appointment_from_exchange text NOT NULL DEFAULT 'dynamics' CHECK (items_delete_appointment_from_exchange IN ('dynamics', 'delete', 'unlink')),
  ADD COLUMN items_delete_task_from_crm text NOT NULL DEFAULT 'dynamics' CHECK (items_delete_task_from_crm IN ('dynamics', 'delete', 'unlink')),
  ADD COLUMN items_delete_task_from_exchange text NOT NULL DEFAULT 'dynamics' CHECK (items_delete_task_from_exchange IN ('dynamics', 'delete', 'unlink'));

-- Down Migration
ALTER TABLE organization_settings
  DROP COLUMN items_delete_task_from_exchange, DROP COLUMN items_delete_task_from_crm,
  DROP COLUMN items_delete_appointment_from_exchange, DROP COLUMN items_delete_appointment_from_crm,
  DROP COLUMN items_delete_contact_from_exchange, DROP COLUMN items_delete_contact_from_crm;
