-- What strategies' other actions change. A fee raises the invoice's amount
-- and open amount; `fees` says how much of them is fees (so the principal is
-- amount - fees). A deferral pauses contact about an invoice until a date.
ALTER TABLE invoices ADD COLUMN fees INTEGER NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN deferred_until TEXT;

CREATE TABLE fees (
    id             INTEGER PRIMARY KEY,
    tenant_id      INTEGER NOT NULL REFERENCES tenants(id),
    invoice_id     INTEGER NOT NULL REFERENCES invoices(id),
    evaluation_id  INTEGER NOT NULL REFERENCES evaluations(id),
    kind           TEXT NOT NULL CHECK (kind IN ('late-fee', 'interest', 'collection-cost')),
    amount         INTEGER NOT NULL CHECK (amount > 0),
    reason         TEXT NOT NULL,
    charged_at     TEXT NOT NULL
) STRICT;
CREATE INDEX fees_by_invoice ON fees (invoice_id, kind, charged_at);

-- Offers made to a debtor: a payment plan (its installments computed when
-- offered) or an early-payment discount, each valid until a date. Shown in
-- the reminders that follow; a plan offer is accepted with
-- POST /v1/offers/{id}/accept, which creates the payment plan.
CREATE TABLE offers (
    id             INTEGER PRIMARY KEY,
    public_id      TEXT NOT NULL UNIQUE,
    tenant_id      INTEGER NOT NULL REFERENCES tenants(id),
    debtor_id      INTEGER NOT NULL REFERENCES debtors(id),
    evaluation_id  INTEGER NOT NULL REFERENCES evaluations(id),
    kind           TEXT NOT NULL CHECK (kind IN ('payment-plan', 'discount')),
    invoice_ids    TEXT NOT NULL,     -- JSON array of external ids
    terms          TEXT NOT NULL,     -- JSON: installments or percent
    valid_until    TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('open', 'accepted', 'withdrawn')),
    created_at     TEXT NOT NULL
) STRICT;
CREATE INDEX offers_by_debtor ON offers (debtor_id, status);

-- Escalations handed over (to a collection agency, legal, an internal
-- team) by a signed webhook; leased and retried like the outbox.
CREATE TABLE escalations (
    id               INTEGER PRIMARY KEY,
    public_id        TEXT NOT NULL UNIQUE,
    tenant_id        INTEGER NOT NULL REFERENCES tenants(id),
    debtor_id        INTEGER NOT NULL REFERENCES debtors(id),
    evaluation_id    INTEGER NOT NULL REFERENCES evaluations(id),
    target           TEXT NOT NULL,
    invoice_ids      TEXT NOT NULL,
    note             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    lease_until      TEXT,
    next_attempt_at  TEXT NOT NULL,
    reason           TEXT,
    sent_at          TEXT,
    created_at       TEXT NOT NULL
) STRICT;
CREATE INDEX escalations_due ON escalations (status, next_attempt_at);
