-- dun store, schema version 1.
-- Money is INTEGER minor units with a currency code beside it; dates are
-- TEXT 'YYYY-MM-DD'; instants are TEXT RFC 3339 in UTC. Every table that
-- holds tenant data carries tenant_id, and every query filters on it.

CREATE TABLE tenants (
    id          INTEGER PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;

-- Only a SHA-256 of each key is stored; the key itself is shown once.
CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    public_id   TEXT NOT NULL UNIQUE,
    tenant_id   INTEGER REFERENCES tenants(id),
    role        TEXT NOT NULL CHECK (role IN ('operator', 'admin', 'client')),
    hash        BLOB NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    label       TEXT,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT,
    CHECK ((role = 'operator') = (tenant_id IS NULL))
) STRICT;

CREATE TABLE debtors (
    id              INTEGER PRIMARY KEY,
    tenant_id       INTEGER NOT NULL REFERENCES tenants(id),
    external_id     TEXT NOT NULL,
    name            TEXT NOT NULL,
    email           TEXT,
    phone           TEXT,
    postal_address  TEXT,             -- JSON object
    time_zone       TEXT NOT NULL,
    language        TEXT NOT NULL,
    tags            TEXT NOT NULL,    -- JSON array of strings
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (tenant_id, external_id)
) STRICT;

CREATE TABLE opt_outs (
    debtor_id   INTEGER NOT NULL REFERENCES debtors(id),
    channel     TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'call', 'letter')),
    at          TEXT NOT NULL,
    source      TEXT NOT NULL,
    PRIMARY KEY (debtor_id, channel)
) STRICT, WITHOUT ROWID;

CREATE TABLE invoices (
    id              INTEGER PRIMARY KEY,
    tenant_id       INTEGER NOT NULL REFERENCES tenants(id),
    debtor_id       INTEGER NOT NULL REFERENCES debtors(id),
    external_id     TEXT NOT NULL,
    number          TEXT NOT NULL,
    currency        TEXT NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount > 0),
    open_amount     INTEGER NOT NULL CHECK (open_amount >= 0 AND open_amount <= amount),
    issued_on       TEXT NOT NULL,
    due_on          TEXT NOT NULL CHECK (due_on >= issued_on),
    status          TEXT NOT NULL,
    in_collection   INTEGER NOT NULL DEFAULT 0,
    paid_on         TEXT,
    voided_on       TEXT,
    void_reason     TEXT,
    written_off_on  TEXT,
    terms           TEXT,             -- JSON: late fee, interest, grace days
    metadata        TEXT,             -- JSON object, the client's own
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (tenant_id, external_id)
) STRICT;
CREATE INDEX invoices_by_debtor ON invoices (debtor_id, due_on);

