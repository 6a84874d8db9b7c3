//! Event subscriptions: a tenant's timeline pushed to its own endpoints as
//! signed webhooks. Each subscription has a cursor, the last event it was
//! given; delivery walks the tenant's events after it in order, so every
//! matching event reaches the endpoint, in order, and a failure holds the
//! cursor until the endpoint takes it (retried with backoff, never dropped).
//! A subscription is claimed with a lease like an outbox row, so two
//! dispatchers never deliver to the same endpoint at once.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::timeline::{Event, EventKind};
use super::{FieldError, Result, StoreError, from_json, ids, to_json};

/// A subscription as shown over the API (never its secret, but once).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Subscription {
    pub id: String,
    pub url: String,
    /// Patterns of event kinds: `*`, `payment.received`, `message.*`.
    pub events: Vec<String>,
    /// The HMAC key of the `Dun-Signature` header: shown only in the
    /// answer to the request that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Events delivered so far.
    pub delivered: i64,
    /// The id of the last event the endpoint has taken.
    pub cursor: i64,
    /// Failed attempts in a row; 0 when the last one went through.
    pub failures: i64,
    pub last_error: Option<String>,
    pub last_delivered_at: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "public_id, url, kinds, delivered, cursor, failures, last_error, last_delivered_at,
    next_attempt_at, created_at";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Subscription> {
    Ok(Subscription {
        id: r.get(0)?,
        url: r.get(1)?,
        events: from_json(&r.get::<_, String>(2)?)?,
        secret: None,
        delivered: r.get(3)?,
        cursor: r.get(4)?,
        failures: r.get(5)?,
        last_error: r.get(6)?,
        last_delivered_at: r.get(7)?,
        next_attempt_at: r.get(8)?,
        created_at: r.get(9)?,
    })
}

/// Whether an event of `kind` matches one of `patterns`.
pub fn matches(patterns: &[String], kind: &str) -> bool {
    patterns.iter().any(|p| {
        p == "*"
            || p == kind
            || p.strip_suffix(".*").is_some_and(|prefix| {
                kind.strip_prefix(prefix)
                    .is_some_and(|r| r.starts_with('.'))
            })
    })
}

/// Problems with a pattern list, by field (`events/0`, …): each must match
/// at least one kind of event dun records.
pub fn check_patterns(patterns: &[String]) -> Vec<FieldError> {
    if patterns.is_empty() {
        return vec![FieldError::new(
            "events",
            "name at least one pattern, or \"*\"",
        )];
    }
    patterns
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            !EventKind::ALL
                .iter()
                .any(|k| matches(&[p.to_string()], k.as_str()))
        })
        .map(|(i, p)| {
            FieldError::new(
                format!("events/{i}"),
                format!(
                    "{p:?} matches no event kind; e.g. \"*\", \"payment.received\", \"message.*\""
                ),
            )
        })
        .collect()
}

/// Creates a subscription to the events recorded from now on; its answer
/// carries the secret, the only time it is shown.
pub fn create(
    conn: &Connection,
    tenant_id: i64,
    url: &str,
    patterns: &[String],
    now: DateTime<Utc>,
) -> Result<Subscription> {
    let public = ids::new_id("sub");
    let secret = format!("whsec_{}", ids::random_token(24));
    let cursor: i64 =
        conn.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?;
    conn.prepare_cached(
        "INSERT INTO subscriptions (public_id, tenant_id, url, secret, kinds, cursor, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![public, tenant_id, url, secret, to_json(&patterns)?, cursor, now])?;
    let mut created = get(conn, tenant_id, &public)?;
    created.secret = Some(secret);
    Ok(created)
}

pub fn get(conn: &Connection, tenant_id: i64, id: &str) -> Result<Subscription> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE public_id = ?1 AND tenant_id = ?2"
    ))?
    .query_row(params![id, tenant_id], from_row)
    .optional()?
    .ok_or_else(|| StoreError::not_found("subscription", id))
}

