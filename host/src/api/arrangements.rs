//! Disputes, promises to pay and payment plans.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::AppState;
use super::extract::{self, IdempotencyKey, NoQuery, TenantScope};
use super::problem::Problem;
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
