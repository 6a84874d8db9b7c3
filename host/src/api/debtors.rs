//! Debtors: upsert by external id, get, list, opt-outs, their payments.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;

use super::extract::{self, IdempotencyKey, NoQuery, TenantScope};
use super::problem::Problem;
use super::{AppState, Page};
use crate::case::Channel;
use crate::store::StoreError;
use crate::store::debtors::{self, Debtor, DebtorFilter, DebtorInput};
use crate::store::evaluations::Evaluation;
use crate::store::payments::{self, Payment};

/// Creates a debtor, or replaces the one with the same `external_id`.
/// 201 when created, 200 when updated or unchanged.
#[utoipa::path(post, path = "/v1/debtors", tag = "debtors", request_body = DebtorInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    responses((status = 201, body = Debtor), (status = 200, body = Debtor), (status = 422, body = Problem)))]
pub async fn upsert(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    IdempotencyKey(key): IdempotencyKey,
    body: Bytes,
) -> Result<Response, Problem> {
    let input: DebtorInput = extract::json(&body)?;
    let tenant = scope.id;
    app.write(
        scope.scope(),
        key,
        &[b"POST /v1/debtors", &body],
        move |conn, now| {
            let (debtor, created) = debtors::upsert(conn, tenant, &input, now)?;
            Ok((
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                debtor,
            ))
        },
    )
    .await
}

/// Creates or replaces the debtor `id`; the body's `external_id` must be `id`.
#[utoipa::path(put, path = "/v1/debtors/{id}", tag = "debtors", request_body = DebtorInput,
    params(("id" = String, Path, description = "the debtor's external id")),
    responses((status = 201, body = Debtor), (status = 200, body = Debtor), (status = 422, body = Problem)))]
pub async fn put(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    body: Bytes,
) -> Result<Response, Problem> {
    let input: DebtorInput = extract::json(&body)?;
    if input.external_id != id {
        return Err(StoreError::invalid(
            "external_id",
            format!("must be {id:?}, the id in the path"),
        )
        .into());
    }
    let tenant = scope.id;
    let path = format!("PUT /v1/debtors/{id}");
    app.write(
        scope.scope(),
        key,
        &[path.as_bytes(), &body],
        move |conn, now| {
            let (debtor, created) = debtors::upsert(conn, tenant, &input, now)?;
            Ok((
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                debtor,
            ))
        },
    )
    .await
}

#[utoipa::path(get, path = "/v1/debtors/{id}", tag = "debtors",
    params(("id" = String, Path, description = "the debtor's external id")),
    responses((status = 200, body = Debtor), (status = 404, body = Problem)))]
pub async fn get(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    app.read(move |conn| debtors::get(conn, scope.id, &id))
        .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only debtors with this tag.
    tag: Option<String>,
    /// `true`: only debtors with an owed invoice past due today; `false`: only those without.
    overdue: Option<bool>,
    /// 1-500, default 50.
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Lists debtors in creation order, a page at a time.
#[utoipa::path(get, path = "/v1/debtors", tag = "debtors", params(ListParams),
    responses((status = 200, body = Page<Debtor>), (status = 400, body = Problem)))]
pub async fn list(
    State(app): State<AppState>,
    scope: TenantScope,
    uri: Uri,
) -> Result<Response, Problem> {
    let params: ListParams = extract::query(uri.query())?;
    let today = app.clock.now().date_naive();
    let filter = DebtorFilter {
        tag: params.tag,
        overdue: params.overdue.map(|overdue| (overdue, today)),
        after: super::cursor(params.cursor.as_deref())?,
        limit: super::limit(params.limit)?,
    };
    app.read(move |conn| {
        let (items, next) = debtors::list(conn, scope.id, &filter)?;
        Ok(Page {
            items,
            next_cursor: next.map(|n| n.to_string()),
        })
    })
    .await
}

fn channel(name: &str) -> Result<Channel, Problem> {
    Channel::parse(name).ok_or_else(|| {
        Problem::field(
            StatusCode::NOT_FOUND,
            "not-found",
            "channel",
            format!("{name:?} is not a channel (email, sms, call, letter)"),
        )
    })
}

/// The debtor opts out of a channel: dun never uses it for them again.
#[utoipa::path(put, path = "/v1/debtors/{id}/opt-outs/{channel}", tag = "debtors",
    params(("id" = String, Path, description = "the debtor's external id"), ("channel" = String, Path, description = "email, sms, call or letter")),
    responses((status = 200, body = Debtor), (status = 404, body = Problem)))]
pub async fn opt_out(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, Problem> {
    set_opt_out(app, scope, id, &name, true).await
}

/// The debtor allows a channel again.
#[utoipa::path(delete, path = "/v1/debtors/{id}/opt-outs/{channel}", tag = "debtors",
    params(("id" = String, Path, description = "the debtor's external id"), ("channel" = String, Path, description = "email, sms, call or letter")),
    responses((status = 200, body = Debtor), (status = 404, body = Problem)))]
