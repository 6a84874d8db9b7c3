-- A tenant's messaging settings: its own senders (over the host's, channel
-- by channel) and the payment-link template put in its reminders. JSON,
-- store::messaging::Messaging; secrets included, never shown back.
CREATE TABLE messaging (
    tenant_id   INTEGER PRIMARY KEY REFERENCES tenants(id),
    settings    TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

-- Tenant templates chosen by name: a plan's reminder may name one instead
-- of the tone's default. Per channel and language; the tone is the
-- reminder's own.
CREATE TABLE named_templates (
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    channel     TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'call', 'letter')),
    language    TEXT NOT NULL,
    subject     TEXT,
    text        TEXT NOT NULL,
    html        TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name, channel, language)
) STRICT;

-- Which template a sent message was rendered with.
ALTER TABLE outbox ADD COLUMN rendered_with TEXT;

-- Event subscriptions: the tenant's timeline, pushed to its endpoints as
-- signed webhooks, in order, each event once per subscription (the cursor
-- is the last event delivered; a failure holds the cursor and retries).
CREATE TABLE subscriptions (
    id                INTEGER PRIMARY KEY,
    public_id         TEXT NOT NULL UNIQUE,
    tenant_id         INTEGER NOT NULL REFERENCES tenants(id),
    url               TEXT NOT NULL,
    secret            TEXT NOT NULL,
    kinds             TEXT NOT NULL,     -- JSON array of patterns
    cursor            INTEGER NOT NULL,  -- events.id last delivered
    delivered         INTEGER NOT NULL DEFAULT 0,
    failures          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   TEXT NOT NULL,
    lease_until       TEXT,
    last_error        TEXT,
    last_delivered_at TEXT,
    created_at        TEXT NOT NULL
) STRICT;
CREATE INDEX subscriptions_by_tenant ON subscriptions (tenant_id, id);
CREATE INDEX events_by_tenant ON events (tenant_id, id);
