//! The plugin registry's records: each tenant's strategy versions, the
//! components they point at (stored once per SHA-256), and what the checks
//! at upload found. A version is referred to by segments as `name@version`.
//! Versions are never edited: a re-upload of the same name and version is
//! accepted only with the same bytes.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{Result, StoreError, from_json, to_json};
use crate::registry::Check;
use crate::runtime::Info;

/// A stored version, as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Version {
    pub name: String,
    pub version: String,
    /// `validated`, `quarantined` (its segments fall back; an operator
    /// releases it) or `retired`.
    pub status: String,
    pub quarantined_at: Option<DateTime<Utc>>,
    /// Why it was quarantined: the faults that did it.
    pub quarantine_reason: Option<String>,
    /// The segments that run it (`name@version`).
    pub active_in: Vec<String>,
    pub sha256: String,
    pub size: i64,
    /// The contract it was built against, e.g. `0.1.0`.
    pub contract: String,
    /// What it says about itself (`describe()`).
    #[schema(value_type = Object)]
    pub info: Info,
    pub imports: Vec<String>,
    /// The checks at upload, each with what it found.
    pub checks: Vec<Check>,
    /// The API key that uploaded it.
    pub uploaded_by: String,
    pub uploaded_at: DateTime<Utc>,
    /// The limits its evaluations run under: the plugin's own over the
    /// host-wide ones (`GET /v1/plugins/{name}/limits`). In listings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<crate::limits::LimitSet>,
}

/// A version in the operator's view of every tenant.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TenantVersion {
    /// The tenant's id.
    pub tenant: String,
    #[serde(flatten)]
    pub version: Version,
}

/// What a new version brings.
pub struct NewVersion<'a> {
    pub name: &'a str,
    pub version: &'a semver::Version,
    pub bytes: &'a [u8],
    pub sha256: &'a str,
    pub contract: &'a str,
    pub info: &'a Info,
    pub imports: &'a [String],
    pub checks: &'a [Check],
    pub uploaded_by: &'a str,
}

/// How `add` went.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    Created,
    /// The same name, version and bytes were there already.
    AlreadyThere,
}

/// Orders versions as semver does (pre-releases before their release).
fn sort_key(version: &semver::Version) -> String {
    let release = format!(
        "{:010}.{:010}.{:010}",
        version.major, version.minor, version.patch
    );
    if version.pre.is_empty() {
        format!("{release}~")
    } else {
        format!("{release}-{}", version.pre)
    }
}

/// Stores a checked version. The same name and version with other bytes is
/// a conflict.
pub fn add(
    conn: &Connection,
    tenant_id: i64,
    new: &NewVersion<'_>,
    now: DateTime<Utc>,
) -> Result<Added> {
    let existing: Option<String> = conn
        .prepare_cached(
            "SELECT sha256 FROM plugin_versions WHERE tenant_id = ?1 AND name = ?2 AND version = ?3",
        )?
        .query_row(params![tenant_id, new.name, new.version.to_string()], |r| r.get(0))
        .optional()?;
    match existing {
        Some(sha) if sha == new.sha256 => return Ok(Added::AlreadyThere),
        Some(sha) => {
            return Err(StoreError::Conflict {
                field: "version".into(),
                detail: format!(
                    "{}@{} was uploaded before with other bytes (sha256 {sha}); a version is never replaced: upload a new version",
                    new.name, new.version
                ),
            });
        }
        None => {}
    }
    conn.prepare_cached(
        "INSERT INTO plugin_blobs (sha256, size, bytes) VALUES (?1, ?2, ?3) ON CONFLICT (sha256) DO NOTHING",
    )?
    .execute(params![new.sha256, new.bytes.len() as i64, new.bytes])?;
    conn.prepare_cached(
        "INSERT INTO plugin_versions (tenant_id, name, version, sort_key, sha256, contract, status, info, imports,
                                      checks, uploaded_by, uploaded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'validated', ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        tenant_id,
        new.name,
        new.version.to_string(),
        sort_key(new.version),
        new.sha256,
        new.contract,
        to_json(new.info)?,
        to_json(&new.imports)?,
        to_json(&new.checks)?,
        new.uploaded_by,
        now
    ])?;
    Ok(Added::Created)
}

