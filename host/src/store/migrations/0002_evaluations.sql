-- Evaluations: one run of a strategy on one debtor's case, whatever came of
-- it. The input is kept whole so the decision can be replayed.
CREATE TABLE evaluations (
    id            INTEGER PRIMARY KEY,
    public_id     TEXT NOT NULL UNIQUE,
    tenant_id     INTEGER NOT NULL REFERENCES tenants(id),
    debtor_id     INTEGER NOT NULL REFERENCES debtors(id),
    at            TEXT NOT NULL,         -- the case's `now`
    strategy      TEXT NOT NULL,         -- name of the strategy
    plugin_digest TEXT NOT NULL,         -- SHA-256 of the component
    contract      TEXT NOT NULL,         -- contract version it ran under
    input_hash    TEXT NOT NULL,         -- SHA-256 of the case JSON
    input         TEXT NOT NULL,         -- the case JSON
    outcome       TEXT NOT NULL,         -- 'ok' or the fault's kind
    error         TEXT,
    plan          TEXT,                  -- JSON, when outcome = 'ok'
    verdicts      TEXT,                  -- JSON: each action after the guardrails
    log           TEXT NOT NULL,         -- JSON: the plugin's log tail
    fuel_used     INTEGER,
    duration_us   INTEGER NOT NULL,
    -- When the scheduler should look again if nothing happens first: the
    -- plan's review-at (or a day), or after a fault a backoff that doubles.
    next_review_at TEXT NOT NULL,
    failures      INTEGER NOT NULL,      -- faults in a row, this one included
    created_at    TEXT NOT NULL
) STRICT;
CREATE INDEX evaluations_by_debtor ON evaluations (debtor_id, id);
