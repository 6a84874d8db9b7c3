//! Tenants (operator) and API keys (operator for any tenant, admin within
//! their own).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use super::extract::{self, IdempotencyKey, NoQuery, Operator, TenantScope};
use super::problem::Problem;
use crate::store::StoreError;
use crate::store::tenants::{self, ApiKey, CreatedKey, Role, Tenant};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// Lower-case letters, digits and dashes: `acme`, `acme-eu`.
    pub id: String,
    pub name: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub role: Role,
    /// What the key is for, to recognise it later.
    pub label: Option<String>,
}

/// Creates a tenant.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = NewTenant,
    responses((status = 201, body = Tenant), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(app): State<AppState>,
    Operator(_): Operator,
    _: NoQuery,
    IdempotencyKey(key): IdempotencyKey,
    body: Bytes,
) -> Result<Response, Problem> {
    let input: NewTenant = extract::json(&body)?;
    app.write(0, key, &[b"POST /v1/tenants", &body], move |conn, now| {
        Ok((
            StatusCode::CREATED,
            tenants::create(conn, &input.id, &input.name, now)?,
        ))
    })
    .await
}

/// Lists tenants.
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", responses((status = 200, body = Vec<Tenant>)))]
pub async fn list(State(app): State<AppState>, Operator(_): Operator) -> Result<Response, Problem> {
    app.read(tenants::list).await
}

/// Makes a key for a tenant (operator). The secret is in this response only.
#[utoipa::path(post, path = "/v1/tenants/{id}/keys", tag = "tenants", request_body = NewKey,
    params(("id" = String, Path, description = "tenant id")),
    responses((status = 201, body = CreatedKey), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_key_for(
    State(app): State<AppState>,
    Operator(_): Operator,
    _: NoQuery,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    let input: NewKey = extract::json(&body)?;
    // Not idempotent by key: a replay would hand out the secret a second time.
    app.write(0, None, &[], move |conn, now| {
        let tenant = if input.role == Role::Operator {
            None
        } else {
            Some(tenants::get(conn, &tenant)?)
        };
        Ok((
            StatusCode::CREATED,
            tenants::create_key(
                conn,
                tenant.as_ref(),
                input.role,
                input.label.as_deref(),
                now,
            )?,
        ))
    })
    .await
}

/// Makes a key in the caller's tenant (admin). The secret is in this response only.
#[utoipa::path(post, path = "/v1/keys", tag = "tenants", request_body = NewKey,
    responses((status = 201, body = CreatedKey), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create_key(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    body: Bytes,
) -> Result<Response, Problem> {
    scope.require_admin()?;
    let input: NewKey = extract::json(&body)?;
    if input.role == Role::Operator {
        return Err(StoreError::invalid("role", "only an operator can make operator keys").into());
    }
    let slug = scope.slug.clone();
    app.write(scope.scope(), None, &[], move |conn, now| {
        let tenant = tenants::get(conn, &slug)?;
        Ok((
            StatusCode::CREATED,
            tenants::create_key(conn, Some(&tenant), input.role, input.label.as_deref(), now)?,
        ))
    })
    .await
}

/// Lists the caller's tenant's keys (admin); never their secrets.
#[utoipa::path(get, path = "/v1/keys", tag = "tenants", responses((status = 200, body = Vec<ApiKey>), (status = 403, body = Problem)))]
pub async fn list_keys(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
) -> Result<Response, Problem> {
    scope.require_admin()?;
    let slug = scope.slug.clone();
    app.read(move |conn| {
        let tenant = tenants::get(conn, &slug)?;
        tenants::list_keys(conn, Some(&tenant))
    })
    .await
}

/// Revokes a key of the caller's tenant (admin). Takes effect at once.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "tenants",
    params(("id" = String, Path, description = "key id (`key_…`)")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn revoke_key(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    scope.require_admin()?;
    let slug = scope.slug.clone();
    let now = app.clock.now();
    app.store
        .write(move |conn| {
            let tenant = tenants::get(conn, &slug)?;
            tenants::revoke_key(conn, Some(&tenant), &id, now)
        })
        .await?;
    app.auth.clear();
    Ok(StatusCode::NO_CONTENT)
}