pub async fn opt_in(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, Problem> {
    set_opt_out(app, scope, id, &name, false).await
}

async fn set_opt_out(
    app: AppState,
    scope: TenantScope,
    id: String,
    name: &str,
    opted_out: bool,
) -> Result<Response, Problem> {
    let channel = channel(name)?;
    let tenant = scope.id;
    app.write(scope.scope(), None, &[], move |conn, now| {
        Ok((
            StatusCode::OK,
            debtors::set_opt_out(conn, tenant, &id, channel, opted_out, "api", now)?,
        ))
    })
    .await
}

/// The debtor's payments, newest first.
#[utoipa::path(get, path = "/v1/debtors/{id}/payments", tag = "debtors",
    params(("id" = String, Path, description = "the debtor's external id")),
    responses((status = 200, body = Vec<Payment>), (status = 404, body = Problem)))]
pub async fn payments(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    app.read(move |conn| payments::list_for_debtor(conn, scope.id, &id))
        .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CaseParams {
    /// The instant to build the case at (RFC 3339). Default: now.
    at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The case a strategy would see for this debtor: owed invoices, reachable
/// channels, payment history. Save it and run a strategy on it with
/// `dun plugin run STRATEGY --case FILE`.
#[utoipa::path(get, path = "/v1/debtors/{id}/case", tag = "debtors",
    params(("id" = String, Path, description = "the debtor's external id"), CaseParams),
    responses((status = 200, description = "the case, as `dun plugin run --case` reads it", body = Object), (status = 404, body = Problem)))]
pub async fn case(
    State(app): State<AppState>,
    scope: TenantScope,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, Problem> {
    let params: CaseParams = extract::query(uri.query())?;
    let at = params.at.unwrap_or_else(|| app.clock.now());
    app.read(move |conn| {
        crate::store::cases::build(conn, scope.id, &id, at, "default", serde_json::json!({}))
    })
    .await
}

/// Runs the debtor's strategy now on their case and puts each planned action
/// through the guardrails; records and returns the evaluation. A plugin
/// fault is an evaluation too (its `outcome` names the fault, with the
/// plugin's log tail). Kept reminders go to the outbox and are sent by the
/// dispatcher at their time; the other kept actions take effect at once.
#[utoipa::path(post, path = "/v1/debtors/{id}/evaluate", tag = "debtors",
    params(("id" = String, Path, description = "the debtor's external id")),
    responses((status = 201, body = Evaluation), (status = 404, body = Problem)))]
pub async fn evaluate(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let now = app.clock.now();
    let (engine, store) = (app.engine.clone(), app.store.clone());
    let evaluation =
        tokio::task::spawn_blocking(move || engine.evaluate(&store, scope.id, &id, now))
            .await
            .map_err(|e| Problem::from(crate::store::StoreError::Internal(e.to_string())))??;
    let body = serde_json::to_vec(&evaluation)
        .map_err(|e| Problem::from(crate::store::StoreError::Internal(e.to_string())))?;
    Ok(super::json_response(StatusCode::CREATED, body))
}

/// The debtor's evaluations, newest first (at most 100).
#[utoipa::path(get, path = "/v1/debtors/{id}/evaluations", tag = "debtors",
    params(("id" = String, Path, description = "the debtor's external id")),
    responses((status = 200, body = Vec<Evaluation>), (status = 404, body = Problem)))]
pub async fn evaluations(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    app.read(move |conn| crate::store::evaluations::list_for_debtor(conn, scope.id, &id, 100))
        .await
}

/// One evaluation, with the case it decided on (replay it with
/// `dun plugin run STRATEGY --case`).
#[utoipa::path(get, path = "/v1/evaluations/{id}", tag = "debtors",
    params(("id" = String, Path, description = "evaluation id (`evl_…`)")),
    responses((status = 200, body = Evaluation), (status = 404, body = Problem)))]
pub async fn get_evaluation(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    app.read(move |conn| crate::store::evaluations::get(conn, scope.id, &id))
        .await
}

/// The debtor's messages, newest first (at most 100): scheduled, sent,
/// suppressed (with the reason), cancelled (replaced by a newer plan), failed.
#[utoipa::path(get, path = "/v1/debtors/{id}/outbox", tag = "debtors",
    params(("id" = String, Path, description = "the debtor's external id")),
    responses((status = 200, body = Vec<crate::store::outbox::OutboxEntry>), (status = 404, body = Problem)))]
pub async fn outbox(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    app.read(move |conn| crate::store::outbox::list_for_debtor(conn, scope.id, &id, 100))
        .await
}
