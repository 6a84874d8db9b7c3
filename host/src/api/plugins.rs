//! The plugin registry over HTTP: a tenant's admins upload strategy
//! versions (checked by `registry::validate` before they are stored),
//! list them, retire them, and activate them by naming `name@version` in a
//! segment (`PUT /v1/segments/{id}`; `POST /v1/segments/{id}/rollback` goes
//! back). Any key of the tenant can read them and replay an evaluation
//! against another version. A tenant never sees another's plugins.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AppState;
use super::extract::{self, NoQuery, TenantScope};
use super::problem::Problem;
use crate::kit::golden;
use crate::registry;
use crate::store::plugins::{self, Added, NewVersion};
use crate::store::{StoreError, evaluations, segments};

/// The body limit of an upload: the runtime's component size limit, plus a
/// little, so that the runtime's own check names the limit.
pub const UPLOAD_LIMIT: usize = (64 << 20) + 1024;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    /// The version, semver (`1.2.0`, `2.0.0-rc.1`).
    pub version: String,
}

fn check_name(name: &str) -> Result<(), Problem> {
    if crate::kit::scaffold::valid_name(name) {
        Ok(())
    } else {
        Err(Problem::field(
            StatusCode::NOT_FOUND,
            "not-found",
            "name",
            "plugin names are 1-64 lower-case letters, digits and dashes, starting with a letter",
        ))
    }
}

/// Uploads a version of plugin `name` (admin): the body is the component
/// (`Content-Type: application/wasm`). It is checked first (size, component,
/// imports, contract, `describe()`, config schema, conformance cases); a
/// refusal says which check failed, with the plugin's log tail. The same
/// name, version and bytes again is accepted as it was (200).
#[utoipa::path(post, path = "/v1/plugins/{name}/versions", tag = "plugins",
    params(("name" = String, Path), UploadParams),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, body = plugins::Version), (status = 200, body = plugins::Version),
              (status = 409, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn upload(
    State(app): State<AppState>,
    scope: TenantScope,
    Path(name): Path<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    scope.require_admin()?;
    check_name(&name)?;
    let params: UploadParams = extract::query(uri.query())?;
    let version: semver::Version = params.version.parse().map_err(|e| {
        Problem::field(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            "version",
            format!(
                "{:?} is not a semantic version (1.2.0): {e}",
                params.version
            ),
        )
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.starts_with("application/wasm") {
        return Err(Problem::field(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "content-type",
            "send the component as application/wasm",
        ));
    }
    let engine = app.engine.clone();
    let bytes = body.clone();
    let checked = tokio::task::spawn_blocking(move || {
        registry::validate(engine.runtime(), &bytes, engine.limits())
    })
    .await
    .map_err(|e| Problem::from(StoreError::Internal(e.to_string())))?;
    let validated = checked.map_err(refusal)?;
    let sha256 = hex::encode(Sha256::digest(&body));
    let tenant = scope.id;
    let uploaded_by = scope.key_id.clone();
    let now = app.clock.now();
    let stored = app
        .store
        .write(move |conn| {
            let added = plugins::add(
                conn,
                tenant,
                &NewVersion {
                    name: &name,
                    version: &version,
                    bytes: &body,
                    sha256: &sha256,
                    contract: &validated.plugin.contract.to_string(),
                    info: &validated.info,
                    imports: &validated.plugin.imports,
                    checks: &validated.checks,
                    uploaded_by: &uploaded_by,
                },
                now,
            )?;
            Ok((
                added,
                plugins::get(conn, tenant, &name, &version.to_string())?,
            ))
        })
        .await?;
    let status = match stored.0 {
        Added::Created => StatusCode::CREATED,
        Added::AlreadyThere => StatusCode::OK,
    };
    Ok((status, axum::Json(stored.1)).into_response())
}

/// A refused upload as problem+json: the failed check is the field at
/// fault; `plugin` has its kind, the log tail and the checks passed.
fn refusal(rejected: registry::Rejected) -> Problem {
    let status = if rejected.kind == "too-large" {
        StatusCode::PAYLOAD_TOO_LARGE
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let mut problem = Problem::field(
        status,
        "plugin-refused",
        &rejected.check,
        format!("{}: {}", rejected.check, rejected.detail),
    );
    problem.plugin = Some(Box::new(serde_json::json!({
        "check": rejected.check,
        "kind": rejected.kind,
        "log": rejected.log,
        "passed": rejected.checks,
    })));
    problem
}

/// Every version of every plugin of the tenant, newest first per plugin.
#[utoipa::path(get, path = "/v1/plugins", tag = "plugins",
    responses((status = 200, body = Vec<plugins::Version>)))]
pub async fn list(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
) -> Result<Response, Problem> {
    app.read(move |conn| plugins::list(conn, scope.id, None))
        .await
}

/// The versions of one plugin, newest first; `404` when there are none.
#[utoipa::path(get, path = "/v1/plugins/{name}/versions", tag = "plugins",
    params(("name" = String, Path)),
    responses((status = 200, body = Vec<plugins::Version>), (status = 404, body = Problem)))]
