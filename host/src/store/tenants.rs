//! Tenants and API keys. A key is shown once, when it is made; only its
//! SHA-256 is stored. A key has a role: `operator` for the whole host, or
//! `admin` / `client` within one tenant.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Result, StoreError, ids};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Tenant {
    /// The tenant's id: lower-case letters, digits and dashes.
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    #[serde(skip)]
    pub row_id: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Runs the host: tenants, keys of any tenant, the plugin registry.
    Operator,
    /// Manages one tenant: its keys, segments and strategies, and its data.
    Admin,
    /// A billing or accounting system pushing and reading one tenant's data.
    Client,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::Client => "client",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        [Role::Operator, Role::Admin, Role::Client]
            .into_iter()
            .find(|r| r.as_str() == name)
    }
}

/// An API key as listed: never the secret.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: String,
    /// The tenant it belongs to; none for operator keys.
    pub tenant: Option<String>,
    pub role: Role,
    /// The first characters of the key, to recognise it by.
    pub prefix: String,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just made: the only time its secret is seen.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    /// Send as `Authorization: Bearer <key>`. Not stored; not shown again.
    pub key: String,
    #[serde(flatten)]
    pub info: ApiKey,
}

/// Who is calling, as established from their key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub key_id: String,
    pub role: Role,
    /// Row id and public id of the tenant the key belongs to.
    pub tenant: Option<(i64, String)>,
}

pub fn validate_slug(slug: &str) -> Result<()> {
    let ok = (1..=63).contains(&slug.len())
        && slug
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(
            "id",
            "a tenant id is 1-63 lower-case letters, digits or dashes, starting with a letter or digit",
        ))
    }
}

pub fn create(conn: &Connection, slug: &str, name: &str, now: DateTime<Utc>) -> Result<Tenant> {
    validate_slug(slug)?;
    if name.trim().is_empty() || name.len() > 200 {
        return Err(StoreError::invalid(
            "name",
            "a tenant name is 1-200 characters",
        ));
    }
    let inserted = conn
        .prepare_cached("INSERT INTO tenants (slug, name, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (slug) DO NOTHING")?
        .execute(params![slug, name, now])?;
    if inserted == 0 {
        return Err(StoreError::Conflict {
            field: "id".into(),
            detail: format!("tenant {slug:?} already exists"),
        });
    }
    Ok(Tenant {
        id: slug.to_owned(),
        name: name.to_owned(),
        created_at: now,
        row_id: conn.last_insert_rowid(),
    })
}

pub fn get(conn: &Connection, slug: &str) -> Result<Tenant> {
    conn.prepare_cached("SELECT id, slug, name, created_at FROM tenants WHERE slug = ?1")?
        .query_row([slug], tenant_from_row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("tenant", slug))
}

/// The tenant by its row id (what signed portal links carry).
pub fn get_by_row(conn: &Connection, row: i64) -> Result<Tenant> {
    conn.prepare_cached("SELECT id, slug, name, created_at FROM tenants WHERE id = ?1")?
        .query_row([row], tenant_from_row)
        .optional()?
        .ok_or_else(|| StoreError::not_found("tenant", row.to_string()))
}

