//! A tenant's segments, in priority order, with `default` last (implicit
//! until stored). Validation of rules and configs happens before a write
//! reaches here (`api::segments`), since a config is checked against its
//! strategy's schema, which needs the runtime.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;

use super::{Result, StoreError, from_json, to_json};
use crate::segments::{DEFAULT, Rule, Segment, Split};

/// What a client sends to create or replace a segment.
#[derive(Clone, Debug, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentInput {
    /// Shown in lists and reports; the id when absent.
    pub name: Option<String>,
    /// Lower goes first. Ignored for `default`, which is always last.
    #[serde(default)]
    pub priority: i64,
    /// When the segment applies; `default` takes no rule.
    #[serde(default)]
    pub rule: Rule,
    /// A built-in strategy (`ladder`, `segmented`, `send-time`) or one the
    /// operator deployed in `strategies_dir`.
    pub strategy: String,
    /// Handed to the strategy; checked against its config schema.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    /// A strategy to run in shadow beside `strategy`.
    #[serde(default)]
    pub shadow: Option<String>,
    /// An A/B split of the segment's debtors.
    #[serde(default)]
    pub split: Option<crate::segments::Split>,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Segment> {
    let key: String = r.get(0)?;
    let rule: String = r.get(3)?;
    let config: String = r.get(5)?;
    Ok(Segment {
        priority: if key == DEFAULT { i64::MAX } else { r.get(2)? },
        id: key,
        name: r.get(1)?,
        rule: from_json(&rule)?,
        strategy: r.get(4)?,
        config: from_json(&config)?,
        shadow: r.get(8)?,
        split: r
            .get::<_, Option<String>>(9)?
            .map(|s| from_json::<Split>(&s))
            .transpose()?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

const COLUMNS: &str =
    "key, name, priority, rule, strategy, config, created_at, updated_at, shadow, split";

/// Every segment of the tenant, in the order they are tried, `default` last.
pub fn list(conn: &Connection, tenant_id: i64) -> Result<Vec<Segment>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM segments WHERE tenant_id = ?1 AND key <> 'default' ORDER BY priority, id"
    ))?;
    let mut segments = stmt
        .query_map([tenant_id], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    segments.push(get(conn, tenant_id, DEFAULT)?);
    Ok(segments)
}

/// One segment (`default` exists even when never stored).
pub fn get(conn: &Connection, tenant_id: i64, key: &str) -> Result<Segment> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM segments WHERE tenant_id = ?1 AND key = ?2"
        ))?
        .query_row(params![tenant_id, key], from_row)
        .optional()?;
    match found {
        Some(segment) => Ok(segment),
        None if key == DEFAULT => Ok(Segment::implicit_default()),
        None => Err(StoreError::not_found("segment", key)),
    }
}

/// Creates or replaces a segment; true when created.
pub fn put(
    conn: &Connection,
    tenant_id: i64,
    key: &str,
    input: &SegmentInput,
    now: DateTime<Utc>,
) -> Result<(Segment, bool)> {
    let before: Option<(String, String)> = conn
        .prepare_cached("SELECT strategy, config FROM segments WHERE tenant_id = ?1 AND key = ?2")?
        .query_row(params![tenant_id, key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let existed = before.is_some();
    // The default segment runs the ladder until stored: that is its past.
    let before = before.or_else(|| {
        (key == DEFAULT).then(|| {
            let implicit = Segment::implicit_default();
            (implicit.strategy, implicit.config.to_string())
        })
    });
    if let Some((strategy, config)) = before
        && (strategy != input.strategy || from_json::<serde_json::Value>(&config)? != input.config)
    {
        conn.prepare_cached(
            "INSERT INTO segment_history (tenant_id, key, strategy, config, replaced_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![tenant_id, key, strategy, config, now])?;
    }
    let name = input.name.clone().unwrap_or_else(|| key.to_owned());
    conn.prepare_cached(
        "INSERT INTO segments (tenant_id, key, name, priority, rule, strategy, config, created_at, updated_at, shadow, split)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)
         ON CONFLICT (tenant_id, key) DO UPDATE SET name = excluded.name, priority = excluded.priority,
             rule = excluded.rule, strategy = excluded.strategy, config = excluded.config, updated_at = excluded.updated_at,
             shadow = excluded.shadow, split = excluded.split",
    )?
    .execute(params![
        tenant_id,
        key,
        name,
        input.priority,
        to_json(&input.rule)?,
        input.strategy,
        to_json(&input.config)?,
        now,
        input.shadow,
        input.split.as_ref().map(to_json).transpose()?
    ])?;
    Ok((get(conn, tenant_id, key)?, !existed))
}

/// Removes a segment; its debtors fall to the next match. `default` can be
/// reset (to the built-in ladder) but not removed.
/// What the segment ran before, newest first: (strategy, config).
pub fn history(
    conn: &Connection,
    tenant_id: i64,
    key: &str,
) -> Result<Vec<(String, serde_json::Value)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT strategy, config FROM segment_history WHERE tenant_id = ?1 AND key = ?2 ORDER BY id DESC LIMIT 20",
    )?;
    let rows = stmt.query_map(params![tenant_id, key], |r| {
        Ok((r.get::<_, String>(0)?, from_json(&r.get::<_, String>(1)?)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Puts back the strategy and config the segment ran before its last
/// change; again, the one before that. Nothing to go back to is a conflict.
pub fn rollback(
    conn: &Connection,
    tenant_id: i64,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Segment> {
    let current = get(conn, tenant_id, key)?;
    let previous: Option<(i64, String, String)> = conn
        .prepare_cached(
            "SELECT id, strategy, config FROM segment_history WHERE tenant_id = ?1 AND key = ?2 ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![tenant_id, key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((history_id, strategy, config)) = previous else {
        return Err(StoreError::Conflict {
            field: "id".into(),
            detail: format!(
                "segment {key} has run {} since it was made; there is nothing to roll back to",
                current.strategy
            ),
        });
    };
    conn.prepare_cached(
        "INSERT INTO segments (tenant_id, key, name, priority, rule, strategy, config, created_at, updated_at)
         VALUES (?1, ?2, ?2, ?3, '{}', ?4, ?5, ?6, ?6)
         ON CONFLICT (tenant_id, key) DO UPDATE SET strategy = excluded.strategy, config = excluded.config,
             updated_at = excluded.updated_at",
    )?
    .execute(params![tenant_id, key, current.priority.min(i64::MAX - 1), strategy, config, now])?;
    conn.prepare_cached("DELETE FROM segment_history WHERE id = ?1")?
        .execute([history_id])?;
    get(conn, tenant_id, key)
}

pub fn delete(conn: &Connection, tenant_id: i64, key: &str) -> Result<()> {
    let removed = conn
        .prepare_cached("DELETE FROM segments WHERE tenant_id = ?1 AND key = ?2")?
        .execute(params![tenant_id, key])?;
    if removed == 0 && key != DEFAULT {
        return Err(StoreError::not_found("segment", key));
    }
    Ok(())
}
