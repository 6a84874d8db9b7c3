//! Disputes, promises to pay, payment plans; the offers strategies make
//! and the escalations they hand over.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::AppState;
use super::extract::{self, IdempotencyKey, NoQuery, TenantScope};
use super::problem::Problem;
use crate::store::actions;
use crate::store::arrangements::{
    self, Dispute, NewDispute, NewPaymentPlan, NewPromise, PaymentPlan, Promise, ResolveDispute,
};

/// Opens a dispute on an invoice: dunning on it pauses until resolved.
#[utoipa::path(post, path = "/v1/disputes", tag = "disputes", request_body = NewDispute,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    responses((status = 201, body = Dispute), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn open_dispute(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    IdempotencyKey(key): IdempotencyKey,
    body: Bytes,
) -> Result<Response, Problem> {
    let input: NewDispute = extract::json(&body)?;
    let tenant = scope.id;
    app.write(
        scope.scope(),
        key,
        &[b"POST /v1/disputes", &body],
        move |conn, now| {
            Ok((
                StatusCode::CREATED,
                arrangements::open_dispute(conn, tenant, &input, now)?,
            ))
        },
    )
    .await
}

#[utoipa::path(get, path = "/v1/disputes/{id}", tag = "disputes",
    params(("id" = String, Path, description = "dispute id (`dsp_…`)")),
    responses((status = 200, body = Dispute), (status = 404, body = Problem)))]
pub async fn get_dispute(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    app.read(move |conn| arrangements::get_dispute(conn, scope.id, &id))
        .await
}

/// Resolves a dispute: upheld (the client corrects the invoice), rejected or
/// withdrawn (dunning resumes).
#[utoipa::path(post, path = "/v1/disputes/{id}/resolve", tag = "disputes", request_body = ResolveDispute,
    params(("id" = String, Path, description = "dispute id (`dsp_…`)")),
    responses((status = 200, body = Dispute), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn resolve_dispute(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    body: Bytes,
) -> Result<Response, Problem> {
    let input: ResolveDispute = extract::json(&body)?;
    let tenant = scope.id;
    let request = format!("POST /v1/disputes/{id}/resolve");
    app.write(
        scope.scope(),
        key,
        &[request.as_bytes(), &body],
        move |conn, now| {
            Ok((
                StatusCode::OK,
                arrangements::resolve_dispute(conn, tenant, &id, &input, now)?,
            ))
        },
    )
    .await
}

/// Records a promise to pay: contact is deferred until the promised date;
/// payments count towards it, and it is kept once covered.
#[utoipa::path(post, path = "/v1/promises", tag = "promises", request_body = NewPromise,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    responses((status = 201, body = Promise), (status = 422, body = Problem)))]
pub async fn make_promise(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    IdempotencyKey(key): IdempotencyKey,
    body: Bytes,
) -> Result<Response, Problem> {
    let input: NewPromise = extract::json(&body)?;
    let tenant = scope.id;
    app.write(
        scope.scope(),
        key,
        &[b"POST /v1/promises", &body],
        move |conn, now| {
            Ok((
                StatusCode::CREATED,
                arrangements::make_promise(conn, tenant, &input, now)?,
            ))
        },
    )
    .await
}

#[utoipa::path(get, path = "/v1/promises/{id}", tag = "promises",
    params(("id" = String, Path, description = "promise id (`prm_…`)")),
    responses((status = 200, body = Promise), (status = 404, body = Problem)))]
pub async fn get_promise(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    app.read(move |conn| arrangements::get_promise(conn, scope.id, &id))
        .await
}