const COLUMNS: &str =
    "v.name, v.version, v.status, v.sha256, b.size, v.contract, v.info, v.imports, v.checks,
    v.uploaded_by, v.uploaded_at, v.quarantined_at, v.quarantine_reason";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Version> {
    Ok(Version {
        name: r.get(0)?,
        version: r.get(1)?,
        status: r.get(2)?,
        quarantined_at: r.get(11)?,
        quarantine_reason: r.get(12)?,
        active_in: Vec::new(),
        sha256: r.get(3)?,
        size: r.get(4)?,
        contract: r.get(5)?,
        info: from_json(&r.get::<_, String>(6)?)?,
        imports: from_json(&r.get::<_, String>(7)?)?,
        checks: from_json(&r.get::<_, String>(8)?)?,
        uploaded_by: r.get(9)?,
        uploaded_at: r.get(10)?,
        limits: None,
    })
}

/// The segments of the tenant that run `name@version`.
fn active_in(conn: &Connection, tenant_id: i64, reference: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT key FROM segments WHERE tenant_id = ?1 AND strategy = ?2 ORDER BY priority, id",
    )?;
    let keys = stmt.query_map(params![tenant_id, reference], |r| r.get(0))?;
    Ok(keys.collect::<rusqlite::Result<_>>()?)
}

/// The tenant's versions of `name` (of every plugin when `None`), newest
/// version first per plugin.
pub fn list(conn: &Connection, tenant_id: i64, name: Option<&str>) -> Result<Vec<Version>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM plugin_versions v JOIN plugin_blobs b ON b.sha256 = v.sha256
         WHERE v.tenant_id = ?1 AND (?2 IS NULL OR v.name = ?2) ORDER BY v.name, v.sort_key DESC"
    ))?;
    let mut versions = stmt
        .query_map(params![tenant_id, name], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for version in &mut versions {
        version.active_in = active_in(
            conn,
            tenant_id,
            &format!("{}@{}", version.name, version.version),
        )?;
    }
    Ok(versions)
}

/// Fills in each version's effective limits, given the host-wide ones.
pub fn with_limits(
    conn: &Connection,
    tenant_id: i64,
    versions: &mut [Version],
    host: &crate::runtime::Limits,
) -> Result<()> {
    let mut known: std::collections::HashMap<String, crate::limits::LimitSet> = Default::default();
    for version in versions {
        let limits = match known.get(&version.name) {
            Some(limits) => *limits,
            None => {
                let own = super::limits::plugin(conn, tenant_id, &version.name)?;
                let limits = crate::limits::LimitSet::of(&match own {
                    Some(own) => crate::limits::effective(host, &own.values, own.by_operator()),
                    None => *host,
                });
                known.insert(version.name.clone(), limits);
                limits
            }
        };
        version.limits = Some(limits);
    }
    Ok(())
}

/// Every tenant's versions, by tenant, plugin and newest version first,
/// with where each is active and its limits: the operator's view.
pub fn list_all(conn: &Connection, host: &crate::runtime::Limits) -> Result<Vec<TenantVersion>> {
    let tenants: Vec<(i64, String)> = conn
        .prepare_cached(
            "SELECT DISTINCT t.id, t.slug FROM tenants t JOIN plugin_versions v ON v.tenant_id = t.id
             ORDER BY t.slug",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut all = Vec::new();
    for (row, tenant) in tenants {
        let mut versions = list(conn, row, None)?;
        with_limits(conn, row, &mut versions, host)?;
        all.extend(versions.into_iter().map(|version| TenantVersion {
            tenant: tenant.clone(),
            version,
        }));
    }
    Ok(all)
}

pub fn get(conn: &Connection, tenant_id: i64, name: &str, version: &str) -> Result<Version> {
    let mut found = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM plugin_versions v JOIN plugin_blobs b ON b.sha256 = v.sha256
             WHERE v.tenant_id = ?1 AND v.name = ?2 AND v.version = ?3"
        ))?
        .query_row(params![tenant_id, name, version], from_row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("plugin version", format!("{name}@{version}")))?;
    found.active_in = active_in(conn, tenant_id, &format!("{name}@{version}"))?;
    Ok(found)
}

