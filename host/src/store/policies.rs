//! Each tenant's guardrail policy: the host's defaults until the tenant
//! changes them (`PUT /v1/policy`). Validated before it gets here.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, from_json, to_json};
use crate::guardrails::Policy;

/// The tenant's policy, or the defaults.
pub fn get(conn: &Connection, tenant_id: i64) -> Result<Policy> {
    let stored: Option<String> = conn
        .prepare_cached("SELECT policy FROM policies WHERE tenant_id = ?1")?
        .query_row([tenant_id], |r| r.get(0))
        .optional()?;
    Ok(match stored {
        Some(text) => from_json(&text)?,
        None => Policy::default(),
    })
}

pub fn put(
    conn: &Connection,
    tenant_id: i64,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Policy> {
    conn.prepare_cached(
        "INSERT INTO policies (tenant_id, policy, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at",
    )?
    .execute(params![tenant_id, to_json(policy)?, now])?;
    Ok(policy.clone())
}