pub async fn versions(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    check_name(&name)?;
    app.read(move |conn| {
        let found = plugins::list(conn, scope.id, Some(&name))?;
        if found.is_empty() {
            return Err(StoreError::not_found("plugin", name));
        }
        Ok(found)
    })
    .await
}

#[utoipa::path(get, path = "/v1/plugins/{name}/versions/{version}", tag = "plugins",
    params(("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = plugins::Version), (status = 404, body = Problem)))]
pub async fn version(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, Problem> {
    check_name(&name)?;
    app.read(move |conn| plugins::get(conn, scope.id, &name, &version))
        .await
}

/// Retires a version (admin): no segment can be given it any more.
/// Refused (409) while a segment runs it.
#[utoipa::path(post, path = "/v1/plugins/{name}/versions/{version}/retire", tag = "plugins",
    params(("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = plugins::Version), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn retire(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, Problem> {
    scope.require_admin()?;
    check_name(&name)?;
    let tenant = scope.id;
    let retired = app
        .store
        .write(move |conn| plugins::retire(conn, tenant, &name, &version))
        .await?;
    Ok((StatusCode::OK, axum::Json(retired)).into_response())
}

/// Releases a quarantined version (operator only, acting in the tenant with
/// `Dun-Tenant`): its segments run it again from the next evaluation, with
/// a clean record. `409` when it is not quarantined.
#[utoipa::path(post, path = "/v1/plugins/{name}/versions/{version}/release", tag = "plugins",
    params(("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = plugins::Version), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn release(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, Problem> {
    check_name(&name)?;
    let tenant = scope.id;
    // Another tenant's version is not found, whoever asks.
    let (n, v) = (name.clone(), version.clone());
    app.store
        .read(move |conn| plugins::get(conn, tenant, &n, &v))
        .await?;
    if scope.role != crate::store::tenants::Role::Operator {
        return Err(Problem::forbidden(
            "only an operator releases a quarantined version",
        ));
    }
    let reference = format!("{name}@{version}");
    let released = app
        .store
        .write(move |conn| plugins::release(conn, tenant, &name, &version))
        .await?;
    app.engine.release(tenant, &reference);
    Ok((StatusCode::OK, axum::Json(released)).into_response())
}

/// Puts back what the segment ran before its last change of strategy or
/// config (admin), effective from the next evaluation; again to go further
/// back. `409` when there is nothing to go back to.
#[utoipa::path(post, path = "/v1/segments/{id}/rollback", tag = "segments",
    params(("id" = String, Path, description = "the segment id")),
    responses((status = 200, body = Object, description = "the segment as it is now"), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn rollback(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    scope.require_admin()?;
    let (tenant, now) = (scope.id, app.clock.now());
    let segment = app
        .store
        .write(move |conn| segments::rollback(conn, tenant, &id, now))
        .await?;
    Ok((StatusCode::OK, axum::Json(segment)).into_response())
}

/// How the segment's shadow strategy's plans differ from those carried out.
#[utoipa::path(get, path = "/v1/segments/{id}/shadow-report", tag = "segments",
    params(("id" = String, Path, description = "the segment id")),
    responses((status = 200, body = registry::ShadowReport), (status = 404, body = Problem)))]
pub async fn shadow_report(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let tenant = scope.id;
    app.read(move |conn| {
        let segment = segments::get(conn, tenant, &id)?;
        let pairs = evaluations::shadow_pairs(conn, tenant, &id, 1000)?;
        Ok(registry::shadow_report(id, segment.shadow, &pairs))
    })
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReplayParams {
    /// Another version of the plugin that decided (`1.3.0`).
    pub version: Option<String>,
    /// Or any strategy by name: a built-in, or `name@version`.
    pub strategy: Option<String>,
}

/// The replay of an evaluation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Replay {
    pub evaluation_id: String,
    /// What decided then, and what decided now.
    pub original_strategy: String,
    pub strategy: String,
    /// `ok`, or the fault's kind.
    pub outcome: String,
    pub error: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub original_plan: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub plan: Option<serde_json::Value>,
    /// Whether the two plans are the same.
    pub same: bool,
    /// A line diff of the two plans (`-` then, `+` now).
    pub diff: String,
    pub log: Vec<String>,
    pub fuel_used: Option<u64>,
    pub duration_us: u64,
}

/// Runs an evaluation's exact input (its case, config included) again
/// against another version or strategy and shows the difference. Nothing
/// is recorded or sent: the strategy author's debugger.
#[utoipa::path(post, path = "/v1/evaluations/{id}/replay", tag = "plugins",
    params(("id" = String, Path, description = "the evaluation id (evl_…)"), ReplayParams),
    responses((status = 200, body = Replay), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn replay(
    State(app): State<AppState>,
    scope: TenantScope,
    Path(id): Path<String>,
    uri: axum::http::Uri,
) -> Result<Response, Problem> {
    let params: ReplayParams = extract::query(uri.query())?;
    let tenant = scope.id;
    let evaluation = app
        .store
        .read(move |conn| evaluations::get(conn, tenant, &id))
        .await?;
    let strategy = match (&params.version, &params.strategy) {
        (Some(version), None) => {
            let plugin = evaluation.strategy.split('@').next().unwrap_or_default();
            format!("{plugin}@{version}")
        }
        (None, Some(strategy)) => strategy.clone(),
        _ => {
            return Err(Problem::field(
                StatusCode::BAD_REQUEST,
                "invalid-query",
                "version",
                "give either version (of the same plugin) or strategy",
            ));
        }
    };
    let input = evaluation
        .input
        .clone()
        .ok_or_else(|| StoreError::invalid("id", "this evaluation kept no input"))?;
    let case: crate::case::Case = serde_json::from_value(input)
        .map_err(|e| StoreError::Internal(format!("a stored case: {e}")))?;
    let (engine, store) = (app.engine.clone(), app.store.clone());
    let chosen = strategy.clone();
    let ran = tokio::task::spawn_blocking(move || {
        let loaded = engine
            .strategy_for(&store, tenant, &chosen)
            .map_err(|e| StoreError::invalid("strategy", e))?;
        Ok::<_, StoreError>(
            engine
                .runtime()
                .decide(&loaded.plugin, &case, engine.limits()),
        )
    })
    .await
    .map_err(|e| Problem::from(StoreError::Internal(e.to_string())))??;
    let mut replay = Replay {
        evaluation_id: evaluation.id.clone(),
        original_strategy: evaluation.strategy.clone(),
        strategy,
        outcome: "ok".into(),
        error: None,
        original_plan: evaluation.plan.clone(),
        plan: None,
        same: false,
        diff: String::new(),
        log: Vec::new(),
        fuel_used: None,
        duration_us: 0,
    };
    match ran {
        Ok(decision) => {
            replay.plan = serde_json::to_value(&decision.plan).ok();
            replay.fuel_used = Some(decision.fuel_used);
            replay.duration_us = decision.duration.as_micros() as u64;
            replay.log = decision.log.lines.iter().map(|l| l.to_string()).collect();
        }
        Err(fault) => {
            replay.outcome = fault.kind().into();
            replay.error = Some(fault.to_string());
            replay.log = fault
                .log_tail()
                .map(|t| t.lines.iter().map(|l| l.to_string()).collect())
                .unwrap_or_default();
        }
    }
    let pretty = |plan: &Option<serde_json::Value>| {
        plan.as_ref()
            .and_then(|p| serde_json::to_string_pretty(p).ok())
            .unwrap_or_default()
    };
    replay.same = replay.plan.is_some() && replay.plan == replay.original_plan;
    replay.diff = golden::diff(&pretty(&replay.original_plan), &pretty(&replay.plan));
    Ok((StatusCode::OK, axum::Json(replay)).into_response())
}
