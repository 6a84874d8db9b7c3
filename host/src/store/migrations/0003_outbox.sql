-- The outbox: every message a plan keeps becomes a row with a time and an
-- idempotency key before anything is sent. The dispatcher claims due rows
-- with a lease, so a crash mid-send only delays a message, and the key
-- travels with it (the Message-ID of an email, the file name of a file), so
-- a resend after a crash is the same message, not a second one.
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    public_id        TEXT NOT NULL UNIQUE,
    tenant_id        INTEGER NOT NULL REFERENCES tenants(id),
    debtor_id        INTEGER NOT NULL REFERENCES debtors(id),
    evaluation_id    INTEGER NOT NULL REFERENCES evaluations(id),
    channel          TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'call', 'letter')),
    tone             TEXT NOT NULL,
    invoice_ids      TEXT NOT NULL,       -- JSON array of external ids
    template         TEXT,
    scheduled_at     TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('scheduled', 'sending', 'sent', 'failed', 'cancelled', 'suppressed')),
    idempotency_key  TEXT NOT NULL UNIQUE,
    attempts         INTEGER NOT NULL DEFAULT 0,
    lease_until      TEXT,
    reason           TEXT,                -- why cancelled, suppressed or failed
    sent_at          TEXT,
    created_at       TEXT NOT NULL
) STRICT;
CREATE INDEX outbox_due ON outbox (status, scheduled_at);
CREATE INDEX outbox_by_debtor ON outbox (debtor_id, id);