#[utoipa::path(post, path = "/v1/promises/{id}/cancel", tag = "promises",
    params(("id" = String, Path, description = "promise id (`prm_…`)")),
    responses((status = 200, body = Promise), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel_promise(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
) -> Result<Response, Problem> {
    let tenant = scope.id;
    let request = format!("POST /v1/promises/{id}/cancel");
    app.write(
        scope.scope(),
        key,
        &[request.as_bytes(), b""],
        move |conn, now| {
            Ok((
                StatusCode::OK,
                arrangements::cancel_promise(conn, tenant, &id, now)?,
            ))
        },
    )
    .await
}

/// Puts owed invoices on a payment plan of equal installments.
#[utoipa::path(post, path = "/v1/payment-plans", tag = "payment-plans", request_body = NewPaymentPlan,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    responses((status = 201, body = PaymentPlan), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_plan(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    IdempotencyKey(key): IdempotencyKey,
    body: Bytes,
) -> Result<Response, Problem> {
    let input: NewPaymentPlan = extract::json(&body)?;
    let tenant = scope.id;
    app.write(
        scope.scope(),
        key,
        &[b"POST /v1/payment-plans", &body],
        move |conn, now| {
            Ok((
                StatusCode::CREATED,
                arrangements::create_plan(conn, tenant, &input, now)?,
            ))
        },
    )
    .await
}

#[utoipa::path(get, path = "/v1/payment-plans/{id}", tag = "payment-plans",
    params(("id" = String, Path, description = "plan id (`pln_…`)")),
    responses((status = 200, body = PaymentPlan), (status = 404, body = Problem)))]
pub async fn get_plan(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    app.read(move |conn| arrangements::get_plan(conn, scope.id, &id))
        .await
}

#[utoipa::path(post, path = "/v1/payment-plans/{id}/cancel", tag = "payment-plans",
    params(("id" = String, Path, description = "plan id (`pln_…`)")),
    responses((status = 200, body = PaymentPlan), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel_plan(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
) -> Result<Response, Problem> {
    let tenant = scope.id;
    let request = format!("POST /v1/payment-plans/{id}/cancel");
    app.write(
        scope.scope(),
        key,
        &[request.as_bytes(), b""],
        move |conn, now| {
            Ok((
                StatusCode::OK,
                arrangements::cancel_plan(conn, tenant, &id, now)?,
            ))
        },
    )
    .await
}

/// The debtor's offers (payment plans and discounts a strategy made),
/// newest first.
#[utoipa::path(get, path = "/v1/debtors/{id}/offers", tag = "offers",
    params(("id" = String, Path, description = "the debtor's external id")),
    responses((status = 200, body = Vec<actions::Offer>), (status = 404, body = Problem)))]
pub async fn offers(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    app.read(move |conn| actions::list_offers(conn, scope.id, &id))
        .await
}

/// Accepts an open payment-plan offer: the payment plan is created with
/// the offered installments (409 when the offer expired, was withdrawn or
/// was accepted already).
#[utoipa::path(post, path = "/v1/offers/{id}/accept", tag = "offers",
    params(("id" = String, Path, description = "offer id (`ofr_…`)"),
           ("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    responses((status = 201, body = PaymentPlan), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn accept_offer(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
) -> Result<Response, Problem> {
    let tenant = scope.id;
    let path = format!("POST /v1/offers/{id}/accept");
    app.write(scope.scope(), key, &[path.as_bytes()], move |conn, now| {
        Ok((
            StatusCode::CREATED,
            actions::accept_offer(conn, tenant, &id, None, now)?,
        ))
    })
    .await
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EscalationParams {
    /// Only this debtor's.
    debtor_id: Option<String>,
}

/// Escalations handed over (or waiting to be), newest first, at most 100.
#[utoipa::path(get, path = "/v1/escalations", tag = "offers", params(EscalationParams),
    responses((status = 200, body = Vec<actions::Escalation>)))]
pub async fn escalations(
    State(app): State<AppState>,
    scope: TenantScope,
    uri: axum::http::Uri,
) -> Result<Response, Problem> {
    let params: EscalationParams = extract::query(uri.query())?;
    app.read(move |conn| actions::list_escalations(conn, scope.id, params.debtor_id.as_deref()))
        .await
}
