//! The tenant's guardrail policy: quiet hours per channel in the debtor's
//! zone, contact caps, fee and discount caps. Read by any key of the
//! tenant; changed by its admins; applies from the next evaluation.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::AppState;
use super::extract::{self, IdempotencyKey, NoQuery, TenantScope};
use super::problem::Problem;
use crate::guardrails::Policy;
use crate::store::{StoreError, policies};

/// The policy in force (the host's defaults until changed).
#[utoipa::path(get, path = "/v1/policy", tag = "policy",
    responses((status = 200, body = Object, description = "the policy")))]
pub async fn get(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
) -> Result<Response, Problem> {
    app.read(move |conn| policies::get(conn, scope.id)).await
}

/// Replaces the policy (admin). Absent fields take the defaults; each
/// problem names its field (`sms_hours`, `max_per_channel_per_day`, …).
#[utoipa::path(put, path = "/v1/policy", tag = "policy",
    request_body(content = Object, description = "the policy"),
    responses((status = 200, body = Object, description = "the policy"), (status = 422, body = Problem)))]
pub async fn put(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    IdempotencyKey(key): IdempotencyKey,
    body: Bytes,
) -> Result<Response, Problem> {
    scope.require_admin()?;
    let policy: Policy = extract::json(&body)?;
    let problems = policy.problems();
    if !problems.is_empty() {
        return Err(StoreError::Invalid(problems).into());
    }
    let tenant = scope.id;
    app.write(
        scope.scope(),
        key,
        &[b"PUT /v1/policy", &body],
        move |conn, now| Ok((StatusCode::OK, policies::put(conn, tenant, &policy, now)?)),
    )
    .await
}
