//! Invoices: create one, ingest thousands (JSON array or NDJSON), get,
//! list with filters, void.

use std::sync::atomic::Ordering::Relaxed;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use serde::Deserialize;

use super::extract::{self, IdempotencyKey, NoQuery, TenantScope};
use super::problem::Problem;
use super::{AppState, BULK_MAX_ITEMS, Page};
use crate::store::invoices::{
    self, BulkOutcome, Invoice, InvoiceFilter, InvoiceStatus, NewInvoice,
};
use crate::store::{FieldError, StoreError};

/// Creates an invoice. 201 when created; 200 when the same invoice was
/// already there; 409 when an invoice with this id differs.
#[utoipa::path(post, path = "/v1/invoices", tag = "invoices", request_body = NewInvoice,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    responses((status = 201, body = Invoice), (status = 200, body = Invoice), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    IdempotencyKey(key): IdempotencyKey,
    body: Bytes,
) -> Result<Response, Problem> {
    let input: NewInvoice = extract::json(&body)?;
    let tenant = scope.id;
    let metrics = app.metrics.clone();
    app.write(
        scope.scope(),
        key,
        &[b"POST /v1/invoices", &body],
        move |conn, now| {
            let (invoice, created) = invoices::create(conn, tenant, input, now)?;
            let counter = if created {
                &metrics.invoices_created
            } else {
                &metrics.invoices_unchanged
            };
            counter.fetch_add(1, Relaxed);
            Ok((
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                invoice,
            ))
        },
    )
    .await
}

/// Ingests many invoices at once: a JSON array (`application/json`) or one
/// invoice per line (`application/x-ndjson`), up to 50,000 per request.
/// Each invoice stands alone: the report counts what was created, what was
/// already there, and lists every rejected item with its problems. All of
/// it is committed before the response is sent.
#[utoipa::path(post, path = "/v1/invoices/bulk", tag = "invoices",
    request_body(content = Vec<NewInvoice>, content_type = "application/json", description = "a JSON array, or NDJSON with content type application/x-ndjson"),
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    responses((status = 200, body = BulkOutcome), (status = 413, body = Problem), (status = 415, body = Problem), (status = 422, body = Problem)))]
pub async fn bulk_ingest(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    IdempotencyKey(key): IdempotencyKey,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    // For NDJSON an item's index is its line number minus one.
    let (items, lines) = match essence {
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
            let (items, lines) = parse_ndjson(&body)?;
            (items, Some(lines))
        }
        "application/json" => (parse_array(&body)?, None),
        other => {
            return Err(Problem::field(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Content-Type",
                format!("{other:?}: send application/json (an array) or application/x-ndjson"),
            ));
        }
    };
    if items.len() > BULK_MAX_ITEMS {
        return Err(Problem::field(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-many-items",
            "body",
            format!(
                "{} invoices; at most {BULK_MAX_ITEMS} per request",
                items.len()
            ),
        ));
    }
    let items = invoices::prepare(items);
    let tenant = scope.id;
    let metrics = app.metrics.clone();
    app.write(
        scope.scope(),
        key,
        &[b"POST /v1/invoices/bulk", &body],
        move |conn, now| {
            let mut outcome = invoices::create_many(conn, tenant, items, now)?;
            if let Some(lines) = &lines {
                for error in &mut outcome.errors {
                    error.index = lines.get(error.index).copied().unwrap_or(error.index);
                }
            }
            metrics
                .invoices_created
                .fetch_add(outcome.created as u64, Relaxed);
            metrics
                .invoices_unchanged
                .fetch_add(outcome.unchanged as u64, Relaxed);
            metrics
                .invoices_rejected
                .fetch_add(outcome.rejected as u64, Relaxed);
            Ok((StatusCode::OK, outcome))
        },
    )
    .await
}

type Parsed = Vec<Result<NewInvoice, Vec<FieldError>>>;

fn parse_array(body: &[u8]) -> Result<Parsed, Problem> {
    // Fast path: a clean array parses in one go. Only when something does
    // not fit is each item parsed alone, to name the item and field at fault.
    if let Ok(items) = serde_json::from_slice::<Vec<NewInvoice>>(body) {
        return Ok(items.into_iter().map(Ok).collect());
    }
    let raw: Vec<&serde_json::value::RawValue> = extract::json(body)?;
    // Fields are named relative to the item; the report's `index` names it.
    Ok(raw
        .into_iter()
        .map(|item| extract::json_at(item.get().as_bytes(), ""))
        .collect())
}