/// The component of a version the tenant can run (not retired): its status
/// and bytes.
pub fn component(
    conn: &Connection,
    tenant_id: i64,
    name: &str,
    version: &str,
) -> Result<(String, Vec<u8>)> {
    let found: Option<(String, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT v.status, b.bytes FROM plugin_versions v JOIN plugin_blobs b ON b.sha256 = v.sha256
             WHERE v.tenant_id = ?1 AND v.name = ?2 AND v.version = ?3",
        )?
        .query_row(params![tenant_id, name, version], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match found {
        Some((status, bytes)) if status != "retired" => Ok((status, bytes)),
        Some(_) => Err(StoreError::invalid(
            "strategy",
            format!("{name}@{version} is retired"),
        )),
        None => Err(StoreError::not_found(
            "plugin version",
            format!("{name}@{version}"),
        )),
    }
}

/// Quarantines a version: its segments fall back until an operator
/// releases it.
pub fn quarantine(
    conn: &Connection,
    tenant_id: i64,
    name: &str,
    version: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE plugin_versions SET status = 'quarantined', quarantined_at = ?4, quarantine_reason = ?5
         WHERE tenant_id = ?1 AND name = ?2 AND version = ?3 AND status = 'validated'",
    )?
    .execute(params![tenant_id, name, version, now, reason])?;
    Ok(())
}

/// Releases a quarantined version: its segments run it again, and its
/// faults so far no longer count towards quarantine.
pub fn release(conn: &Connection, tenant_id: i64, name: &str, version: &str) -> Result<Version> {
    let current = get(conn, tenant_id, name, version)?;
    if current.status != "quarantined" {
        return Err(StoreError::Conflict {
            field: "version".into(),
            detail: format!("{name}@{version} is {}, not quarantined", current.status),
        });
    }
    conn.prepare_cached(
        "UPDATE plugin_versions SET status = 'validated', quarantined_at = NULL, quarantine_reason = NULL,
             released_after_evaluation = (SELECT COALESCE(MAX(id), 0) FROM evaluations)
         WHERE tenant_id = ?1 AND name = ?2 AND version = ?3",
    )?
    .execute(params![tenant_id, name, version])?;
    get(conn, tenant_id, name, version)
}

/// The recent outcomes of the tenant's `name@version` that count towards
/// quarantine: (decided at, ok) of its evaluations decided at or after
/// `since` and after its last release, oldest first, at most `limit`.
pub fn recent_outcomes(
    conn: &Connection,
    tenant_id: i64,
    strategy: &str,
    since: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<(DateTime<Utc>, bool)>> {
    let (name, version) = strategy.split_once('@').unwrap_or((strategy, ""));
    let after: i64 = conn
        .prepare_cached(
            "SELECT COALESCE(released_after_evaluation, 0) FROM plugin_versions
             WHERE tenant_id = ?1 AND name = ?2 AND version = ?3",
        )?
        .query_row(params![tenant_id, name, version], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    // Recent evaluations still have their input (the retention is days),
    // so the partial index on `at` finds them.
    let mut stmt = conn.prepare_cached(
        "SELECT at, outcome = 'ok' FROM (
             SELECT at, outcome, id FROM evaluations
             WHERE input_dropped_at IS NULL AND at >= ?1 AND tenant_id = ?2 AND strategy = ?3 AND id > ?4
             ORDER BY at DESC, id DESC LIMIT ?5)
         ORDER BY at, id",
    )?;
    let rows = stmt.query_map(
        params![since, tenant_id, strategy, after, limit as i64],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Retires a version: it can no longer be activated. Refused while a
/// segment runs it.
pub fn retire(conn: &Connection, tenant_id: i64, name: &str, version: &str) -> Result<Version> {
    let current = get(conn, tenant_id, name, version)?;
    if !current.active_in.is_empty() {
        return Err(StoreError::Conflict {
            field: "version".into(),
            detail: format!(
                "{name}@{version} is active in segment(s) {}; activate another version there first",
                current.active_in.join(", ")
            ),
        });
    }
    conn.prepare_cached(
        "UPDATE plugin_versions SET status = 'retired' WHERE tenant_id = ?1 AND name = ?2 AND version = ?3",
    )?
    .execute(params![tenant_id, name, version])?;
    get(conn, tenant_id, name, version)
}

#[cfg(test)]
mod tests {
    use super::sort_key;

    #[test]
    fn versions_sort_as_semver_does() {
        let mut versions: Vec<semver::Version> =
            ["1.10.0", "1.2.0", "1.2.0-rc.1", "0.9.9", "1.2.1"]
                .iter()
                .map(|v| v.parse().unwrap())
                .collect();
        let mut by_key = versions.clone();
        by_key.sort_by_key(sort_key);
        versions.sort();
        assert_eq!(by_key, versions);
    }
}
