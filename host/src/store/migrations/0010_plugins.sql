-- The plugin registry. Components are stored once per content
-- (SHA-256); each tenant's versions point at them, with what the checks at
-- upload found. A version is `validated` until retired, or quarantined by
-- the engine after repeated faults (until an operator releases it).
CREATE TABLE plugin_blobs (
    sha256  TEXT PRIMARY KEY,
    size    INTEGER NOT NULL,
    bytes   BLOB NOT NULL
) STRICT;

CREATE TABLE plugin_versions (
    id           INTEGER PRIMARY KEY,
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,            -- semver, as given
    sort_key     TEXT NOT NULL,            -- zero-padded major.minor.patch, then pre-release
    sha256       TEXT NOT NULL REFERENCES plugin_blobs(sha256),
    contract     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('validated', 'retired', 'quarantined')),
    quarantined_at    TEXT,
    quarantine_reason TEXT,
    info         TEXT NOT NULL,            -- describe(), JSON
    imports      TEXT NOT NULL,            -- JSON array
    checks       TEXT NOT NULL,            -- JSON array of the checks at upload
    uploaded_by  TEXT NOT NULL,            -- the API key's id
    uploaded_at  TEXT NOT NULL,
    UNIQUE (tenant_id, name, version)
) STRICT;

-- What a segment ran before each change of strategy or config, newest
-- last: `POST /v1/segments/{id}/rollback` goes back one step.
CREATE TABLE segment_history (
    id          INTEGER PRIMARY KEY,
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    key         TEXT NOT NULL,
    strategy    TEXT NOT NULL,
    config      TEXT NOT NULL,
    replaced_at TEXT NOT NULL
) STRICT;
CREATE INDEX segment_history_by_key ON segment_history (tenant_id, key, id);

-- A segment can run a second strategy in shadow (its plans recorded, never
-- carried out) and split its debtors between two strategies (A/B), by a
-- stable hash of the debtor's id.
ALTER TABLE segments ADD COLUMN shadow TEXT;
ALTER TABLE segments ADD COLUMN split TEXT;           -- JSON segments::Split

-- What the shadow strategy would have done, beside each evaluation.
CREATE TABLE shadow_runs (
    id            INTEGER PRIMARY KEY,
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
    evaluation_id INTEGER NOT NULL REFERENCES evaluations(id),
    segment       TEXT NOT NULL,
    strategy      TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    error         TEXT,
    plan          TEXT,
    fuel_used     INTEGER,
    duration_us   INTEGER NOT NULL
) STRICT;
CREATE INDEX shadow_runs_by_segment ON shadow_runs (tenant_id, segment, id);