pub fn list(conn: &Connection, tenant_id: i64) -> Result<Vec<Subscription>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE tenant_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([tenant_id], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn delete(conn: &Connection, tenant_id: i64, id: &str) -> Result<()> {
    let removed = conn
        .prepare_cached("DELETE FROM subscriptions WHERE public_id = ?1 AND tenant_id = ?2")?
        .execute(params![id, tenant_id])?;
    if removed == 0 {
        return Err(StoreError::not_found("subscription", id));
    }
    Ok(())
}

/// A subscription claimed for delivery, with what it needs to sign.
#[derive(Clone, Debug)]
pub struct Due {
    pub row: i64,
    pub id: String,
    pub tenant_id: i64,
    pub tenant: String,
    pub url: String,
    pub secret: String,
    pub patterns: Vec<String>,
    pub cursor: i64,
    pub failures: i64,
}

/// Claims subscriptions whose time has come and which have events to take,
/// leased until `now + lease`.
pub fn claim_due(
    conn: &Connection,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<Due>> {
    let mut stmt = conn.prepare_cached(
        "UPDATE subscriptions SET lease_until = ?2
         WHERE id IN (SELECT s.id FROM subscriptions s
                      WHERE s.next_attempt_at <= ?1 AND (s.lease_until IS NULL OR s.lease_until < ?1)
                        AND EXISTS (SELECT 1 FROM events e WHERE e.tenant_id = s.tenant_id AND e.id > s.cursor)
                      ORDER BY s.next_attempt_at LIMIT ?3)
         RETURNING id, public_id, tenant_id, (SELECT slug FROM tenants t WHERE t.id = subscriptions.tenant_id),
                   url, secret, kinds, cursor, failures",
    )?;
    let rows = stmt.query_map(params![now, now + lease, limit as i64], |r| {
        Ok(Due {
            row: r.get(0)?,
            id: r.get(1)?,
            tenant_id: r.get(2)?,
            tenant: r.get(3)?,
            url: r.get(4)?,
            secret: r.get(5)?,
            patterns: from_json(&r.get::<_, String>(6)?)?,
            cursor: r.get(7)?,
            failures: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The tenant's events after `cursor`, oldest first, each with its debtor's
/// id.
pub fn events_after(
    conn: &Connection,
    tenant_id: i64,
    cursor: i64,
    limit: usize,
) -> Result<Vec<(Event, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT e.id, e.at, e.kind, e.subject, e.data, d.external_id
         FROM events e JOIN debtors d ON d.id = e.debtor_id
         WHERE e.tenant_id = ?1 AND e.id > ?2 ORDER BY e.id LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![tenant_id, cursor, limit as i64], |r| {
        Ok((
            Event {
                id: r.get(0)?,
                at: r.get(1)?,
                kind: r.get(2)?,
                subject: r.get(3)?,
                data: from_json(&r.get::<_, String>(4)?)?,
            },
            r.get(5)?,
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Records a delivery pass: the cursor moved to `cursor` after `delivered`
/// events; `error` (with the time of the next attempt) when it stopped on
/// a failure. A subscription deleted meanwhile is left deleted.
pub fn finish(
    conn: &Connection,
    due: &Due,
    cursor: i64,
    delivered: i64,
    error: Option<(&str, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> Result<()> {
    let (failures, last_error, next) = match error {
        Some((error, retry_at)) => (due.failures + 1, Some(error), retry_at),
        None => (0, None, now),
    };
    conn.prepare_cached(
        "UPDATE subscriptions SET cursor = ?2, delivered = delivered + ?3, failures = ?4,
                last_error = COALESCE(?5, CASE WHEN ?4 = 0 THEN NULL ELSE last_error END),
                last_delivered_at = CASE WHEN ?3 > 0 THEN ?6 ELSE last_delivered_at END,
                next_attempt_at = ?7, lease_until = NULL
         WHERE id = ?1",
    )?
    .execute(params![
        due.row, cursor, delivered, failures, last_error, now, next
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_kinds_and_families() {
        let p = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(matches(&p(&["*"]), "payment.received"));
        assert!(matches(&p(&["message.*"]), "message.sent"));
        assert!(!matches(&p(&["message.*"]), "messages.sent"));
        assert!(!matches(&p(&["payment.received"]), "payment.refunded"));
        assert!(check_patterns(&p(&["invoice.*", "escalation.created"])).is_empty());
        let problems = check_patterns(&p(&["invoice.*", "paymnt.*"]));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "events/1");
        assert_eq!(check_patterns(&[])[0].field, "events");
    }
}
