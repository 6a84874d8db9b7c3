//! Request parsing shared by every handler: who is calling (API key →
//! principal → tenant), JSON bodies and query strings with the field at
//! fault named in the problem, and the `Idempotency-Key` header.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::AppState;
use super::problem::Problem;
use crate::store::tenants::{self, Principal, Role};
use crate::store::{FieldError, StoreError};

/// How long a key's principal is trusted without asking the store again.
/// Revoking a key over the API clears the cache at once; a key revoked by
/// another process stops working within this time.
const AUTH_TTL: Duration = Duration::from_secs(30);

/// What a key stood for, and when that was looked up.
type CachedPrincipal = (Option<Principal>, Instant);

/// Recently seen keys, by their SHA-256.
#[derive(Default)]
pub struct AuthCache {
    entries: Mutex<HashMap<[u8; 32], CachedPrincipal>>,
}

impl AuthCache {
    async fn authenticate(
        &self,
        state: &AppState,
        secret: &str,
    ) -> Result<Option<Principal>, Problem> {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if let Some((principal, at)) = self
            .entries
            .lock()
            .ok()
            .and_then(|e| e.get(&digest).cloned())
            && at.elapsed() < AUTH_TTL
        {
            return Ok(principal);
        }
        let owned = secret.to_owned();
        let principal = state
            .store
            .read(move |conn| tenants::authenticate(conn, &owned))
            .await?;
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 10_000 {
                entries.clear();
            }
            entries.insert(digest, (principal.clone(), Instant::now()));
        }
        Ok(principal)
    }

    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// Any authenticated caller.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            Problem::unauthorized("send an API key as `Authorization: Bearer <key>`")
        })?;
        let secret = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Problem::unauthorized("the Authorization header must be `Bearer <key>`")
            })?;
        match state.auth.authenticate(state, secret).await? {
            Some(principal) => Ok(Caller(principal)),
            None => Err(Problem::unauthorized("unknown or revoked API key")),
        }
    }
}

/// A caller acting within one tenant: an admin or client key of that
/// tenant, or an operator key naming the tenant in the `Dun-Tenant` header.
pub struct TenantScope {
    /// The tenant's row id: the only tenant this request can see.
    pub id: i64,
    pub slug: String,
    pub role: Role,
    pub key_id: String,
}

impl TenantScope {
    /// The idempotency scope of this caller.
    pub fn scope(&self) -> i64 {
        self.id
    }

    pub fn require_admin(&self) -> Result<(), Problem> {
        match self.role {
            Role::Admin | Role::Operator => Ok(()),
            Role::Client => Err(Problem::forbidden("this needs an admin key")),
        }
    }
}

impl FromRequestParts<AppState> for TenantScope {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        if let Some((id, slug)) = principal.tenant {
            return Ok(TenantScope {
                id,
                slug,
                role: principal.role,
                key_id: principal.key_id,
            });
        }
        let named = parts
            .headers
            .get("dun-tenant")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                Problem::forbidden(
                    "an operator key must name the tenant in the `Dun-Tenant` header",
                )
            })?;
        let lookup = named.clone();
        let tenant = state
            .store
            .read(move |conn| tenants::get(conn, &lookup))
            .await
            .map_err(|_| {
                Problem::field(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    "Dun-Tenant",
                    format!("no tenant {named:?}"),
                )
            })?;
        Ok(TenantScope {
            id: tenant.row_id,
            slug: tenant.id,
            role: principal.role,
            key_id: principal.key_id,
        })
    }
}

/// An operator key.
pub struct Operator(pub Principal);

impl FromRequestParts<AppState> for Operator {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        if principal.role != Role::Operator {
            return Err(Problem::forbidden("this needs an operator key"));
        }
        Ok(Operator(principal))
    }
}

/// The `Idempotency-Key` header, when sent.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(IdempotencyKey(None));
        };
        let key = value.to_str().map_err(|_| {
            Problem::from(StoreError::invalid(
                "Idempotency-Key",
                "1-255 visible ASCII characters",
            ))
        })?;
        crate::store::idempotency::check_key(key)?;
        Ok(IdempotencyKey(Some(key.to_owned())))
    }
}

/// Parses a JSON body, naming the field at fault when it does not fit.
pub fn json<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, Problem> {
    json_at(body, "").map_err(Problem::invalid)
}

/// [`json`] with field paths under `prefix`; the problems as a list.
pub fn json_at<'a, T: serde::Deserialize<'a>>(
    body: &'a [u8],
    prefix: &str,
) -> Result<T, Vec<FieldError>> {
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut *deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = clean_serde_message(&inner.to_string());
        // A syntax error has no field ("?"); a missing field is reported by
        // serde on its parent, so name the field from the message.
        let field = if inner.is_syntax() || inner.is_eof() {
            body_field(prefix)
        } else {
            match (path.as_str(), missing_field(&message)) {
                (".", Some(name)) => format!("{prefix}{name}"),
                (path, Some(name)) if path != "?" => format!("{prefix}{path}.{name}"),
                ("." | "" | "?", _) => body_field(prefix),
                (path, _) => format!("{prefix}{path}"),
            }
        };
        vec![FieldError::new(field, message)]
    })?;
    // Anything after the value is an error too, not something to ignore.
    deserializer.end().map_err(|e| {
        vec![FieldError::new(
            body_field(prefix),
            clean_serde_message(&e.to_string()),
        )]
    })?;
    Ok(value)
}

fn body_field(prefix: &str) -> String {
    let field = prefix.trim_end_matches('.');
    if field.is_empty() {
        "body".to_owned()
    } else {
        field.to_owned()
    }
}

/// The field named by serde's "missing field `name`" message.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// Refuses a query string on routes that take no parameters.
pub struct NoQuery;

impl<S: Send + Sync> FromRequestParts<S> for NoQuery {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        match parts.uri.query() {
            None | Some("") => Ok(NoQuery),
            Some(query) => {
                let name = query
                    .split('&')
                    .next()
                    .and_then(|p| p.split('=').next())
                    .unwrap_or(query);
                Err(Problem::field(
                    StatusCode::BAD_REQUEST,
                    "invalid-query",
                    name,
                    "this route takes no query parameters",
                ))
            }
        }
    }
}

/// Parses the query string into `T`, naming the parameter at fault.
pub fn query<T: DeserializeOwned>(parts: Option<&str>) -> Result<T, Problem> {
    let raw = parts.unwrap_or("");
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let message = clean_serde_message(&e.into_inner().to_string());
        let field = if path == "." {
            "query".to_owned()
        } else {
            path
        };
        Problem::field(StatusCode::BAD_REQUEST, "invalid-query", &field, message)
    })
}

/// serde's messages end with " at line 1 column 57"; the field path says
/// more. chrono's parse errors do not say what was expected; add it.
fn clean_serde_message(message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    const CHRONO: [&str; 6] = [
        "input is out of range",
        "input contains invalid characters",
        "premature end of input",
        "trailing input",
        "input is not enough for unique date and time",
        "no possible date and time matching input",
    ];
    if CHRONO.contains(&message) {
        format!("not a valid date (YYYY-MM-DD) or instant (RFC 3339): {message}")
    } else {
        message.to_owned()
    }
}
