-- A tenant's guardrail policy (quiet hours, caps), when it changed the
-- host's defaults. JSON, guardrails::Policy.
CREATE TABLE policies (
    tenant_id   INTEGER PRIMARY KEY REFERENCES tenants(id),
    policy      TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
