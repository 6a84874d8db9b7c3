-- Sessions of the operator dashboard (`/dashboard`): a random token in an
-- HttpOnly cookie, stored here only as its SHA-256, tied to the API key it
-- was opened with. Every request joins the key again, so revoking the key
-- ends the session at once.
CREATE TABLE dashboard_sessions (
    id          INTEGER PRIMARY KEY,
    token_hash  BLOB NOT NULL UNIQUE,
    key_id      INTEGER NOT NULL REFERENCES api_keys(id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) STRICT;
CREATE INDEX dashboard_sessions_by_expiry ON dashboard_sessions (expires_at);

-- The dashboard's outbox page lists a tenant's messages by status, newest
-- first.
CREATE INDEX outbox_by_tenant_status ON outbox (tenant_id, status, id);
-- Its plugins page lists a tenant's recent faults; faults are rare, so a
-- partial index costs ordinary evaluations nothing.
CREATE INDEX evaluation_faults ON evaluations (tenant_id, id) WHERE outcome <> 'ok';
