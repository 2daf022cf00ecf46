-- Up Migration

-- An email sent through Microsoft Graph is first created as a draft in the mailbox, then sent. The
-- draft's id is committed before the send request goes out, so a run lost in between finds out
-- from the draft what became of the email (src/mail/graph/graphOutbox.ts). The Message-ID column
-- then holds the internetMessageId Exchange gave the draft.
ALTER TABLE email_activities ADD COLUMN server_draft_id text;

-- Down Migration
ALTER TABLE email_activities DROP COLUMN server_draft_id;
