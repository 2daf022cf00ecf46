-- Up Migration

-- Bodies, dates, identity ---------------------------------------------------------------------

-- sent_at is the Date header's instant, NULL when the header is missing or unreadable (never a
-- substitute); received_at beside it is when the server got the message (IMAP INTERNALDATE).
ALTER TABLE email_activities
  -- Sanitised for display (src/mail/mime/html.ts): nothing in it runs or loads from elsewhere.
  ADD COLUMN body_html text,
  -- Digest of the message without what differs between its copies (src/mail/mime/identity.ts).
  -- NULL for activities stored before it was kept: a later copy with their Message-ID is taken
  -- to be the same message, as it was then.
  ADD COLUMN content_digest text,
  -- A different message reusing an earlier activity's Message-ID is its own activity, a variant of that one.
  ADD COLUMN variant_of uuid REFERENCES email_activities (id) ON DELETE SET NULL;
ALTER TABLE email_activities DROP CONSTRAINT email_activities_message_id_key;
-- One activity per distinct message: its copies in several mailboxes share it, its variants do not.
ALTER TABLE email_activities ADD CONSTRAINT email_activities_message_key UNIQUE (message_id, content_digest);
CREATE INDEX email_activities_variant_of_idx ON email_activities (variant_of) WHERE variant_of IS NOT NULL;

-- Parties -------------------------------------------------------------------------------------

-- A party named without an address ("From: Mary Smith") is kept by its display name, unresolved.
ALTER TABLE email_parties DROP CONSTRAINT email_parties_pkey;
ALTER TABLE email_parties
  ADD COLUMN id bigserial PRIMARY KEY,
  ALTER COLUMN address DROP NOT NULL,
  ADD CONSTRAINT email_parties_named CHECK (address IS NOT NULL OR display_name IS NOT NULL),
  ADD CONSTRAINT email_parties_resolved_by_address CHECK (address IS NOT NULL OR party_id IS NULL);
-- Once per role: a party with an address by its address, one without by its name.
ALTER TABLE email_parties ADD CONSTRAINT email_parties_address_key UNIQUE (email_activity_id, role, address);
CREATE UNIQUE INDEX email_parties_name_key ON email_parties (email_activity_id, role, display_name) WHERE address IS NULL;

-- Attachments ---------------------------------------------------------------------------------

-- Attachments larger than this are described (name, type, size) but their content is not kept.
-- 5 MB, the Dynamics default for the largest attachment.
ALTER TABLE organization_settings ADD COLUMN max_attachment_bytes integer NOT NULL DEFAULT 5242880 CHECK (max_attachment_bytes >= 0);

-- Each distinct content once, by its SHA-256, however many emails carry it.
CREATE TABLE attachment_contents (
  sha256 text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  size integer NOT NULL CHECK (size >= 0),
  content bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE email_attachments (
  email_activity_id uuid NOT NULL REFERENCES email_activities (id) ON DELETE CASCADE,
  -- 1 for the message's first attachment, in the order of its MIME parts.
  position integer NOT NULL CHECK (position >= 1),
  filename text,
  content_type text NOT NULL,
  size integer NOT NULL CHECK (size >= 0),
  -- SHA-256 of the content, hex; NULL only for attachments recorded before contents were kept.
  sha256 text,
  -- For the cid: references of the HTML body.
  content_id text,
  -- Shown in the body rather than offered as a file.
  inline boolean NOT NULL,
  -- The content is in attachment_contents. False is the marker of an attachment described only:
  -- over max_attachment_bytes when it was synced, or synced before contents were kept.
  stored boolean NOT NULL,
  -- The key a stored attachment's content must exist under; NULL, so unchecked, for one not stored.
  content_key text GENERATED ALWAYS AS (CASE WHEN stored THEN sha256 END) STORED REFERENCES attachment_contents (sha256),
  PRIMARY KEY (email_activity_id, position),
  CHECK (sha256 IS NOT NULL OR NOT stored)
);

-- The descriptions kept so far (mailparser's: name, type, size) become attachments not stored; what
-- shows in the body was not told apart then, so they count as offered files.
INSERT INTO email_attachments (email_activity_id, position, filename, content_type, size, inline, stored)
SELECT a.id, x.n, x.value->>'filename', coalesce(x.value->>'contentType', 'application/octet-stream'),
       coalesce((x.value->>'size')::integer, 0), false, false
  FROM email_activities a CROSS JOIN LATERAL jsonb_array_elements(a.attachments) WITH ORDINALITY AS x(value, n);
ALTER TABLE email_activities DROP COLUMN attachments;

-- Down Migration
ALTER TABLE email_activities ADD COLUMN attachments jsonb NOT NULL DEFAULT '[]';
UPDATE email_activities a
   SET attachments = (SELECT jsonb_agg(jsonb_build_object('filename', t.filename, 'contentType', t.content_type, 'size', t.size) ORDER BY t.position)
                        FROM email_attachments t WHERE t.email_activity_id = a.id)
 WHERE EXISTS (SELECT 1 FROM email_attachments t WHERE t.email_activity_id = a.id);
DROP TABLE email_attachments, attachment_contents;
ALTER TABLE organization_settings DROP COLUMN max_attachment_bytes;

-- The old keys cannot hold what they could not represent: parties without an address, and the
-- variants of a Message-ID (all but its first activity) with their item links, are deleted.
DELETE FROM email_parties WHERE address IS NULL;
DROP INDEX email_parties_name_key;
ALTER TABLE email_parties
  DROP CONSTRAINT email_parties_address_key,
  DROP CONSTRAINT email_parties_resolved_by_address,
  DROP CONSTRAINT email_parties_named,
  DROP COLUMN id,
  ALTER COLUMN address SET NOT NULL,
  ADD PRIMARY KEY (email_activity_id, role, address);

CREATE TEMPORARY TABLE later_variants ON COMMIT DROP AS
  SELECT a.id FROM email_activities a
   WHERE EXISTS (SELECT 1 FROM email_activities b WHERE b.message_id = a.message_id AND (b.created_at, b.id) < (a.created_at, a.id));
DELETE FROM item_links WHERE item_type = 'email' AND crm_record_id IN (SELECT id FROM later_variants);
DELETE FROM email_activities WHERE id IN (SELECT id FROM later_variants);
DROP INDEX email_activities_variant_of_idx;
ALTER TABLE email_activities
  DROP CONSTRAINT email_activities_message_key,
  DROP COLUMN variant_of,
  DROP COLUMN content_digest,
  DROP COLUMN body_html,
  ADD CONSTRAINT email_activities_message_id_key UNIQUE (message_id);
