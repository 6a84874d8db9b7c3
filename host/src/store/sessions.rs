//! Dashboard sessions: a random token handed to the browser in a cookie,
//! kept here only as its SHA-256, with an expiry and the API key it was
//! opened with. A session is worth no more than its key: every lookup
//! joins the key again, so a revoked key ends its sessions at once, and
//! the role and tenant are always the key's current ones.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::tenants::{Principal, principal_of};
use super::{Result, StoreError, ids};

/// How long a session lasts after login.
pub const LIFETIME: Duration = Duration::hours(12);

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Opens a session for the live key `key_id` (its public id); returns the
/// token, which is not stored. Sessions past their expiry are dropped on
/// the way.
pub fn open(conn: &Connection, key_id: &str, now: DateTime<Utc>) -> Result<String> {
    conn.prepare_cached("DELETE FROM dashboard_sessions WHERE expires_at <= ?1")?
        .execute([now])?;
    let token = ids::random_token(32);
    let inserted = conn
        .prepare_cached(
            "INSERT INTO dashboard_sessions (token_hash, key_id, created_at, expires_at)
             SELECT ?1, id, ?3, ?4 FROM api_keys WHERE public_id = ?2 AND revoked_at IS NULL",
        )?
        .execute(params![hash(&token), key_id, now, now + LIFETIME])?;
    if inserted == 0 {
        return Err(StoreError::not_found("key", key_id));
    }
    Ok(token)
}

/// Who a session token stands for now: `None` when the token is unknown,
/// expired, or its key was revoked.
pub fn principal(conn: &Connection, token: &str, now: DateTime<Utc>) -> Result<Option<Principal>> {
    let row = conn
        .prepare_cached(
            "SELECT k.public_id, k.role, t.id, t.slug FROM dashboard_sessions s
             JOIN api_keys k ON k.id = s.key_id
             LEFT JOIN tenants t ON t.id = k.tenant_id
             WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND k.revoked_at IS NULL",
        )?
        .query_row(params![hash(token), now], principal_of)
        .optional()?;
    Ok(row.flatten())
}

/// Ends a session (logout). Ending one that is gone already is fine.
pub fn close(conn: &Connection, token: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM dashboard_sessions WHERE token_hash = ?1")?
        .execute([hash(token)])?;
    Ok(())
}
