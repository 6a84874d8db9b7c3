//! Payments and refunds.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::AppState;
use super::extract::{self, IdempotencyKey, NoQuery, TenantScope};
use super::problem::Problem;
use crate::store::payments::{self, NewPayment, NewRefund, Payment, Refund};

/// Records a payment against one or several invoices (or oldest due first).
/// The invoices' open amounts and statuses follow. 201 when recorded; 200
/// when the same `external_id` was already recorded with the same details.
#[utoipa::path(post, path = "/v1/payments", tag = "payments", request_body = NewPayment,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    responses((status = 201, body = Payment), (status = 200, body = Payment), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn record(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    IdempotencyKey(key): IdempotencyKey,
    body: Bytes,
) -> Result<Response, Problem> {
    let input: NewPayment = extract::json(&body)?;
    let tenant = scope.id;
    app.write(
        scope.scope(),
        key,
        &[b"POST /v1/payments", &body],
        move |conn, now| {
            let (payment, created) = payments::record(conn, tenant, &input, now)?;
            Ok((
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                payment,
            ))
        },
    )
    .await
}

#[utoipa::path(get, path = "/v1/payments/{id}", tag = "payments",
    params(("id" = String, Path, description = "payment id (`pay_…`)")),
    responses((status = 200, body = Payment), (status = 404, body = Problem)))]
pub async fn get(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    app.read(move |conn| payments::get(conn, scope.id, &id))
        .await
}

/// Refunds part or all of a payment; the invoices it uncovers are owed again.
#[utoipa::path(post, path = "/v1/payments/{id}/refunds", tag = "payments", request_body = NewRefund,
    params(("id" = String, Path, description = "payment id (`pay_…`)"), ("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    responses((status = 201, body = Refund), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn refund(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    body: Bytes,
) -> Result<Response, Problem> {
    let input: NewRefund = extract::json(&body)?;
    let tenant = scope.id;
    let path = format!("POST /v1/payments/{id}/refunds");
    app.write(
        scope.scope(),
        key,
        &[path.as_bytes(), &body],
        move |conn, now| {
            Ok((
                StatusCode::CREATED,
                payments::refund(conn, tenant, &id, &input, now)?,
            ))
        },
    )
    .await
}