/// The items of an NDJSON body and, for each, its line index (from 0).
fn parse_ndjson(body: &[u8]) -> Result<(Parsed, Vec<usize>), Problem> {
    let (lines, items): (Vec<usize>, Parsed) = body
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(n, line)| (n, extract::json_at(line, "")))
        .unzip();
    if items.is_empty() {
        return Err(
            StoreError::invalid("body", "no invoices: send one JSON object per line").into(),
        );
    }
    Ok((items, lines))
}

#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "invoices",
    params(("id" = String, Path, description = "the invoice's external id")),
    responses((status = 200, body = Invoice), (status = 404, body = Problem)))]
pub async fn get(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let today = app.clock.now().date_naive();
    app.read(move |conn| invoices::get(conn, scope.id, &id, today))
        .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Comma-separated statuses: `open,partially-paid`.
    status: Option<String>,
    /// `true`: only owed invoices past due today; `false`: the others.
    overdue: Option<bool>,
    /// The debtor's external id.
    debtor_id: Option<String>,
    currency: Option<String>,
    /// Due strictly before this date.
    due_before: Option<chrono::NaiveDate>,
    /// Due strictly after this date.
    due_after: Option<chrono::NaiveDate>,
    /// 1-500, default 50.
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Lists invoices in creation order, a page at a time.
#[utoipa::path(get, path = "/v1/invoices", tag = "invoices", params(ListParams),
    responses((status = 200, body = Page<Invoice>), (status = 400, body = Problem)))]
pub async fn list(
    State(app): State<AppState>,
    scope: TenantScope,
    uri: Uri,
) -> Result<Response, Problem> {
    let params: ListParams = extract::query(uri.query())?;
    let mut statuses = Vec::new();
    for name in params
        .status
        .iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.is_empty())
    {
        statuses.push(InvoiceStatus::parse(name.trim()).ok_or_else(|| {
            Problem::field(
                StatusCode::BAD_REQUEST,
                "invalid-query",
                "status",
                format!("{name:?} is not an invoice status"),
            )
        })?);
    }
    if let Some(code) = &params.currency
        && crate::money::Currency::from_code(code).is_none()
    {
        return Err(Problem::field(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            "currency",
            format!("{code:?} is not an ISO 4217 code"),
        ));
    }
    let filter = InvoiceFilter {
        statuses,
        overdue: params.overdue,
        debtor_id: params.debtor_id,
        currency: params.currency,
        due_before: params.due_before,
        due_after: params.due_after,
        after: super::cursor(params.cursor.as_deref())?,
        limit: super::limit(params.limit)?,
    };
    let today = app.clock.now().date_naive();
    app.read(move |conn| {
        let (items, next) = invoices::list(conn, scope.id, &filter, today)?;
        Ok(Page {
            items,
            next_cursor: next.map(|n| n.to_string()),
        })
    })
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidInvoice {
    /// Why it is no longer owed (cancelled order, issued in error, …).
    pub reason: String,
}

/// Voids an invoice: no longer owed, never chased. Refused once money has
/// been paid on it (refund first). Voiding twice changes nothing.
#[utoipa::path(post, path = "/v1/invoices/{id}/void", tag = "invoices", request_body = VoidInvoice,
    params(("id" = String, Path, description = "the invoice's external id")),
    responses((status = 200, body = Invoice), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn void(
    State(app): State<AppState>,
    scope: TenantScope,
    _: NoQuery,
    Path(id): Path<String>,
    IdempotencyKey(key): IdempotencyKey,
    body: Bytes,
) -> Result<Response, Problem> {
    let input: VoidInvoice = extract::json(&body)?;
    let tenant = scope.id;
    let request = format!("POST /v1/invoices/{id}/void");
    app.write(
        scope.scope(),
        key,
        &[request.as_bytes(), &body],
        move |conn, now| {
            Ok((
                StatusCode::OK,
                invoices::void(conn, tenant, &id, &input.reason, now)?,
            ))
        },
    )
    .await
}
