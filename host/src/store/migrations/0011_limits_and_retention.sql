-- Limits: the host-wide ones an operator set at run time (over the
-- configured defaults; one row), and each tenant plugin's own (every
-- version of the name). A NULL value is "the host-wide one". Values an
-- admin set can only tighten: they are capped by the host-wide value in
-- force; an operator's may loosen (up to what the runtime can honour).
CREATE TABLE host_limits (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    fuel          INTEGER,
    memory_bytes  INTEGER,
    deadline_ms   INTEGER,
    max_actions   INTEGER,
    set_by        TEXT NOT NULL,           -- the API key's id
    set_at        TEXT NOT NULL
) STRICT;

CREATE TABLE plugin_limits (
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
    name          TEXT NOT NULL,
    fuel          INTEGER,
    memory_bytes  INTEGER,
    deadline_ms   INTEGER,
    max_actions   INTEGER,
    set_by_role   TEXT NOT NULL CHECK (set_by_role IN ('admin', 'operator')),
    set_by        TEXT NOT NULL,
    set_at        TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
) STRICT;

-- The newest evaluation (row id) when an operator last released a
-- quarantined version: the quarantine watch, rebuilt from recorded
-- evaluations after a restart, counts only those after it.
ALTER TABLE plugin_versions ADD COLUMN released_after_evaluation INTEGER;

-- Evaluation inputs are dropped after the retention period by the
-- periodic sweep (the evaluation itself stays). The partial index finds
-- the oldest inputs still kept, and the recent evaluations of a strategy
-- when the quarantine watch is rebuilt.
ALTER TABLE evaluations ADD COLUMN input_dropped_at TEXT;
CREATE INDEX evaluations_kept_inputs_by_at ON evaluations (at) WHERE input_dropped_at IS NULL;
