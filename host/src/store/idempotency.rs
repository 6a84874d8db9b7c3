//! Idempotent writes: the first successful response to a request carrying
//! an `Idempotency-Key` is stored in the same savepoint as the change it
//! describes, so a retry finds either nothing (the first attempt did not
//! happen) or the change and its response (replayed, changing nothing).
//! Keys are per tenant; reusing one for a different request is a conflict.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, StoreError};

/// A response as first sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// What to do with a keyed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotentResponse {
    /// Seen before: send this again.
    Replay(StoredResponse),
    /// New: do the work, then [`remember`] the response.
    Fresh,
}

/// How long a key is remembered.
pub const RETENTION_HOURS: i64 = 24;

pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(StoreError::invalid(
            "Idempotency-Key",
            "1-255 visible ASCII characters",
        ));
    }
    Ok(())
}

/// Looks the key up. `scope` is the tenant row id (0 for operator keys);
/// `request_hash` covers method, path and body.
pub fn lookup(
    conn: &Connection,
    scope: i64,
    key: &str,
    request_hash: &[u8],
) -> Result<IdempotentResponse> {
    check_key(key)?;
    let found: Option<(Vec<u8>, u16, Vec<u8>)> = conn
        .prepare_cached("SELECT request_hash, status, body FROM idempotency_keys WHERE tenant_id = ?1 AND key = ?2")?
        .query_row(params![scope, key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    match found {
        None => Ok(IdempotentResponse::Fresh),
        Some((hash, status, body)) if hash == request_hash => {
            Ok(IdempotentResponse::Replay(StoredResponse { status, body }))
        }
        Some(_) => Err(StoreError::Conflict {
            field: "Idempotency-Key".into(),
            detail: format!("key {key:?} was already used for a different request"),
        }),
    }
}

pub fn remember(
    conn: &Connection,
    scope: i64,
    key: &str,
    request_hash: &[u8],
    response: &StoredResponse,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![scope, key, request_hash, response.status, response.body, now])?;
    Ok(())
}

/// Forgets keys older than the retention. Returns how many.
pub fn expire(conn: &Connection, now: DateTime<Utc>) -> Result<usize> {
    let cutoff = now - chrono::Duration::hours(RETENTION_HOURS);
    Ok(conn
        .prepare_cached("DELETE FROM idempotency_keys WHERE created_at < ?1")?
        .execute([cutoff])?)
}
