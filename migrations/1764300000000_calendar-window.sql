-- Up Migration
-- The calendar window item sync reads from Exchange (calendarView/delta needs one, graph.md §2.4):
-- days back and ahead of today. Appointments outside it stay linked; CRM changes still reach them.
ALTER TABLE organization_settings
  ADD COLUMN items_calendar_days_back integer NOT NULL DEFAULT 30 CHECK (items_calendar_days_back BETWEEN 0 AND 3650),
  ADD COLUMN items_calendar_days_ahead integer NOT NULL DEFAULT 365 CHECK (items_calendar_days_ahead BETWEEN 1 AND 3650);

-- Down Migration
ALTER TABLE organization_settings DROP COLUMN items_calendar_days_ahead, DROP COLUMN items_calendar_days_back;
