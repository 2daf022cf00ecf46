-- Up Migration
-- Bodies and attachment contents are compressed with LZ4 where the server has it (PostgreSQL 14+
-- built with lz4, as Debian's and the official images are): it costs less CPU than the default
-- pglz, and an initial sync writes a body or two for every message. A server without it keeps
-- pglz; only rows written from now on change.
DO $$
BEGIN
  ALTER TABLE email_activities ALTER COLUMN body_text SET COMPRESSION lz4, ALTER COLUMN body_html SET COMPRESSION lz4;
  ALTER TABLE attachment_contents ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'This PostgreSQL has no LZ4: bodies and attachments stay compressed with pglz';
END $$;

-- Down Migration
ALTER TABLE email_activities ALTER COLUMN body_text SET COMPRESSION default, ALTER COLUMN body_html SET COMPRESSION default;
ALTER TABLE attachment_contents ALTER COLUMN content SET COMPRESSION default;
