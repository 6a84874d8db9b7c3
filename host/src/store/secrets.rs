//! The host's own secrets, made on first start and kept in the database so
//! that a restart does not invalidate what was signed with them (the
//! portal's link key). Not tenant data: no tenant column.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::Result;

/// The secret called `name`; `make` makes it the first time.
pub fn get_or_create(
    conn: &Connection,
    name: &str,
    make: impl FnOnce() -> Vec<u8>,
    now: DateTime<Utc>,
) -> Result<Vec<u8>> {
    let found: Option<Vec<u8>> = conn
        .prepare_cached("SELECT value FROM host_secrets WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    if let Some(value) = found {
        return Ok(value);
    }
    let value = make();
    conn.prepare_cached("INSERT INTO host_secrets (name, value, created_at) VALUES (?1, ?2, ?3)")?
        .execute(params![name, value, now])?;
    Ok(value)
}
