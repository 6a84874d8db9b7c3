//! Limits set at run time (see `crate::limits`): the host-wide ones an
//! operator set (one row) and each tenant plugin's own, by plugin name.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::Result;
use crate::limits::LimitValues;

/// Values as stored, with who set them.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Stored {
    #[serde(flatten)]
    pub values: LimitValues,
    /// `admin` or `operator` (an operator's values may loosen).
    pub set_by_role: String,
    /// The API key's id.
    pub set_by: String,
    pub set_at: DateTime<Utc>,
}

impl Stored {
    pub fn by_operator(&self) -> bool {
        self.set_by_role == "operator"
    }
}

fn values(r: &rusqlite::Row<'_>) -> rusqlite::Result<LimitValues> {
    let get = |i: usize| -> rusqlite::Result<Option<u64>> {
        Ok(r.get::<_, Option<i64>>(i)?.map(|v| v as u64))
    };
    Ok(LimitValues {
        fuel: get(0)?,
        memory_bytes: get(1)?,
        deadline_ms: get(2)?,
        max_actions: get(3)?,
    })
}

fn as_sql(value: Option<u64>) -> Option<i64> {
    value.map(|v| v.min(i64::MAX as u64) as i64)
}

/// The host-wide limits an operator set, if any.
pub fn host(conn: &Connection) -> Result<Option<Stored>> {
    Ok(conn
        .prepare_cached(
            "SELECT fuel, memory_bytes, deadline_ms, max_actions, set_by, set_at FROM host_limits WHERE id = 1",
        )?
        .query_row([], |r| {
            Ok(Stored {
                values: values(r)?,
                set_by_role: "operator".into(),
                set_by: r.get(4)?,
                set_at: r.get(5)?,
            })
        })
        .optional()?)
}

pub fn set_host(
    conn: &Connection,
    values: &LimitValues,
    set_by: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO host_limits (id, fuel, memory_bytes, deadline_ms, max_actions, set_by, set_at)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET fuel = ?1, memory_bytes = ?2, deadline_ms = ?3, max_actions = ?4,
                                        set_by = ?5, set_at = ?6",
    )?
    .execute(params![
        as_sql(values.fuel),
        as_sql(values.memory_bytes),
        as_sql(values.deadline_ms),
        as_sql(values.max_actions),
        set_by,
        now
    ])?;
    Ok(())
}

/// A tenant plugin's own limits, if it has any.
pub fn plugin(conn: &Connection, tenant_id: i64, name: &str) -> Result<Option<Stored>> {
    Ok(conn
        .prepare_cached(
            "SELECT fuel, memory_bytes, deadline_ms, max_actions, set_by_role, set_by, set_at
             FROM plugin_limits WHERE tenant_id = ?1 AND name = ?2",
        )?
        .query_row(params![tenant_id, name], |r| {
            Ok(Stored {
                values: values(r)?,
                set_by_role: r.get(4)?,
                set_by: r.get(5)?,
                set_at: r.get(6)?,
            })
        })
        .optional()?)
}

/// Sets (replaces) a tenant plugin's own limits; all values missing
/// removes them.
pub fn set_plugin(
    conn: &Connection,
    tenant_id: i64,
    name: &str,
    values: &LimitValues,
    by_operator: bool,
    set_by: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    if *values == LimitValues::default() {
        conn.prepare_cached("DELETE FROM plugin_limits WHERE tenant_id = ?1 AND name = ?2")?
            .execute(params![tenant_id, name])?;
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO plugin_limits (tenant_id, name, fuel, memory_bytes, deadline_ms, max_actions, set_by_role, set_by, set_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (tenant_id, name) DO UPDATE SET fuel = ?3, memory_bytes = ?4, deadline_ms = ?5,
             max_actions = ?6, set_by_role = ?7, set_by = ?8, set_at = ?9",
    )?
    .execute(params![
        tenant_id,
        name,
        as_sql(values.fuel),
        as_sql(values.memory_bytes),
        as_sql(values.deadline_ms),
        as_sql(values.max_actions),
        if by_operator { "operator" } else { "admin" },
        set_by,
        now
    ])?;
    Ok(())
}
