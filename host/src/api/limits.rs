//! Limits over HTTP (see `crate::limits`): the host-wide ones, which only
//! an operator reads and changes (`/v1/limits`), and a tenant plugin's own
//! (`/v1/plugins/{name}/limits`, for every version of the name), which its
//! admins may tighten and an operator (with `Dun-Tenant`) may also loosen.
//! Each takes effect from the next evaluation and is persisted.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use super::extract::{self, NoQuery, Operator, TenantScope};
use super::problem::Problem;
use crate::limits::{self, LimitSet, LimitValues, Refusal};
use crate::store::tenants::Role;
use crate::store::{StoreError, plugins};

/// The host-wide limits.
#[derive(Serialize, utoipa::ToSchema)]
pub struct HostLimits {
    /// In force: what an operator set over the configured ones.
    pub limits: LimitSet,
    /// From `[limits]` in `dun.toml` (else the runtime's defaults).
    pub configured: LimitSet,
    /// What an operator set at run time, if anything.
    pub set: Option<crate::store::limits::Stored>,
    /// The most anyone may set: what the runtime can honour.
    pub ceilings: LimitSet,
}

/// A plugin's limits.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PluginLimits {
    pub plugin: String,
    /// What its evaluations run under, every version.
    pub effective: LimitSet,
    /// Its own values, if any (a missing one is the host-wide one).
    pub own: Option<crate::store::limits::Stored>,
    /// The host-wide limits: an admin may set at most these.
    pub host: LimitSet,
    /// What an operator may set at most.
    pub ceilings: LimitSet,
}

fn refused(refusal: Refusal) -> Problem {
    match refusal {
        Refusal::Invalid { field, detail } => Problem::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-limits",
            field,
            detail,
        ),
        Refusal::Forbidden { field, detail } => {
            Problem::field(StatusCode::FORBIDDEN, "forbidden", field, detail)
        }
    }
}

fn host_limits(app: &AppState, set: Option<crate::store::limits::Stored>) -> HostLimits {
    let engine = &app.engine;
    HostLimits {
        limits: LimitSet::of(&engine.limits()),
        configured: LimitSet::of(&engine.configured_limits()),
        set,
        ceilings: limits::ceilings(engine.runtime().config()),
    }
}

/// The host-wide per-evaluation limits (operator only).
#[utoipa::path(get, path = "/v1/limits", tag = "plugins",
    responses((status = 200, body = HostLimits), (status = 403, body = Problem)))]
pub async fn get_host(
    State(app): State<AppState>,
    Operator(_): Operator,
    _: NoQuery,
) -> Result<Response, Problem> {
    let set = app.store.read(crate::store::limits::host).await?;
    Ok((StatusCode::OK, axum::Json(host_limits(&app, set))).into_response())
}

/// Sets the host-wide limits (operator only): `fuel`, `memory_bytes`,
/// `deadline_ms`, `max_actions`; one left out is the configured one. Each
/// at most its ceiling (`422` naming the field). From the next evaluation;
/// kept across restarts.
#[utoipa::path(put, path = "/v1/limits", tag = "plugins",
    request_body = LimitValues,
    responses((status = 200, body = HostLimits), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_host(
    State(app): State<AppState>,
    Operator(operator): Operator,
    _: NoQuery,
    body: Bytes,
) -> Result<Response, Problem> {
    let values: LimitValues = extract::json(&body)?;
    limits::check_operator(&values, &limits::ceilings(app.engine.runtime().config()))
        .map_err(refused)?;
    let (now, by) = (app.clock.now(), operator.key_id.clone());
    let set = app
        .store
        .write(move |conn| {
            crate::store::limits::set_host(conn, &values, &by, now)?;
            crate::store::limits::host(conn)
        })
        .await?;
    app.engine.set_host_limits(&values);
    Ok((StatusCode::OK, axum::Json(host_limits(&app, set))).into_response())
}

/// The plugin's own limits, the effective ones and the bounds; `404` when
/// the tenant has no version of it.
async fn plugin_limits(app: &AppState, tenant: i64, name: String) -> Result<PluginLimits, Problem> {
    let host = app.engine.limits();
    let ceilings = limits::ceilings(app.engine.runtime().config());
    let found = app
        .store
        .read(move |conn| {
            if plugins::list(conn, tenant, Some(&name))?.is_empty() {
                return Err(StoreError::not_found("plugin", name));
            }
            let own = crate::store::limits::plugin(conn, tenant, &name)?;
            Ok((name, own))
        })
        .await?;
    let (plugin, own) = found;
    let effective = match &own {
        Some(own) => limits::effective(&host, &own.values, own.by_operator()),
        None => host,
    };
    Ok(PluginLimits {
        plugin,
        effective: LimitSet::of(&effective),
        own,
        host: LimitSet::of(&host),
        ceilings,
    })
}

/// A plugin's limits: its own, the effective ones (for every version), the
/// host-wide ones and the ceilings.
#[utoipa::path(get, path = "/v1/plugins/{name}/limits", tag = "plugins",
    params(("name" = String, Path)),
    responses((status = 200, body = PluginLimits), (status = 404, body = Problem)))]
pub async fn get_plugin(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    let limits = plugin_limits(&app, scope.id, name).await?;
    Ok((StatusCode::OK, axum::Json(limits)).into_response())
}

/// Sets (replaces) a plugin's own limits, for every version of it: `fuel`,
/// `memory_bytes`, `deadline_ms`, `max_actions`; one left out is the
/// host-wide one, `{}` removes them all. An admin may only tighten: a value
/// above the host-wide one, or a limit that would end up looser than one an
/// operator set, is `403` naming the field. An operator (with
/// `Dun-Tenant`) may loosen up to the ceilings (`422` past them). From the
/// next evaluation.
#[utoipa::path(put, path = "/v1/plugins/{name}/limits", tag = "plugins",
    params(("name" = String, Path)),
    request_body = LimitValues,
    responses((status = 200, body = PluginLimits), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_plugin(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, Problem> {
    scope.require_admin()?;
    let tenant = scope.id;
    // Another tenant's plugin is not found, whatever the body.
    let current = plugin_limits(&app, tenant, name.clone()).await?;
    let values: LimitValues = extract::json(&body)?;
    let by_operator = scope.role == Role::Operator;
    if by_operator {
        limits::check_operator(&values, &limits::ceilings(app.engine.runtime().config()))
    } else {
        let host = app.engine.limits();
        limits::check_admin(&values, &host).and_then(|()| match &current.own {
            Some(own) if own.by_operator() => {
                limits::check_admin_over_operator(&values, &host, &own.values)
            }
            _ => Ok(()),
        })
    }
    .map_err(refused)?;
    let (now, by, plugin) = (app.clock.now(), scope.key_id.clone(), name.clone());
    let own = app
        .store
        .write(move |conn| {
            crate::store::limits::set_plugin(
                conn,
                tenant,
                &plugin,
                &values,
                by_operator,
                &by,
                now,
            )?;
            crate::store::limits::plugin(conn, tenant, &plugin)
        })
        .await?;
    app.engine.set_plugin_limits(tenant, &name, own);
    let limits = plugin_limits(&app, tenant, name).await?;
    Ok((StatusCode::OK, axum::Json(limits)).into_response())
}
