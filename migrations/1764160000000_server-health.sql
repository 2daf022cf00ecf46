-- Up Migration

-- How each mail server has been answering lately; feeds the delay of every mailbox on it.
CREATE TABLE server_health (
  profile_id uuid PRIMARY KEY REFERENCES email_server_profiles (id) ON DELETE CASCADE,
  -- Moving average of the time to connect, log in and open the first folder.
  response_ms real NOT NULL DEFAULT 0,
  -- Connection-level failures in a row, across the server's mailboxes.
  failures_in_row integer NOT NULL DEFAULT 0,
  -- The server asked us to hold off until then (IMAP throttling, HTTP 429 Retry-After).
  throttled_until timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE server_health;
