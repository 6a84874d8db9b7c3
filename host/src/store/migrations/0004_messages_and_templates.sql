-- What each message was when it went: recipient, language, the rendered
-- parts, a letter's PDF and the provider's reference, so "what did we send
-- them?" has an exact answer.
ALTER TABLE outbox ADD COLUMN recipient TEXT;
ALTER TABLE outbox ADD COLUMN language TEXT;
ALTER TABLE outbox ADD COLUMN subject TEXT;
ALTER TABLE outbox ADD COLUMN body TEXT;
ALTER TABLE outbox ADD COLUMN html TEXT;
ALTER TABLE outbox ADD COLUMN pdf BLOB;
ALTER TABLE outbox ADD COLUMN provider_ref TEXT;

-- A tenant's own wording, per channel, tone and language; the built-in
-- templates cover whatever is not here.
CREATE TABLE templates (
    tenant_id   INTEGER NOT NULL REFERENCES tenants(id),
    channel     TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'call', 'letter')),
    tone        TEXT NOT NULL CHECK (tone IN ('courtesy', 'gentle', 'firm', 'final')),
    language    TEXT NOT NULL,
    subject     TEXT,
    text        TEXT NOT NULL,
    html        TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, channel, tone, language)
) STRICT;
