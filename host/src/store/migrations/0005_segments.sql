-- Segments: which strategy decides for which debtors. The `default`
-- segment is implicit until a tenant stores its own.
CREATE TABLE segments (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    key         TEXT NOT NULL,
    name        TEXT NOT NULL,
    priority    INTEGER NOT NULL,
    rule        TEXT NOT NULL,      -- JSON, segments::Rule
    strategy    TEXT NOT NULL,
    config      TEXT NOT NULL,      -- JSON handed to the strategy
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (tenant_id, key)
) STRICT;

-- Which segment an evaluation ran for.
ALTER TABLE evaluations ADD COLUMN segment TEXT;
