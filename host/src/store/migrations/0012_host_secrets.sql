-- Secrets the host makes for itself on first start and keeps across
-- restarts (the portal's link-signing key). Not tenant data.
CREATE TABLE host_secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    created_at TEXT NOT NULL
);