pub fn list(conn: &Connection) -> Result<Vec<Tenant>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, slug, name, created_at FROM tenants ORDER BY slug")?;
    let rows = stmt.query_map([], tenant_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn tenant_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Tenant> {
    Ok(Tenant {
        row_id: row.get(0)?,
        id: row.get(1)?,
        name: row.get(2)?,
        created_at: row.get(3)?,
    })
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Makes a key for `tenant` (none: an operator key).
pub fn create_key(
    conn: &Connection,
    tenant: Option<&Tenant>,
    role: Role,
    label: Option<&str>,
    now: DateTime<Utc>,
) -> Result<CreatedKey> {
    match (tenant.is_some(), role) {
        (true, Role::Operator) => {
            return Err(StoreError::invalid(
                "role",
                "an operator key belongs to no tenant",
            ));
        }
        (false, Role::Admin | Role::Client) => {
            return Err(StoreError::invalid(
                "tenant",
                "admin and client keys belong to a tenant",
            ));
        }
        _ => {}
    }
    let secret = format!("dun_{}", ids::random_token(20));
    let prefix: String = secret.chars().take(12).collect();
    let id = ids::new_id("key");
    conn.prepare_cached(
        "INSERT INTO api_keys (public_id, tenant_id, role, hash, prefix, label, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        id,
        tenant.map(|t| t.row_id),
        role.as_str(),
        hash(&secret),
        prefix,
        label,
        now
    ])?;
    Ok(CreatedKey {
        key: secret,
        info: ApiKey {
            id,
            tenant: tenant.map(|t| t.id.clone()),
            role,
            prefix,
            label: label.map(str::to_owned),
            created_at: now,
            revoked_at: None,
        },
    })
}

/// The principal a presented secret stands for, if it is a live key.
pub fn authenticate(conn: &Connection, secret: &str) -> Result<Option<Principal>> {
    let row = conn
        .prepare_cached(
            "SELECT k.public_id, k.role, t.id, t.slug FROM api_keys k
             LEFT JOIN tenants t ON t.id = k.tenant_id
             WHERE k.hash = ?1 AND k.revoked_at IS NULL",
        )?
        .query_row([hash(secret)], principal_of)
        .optional()?;
    Ok(row.flatten())
}

/// A principal from a row of (key public id, role, tenant row id, tenant
/// slug); `None` for a role this dun does not know.
pub(super) fn principal_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Principal>> {
    let key_id: String = r.get(0)?;
    let role: String = r.get(1)?;
    let tenant: Option<i64> = r.get(2)?;
    let slug: Option<String> = r.get(3)?;
    Ok(Role::parse(&role).map(|role| Principal {
        key_id,
        role,
        tenant: tenant.zip(slug),
    }))
}

/// Keys of one tenant (or the operator keys, for `None`).
pub fn list_keys(conn: &Connection, tenant: Option<&Tenant>) -> Result<Vec<ApiKey>> {
    let mut stmt = conn.prepare_cached(
        "SELECT k.public_id, t.slug, k.role, k.prefix, k.label, k.created_at, k.revoked_at
         FROM api_keys k LEFT JOIN tenants t ON t.id = k.tenant_id
         WHERE k.tenant_id IS ?1 ORDER BY k.id",
    )?;
    let rows = stmt.query_map([tenant.map(|t| t.row_id)], |r| {
        Ok(ApiKey {
            id: r.get(0)?,
            tenant: r.get(1)?,
            role: Role::parse(&r.get::<_, String>(2)?).unwrap_or(Role::Client),
            prefix: r.get(3)?,
            label: r.get(4)?,
            created_at: r.get(5)?,
            revoked_at: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Revokes a key of `tenant` (operator keys: `None`). Revoking twice is fine.
pub fn revoke_key(
    conn: &Connection,
    tenant: Option<&Tenant>,
    key_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let changed = conn
        .prepare_cached(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?3) WHERE public_id = ?1 AND tenant_id IS ?2",
        )?
        .execute(params![key_id, tenant.map(|t| t.row_id), now])?;
    if changed == 0 {
        return Err(StoreError::not_found("key", key_id));
    }
    Ok(())
}

/// The first start of an empty store: a `demo` tenant with an admin and a
/// client key, and an operator key. Returns them, or `None` when the store
/// already has tenants or keys.
pub fn bootstrap_demo(
    conn: &Connection,
    now: DateTime<Utc>,
) -> Result<Option<(Tenant, Vec<CreatedKey>)>> {
    let existing: i64 = conn.query_row(
        "SELECT (SELECT COUNT(*) FROM tenants) + (SELECT COUNT(*) FROM api_keys)",
        [],
        |r| r.get(0),
    )?;
    if existing > 0 {
        return Ok(None);
    }
    let tenant = create(conn, "demo", "Demo Tenant", now)?;
    let keys = vec![
        create_key(conn, None, Role::Operator, Some("bootstrap operator"), now)?,
        create_key(conn, Some(&tenant), Role::Admin, Some("demo admin"), now)?,
        create_key(conn, Some(&tenant), Role::Client, Some("demo client"), now)?,
    ];
    Ok(Some((tenant, keys)))
}