CREATE TABLE payments (
    id           INTEGER PRIMARY KEY,
    public_id    TEXT NOT NULL UNIQUE,
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
    debtor_id    INTEGER NOT NULL REFERENCES debtors(id),
    external_id  TEXT,
    currency     TEXT NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount > 0),
    unapplied    INTEGER NOT NULL CHECK (unapplied >= 0),   -- credit on account
    refunded     INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    received_on  TEXT NOT NULL,
    received_at  TEXT,                -- the instant, when the client knows it
    method       TEXT,
    reference    TEXT,
    created_at   TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX payments_external ON payments (tenant_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX payments_by_debtor ON payments (debtor_id, received_on);

-- Money moving onto (positive) or off (negative, a refund) an invoice, dated,
-- so that an invoice's open amount on any past date can be recomputed.
CREATE TABLE allocations (
    id          INTEGER PRIMARY KEY,
    payment_id  INTEGER NOT NULL REFERENCES payments(id),
    invoice_id  INTEGER NOT NULL REFERENCES invoices(id),
    amount      INTEGER NOT NULL CHECK (amount <> 0),
    on_date     TEXT NOT NULL
) STRICT;
CREATE INDEX allocations_by_invoice ON allocations (invoice_id, on_date);
CREATE INDEX allocations_by_payment ON allocations (payment_id);

CREATE TABLE refunds (
    id           INTEGER PRIMARY KEY,
    public_id    TEXT NOT NULL UNIQUE,
    payment_id   INTEGER NOT NULL REFERENCES payments(id),
    amount       INTEGER NOT NULL CHECK (amount > 0),
    refunded_on  TEXT NOT NULL,
    reason       TEXT,
    created_at   TEXT NOT NULL
) STRICT;

CREATE TABLE disputes (
    id           INTEGER PRIMARY KEY,
    public_id    TEXT NOT NULL UNIQUE,
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
    invoice_id   INTEGER NOT NULL REFERENCES invoices(id),
    reason       TEXT NOT NULL,
    opened_at    TEXT NOT NULL,
    resolved_at  TEXT,
    resolution   TEXT CHECK (resolution IN ('upheld', 'rejected', 'withdrawn')),
    note         TEXT
) STRICT;
CREATE UNIQUE INDEX one_open_dispute_per_invoice ON disputes (invoice_id) WHERE resolved_at IS NULL;

CREATE TABLE promises (
    id           INTEGER PRIMARY KEY,
    public_id    TEXT NOT NULL UNIQUE,
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
    debtor_id    INTEGER NOT NULL REFERENCES debtors(id),
    currency     TEXT NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount > 0),
    promised_on  TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'kept', 'broken', 'cancelled')),
    paid         INTEGER NOT NULL DEFAULT 0,   -- paid towards it since it was made
    note         TEXT,
    created_at   TEXT NOT NULL,
    closed_at    TEXT
) STRICT;
CREATE INDEX promises_by_debtor ON promises (debtor_id, status);
CREATE TABLE promise_invoices (
    promise_id  INTEGER NOT NULL REFERENCES promises(id),
    invoice_id  INTEGER NOT NULL REFERENCES invoices(id),
    PRIMARY KEY (promise_id, invoice_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX promise_invoices_by_invoice ON promise_invoices (invoice_id);

CREATE TABLE payment_plans (
    id           INTEGER PRIMARY KEY,
    public_id    TEXT NOT NULL UNIQUE,
    tenant_id    INTEGER NOT NULL REFERENCES tenants(id),
    debtor_id    INTEGER NOT NULL REFERENCES debtors(id),
    currency     TEXT NOT NULL,
    total        INTEGER NOT NULL CHECK (total > 0),
    status       TEXT NOT NULL CHECK (status IN ('active', 'completed', 'defaulted', 'cancelled')),
    created_at   TEXT NOT NULL,
    closed_at    TEXT
) STRICT;
CREATE TABLE plan_invoices (
    plan_id     INTEGER NOT NULL REFERENCES payment_plans(id),
    invoice_id  INTEGER NOT NULL REFERENCES invoices(id),
    PRIMARY KEY (plan_id, invoice_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX plan_invoices_by_invoice ON plan_invoices (invoice_id);
CREATE TABLE installments (
    plan_id  INTEGER NOT NULL REFERENCES payment_plans(id),
    seq      INTEGER NOT NULL,
    due_on   TEXT NOT NULL,
    amount   INTEGER NOT NULL CHECK (amount > 0),
    paid     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (plan_id, seq)
) STRICT, WITHOUT ROWID;

-- The debtor's timeline. Append-only: the triggers below refuse changes.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    tenant_id  INTEGER NOT NULL REFERENCES tenants(id),
    debtor_id  INTEGER NOT NULL REFERENCES debtors(id),
    at         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    subject    TEXT,                  -- e.g. the invoice's external id
    data       TEXT NOT NULL          -- JSON object
) STRICT;
CREATE INDEX events_by_debtor ON events (debtor_id, id);
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

-- A write's first response, replayed for a retry with the same key.
CREATE TABLE idempotency_keys (
    tenant_id     INTEGER NOT NULL,   -- 0 for operator keys
    key           TEXT NOT NULL,
    request_hash  BLOB NOT NULL,
    status        INTEGER NOT NULL,
    body          BLOB NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX idempotency_by_age ON idempotency_keys (created_at);
