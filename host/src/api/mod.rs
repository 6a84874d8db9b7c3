//! The HTTP API under `/v1`: axum, JSON, API keys with roles, problem+json
//! errors, idempotent writes, an OpenAPI document generated from the
//! handlers (`/openapi.json`), health and Prometheus metrics.
//!
//! A handler parses, calls the store, maps the result; no business rule
//! lives here. Every tenant route takes a [`extract::TenantScope`], and the
//! store filters every query on its id.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clock::Clock;
use crate::store::idempotency::{self, IdempotentResponse, StoredResponse};
use crate::store::{self, Store};

mod arrangements;
mod debtors;
pub mod extract;
mod invoices;
mod kpis;
mod limits;
mod messaging;
pub mod metrics;
mod ops;
mod payments;
mod plugins;
mod policy;
pub mod problem;
mod reports;
mod segments;
mod templates;
mod tenants;

use problem::Problem;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Runs strategies and guardrails.
    pub engine: Arc<crate::engine::Engine>,
    pub clock: Arc<dyn Clock>,
    /// The same clock when it is a test clock (`--test-clock`), which
    /// `POST /v1/test-clock` moves.
    pub test_clock: Option<Arc<crate::clock::ManualClock>>,
    pub auth: Arc<extract::AuthCache>,
    pub metrics: Arc<metrics::Metrics>,
    pub started: Instant,
    /// Signs and checks the debtor portal's links (set by `dun serve`
    /// once it knows its address).
    pub portal: Option<Arc<crate::portal::Links>>,
}

impl AppState {
    pub fn new(store: Store, engine: Arc<crate::engine::Engine>, clock: Arc<dyn Clock>) -> Self {
        AppState {
            store,
            engine,
            clock,
            test_clock: None,
            auth: Arc::default(),
            metrics: Arc::default(),
            started: Instant::now(),
            portal: None,
        }
    }

    /// Runs a write on the store's writer, honouring an idempotency key: a
    /// request seen before gets its first response again and changes
    /// nothing. `request` identifies the request (method, path, body).
    pub async fn write<T, F>(
        &self,
        scope: i64,
        key: Option<String>,
        request: &[&[u8]],
        f: F,
    ) -> Result<Response, Problem>
    where
        F: FnOnce(&Connection, DateTime<Utc>) -> store::Result<(StatusCode, T)> + Send + 'static,
        T: Serialize + Send + 'static,
    {
        let now = self.clock.now();
        let hash = key.as_ref().map(|_| {
            let mut hasher = Sha256::new();
            for part in request {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part);
            }
            hasher.finalize().to_vec()
        });
        let (replayed, stored) = self
            .store
            .write(move |conn| {
                if let (Some(key), Some(hash)) = (&key, &hash)
                    && let IdempotentResponse::Replay(stored) =
                        idempotency::lookup(conn, scope, key, hash)?
                {
                    return Ok((true, stored));
                }
                let (status, value) = f(conn, now)?;
                let body = serde_json::to_vec(&value)
                    .map_err(|e| store::StoreError::Internal(e.to_string()))?;
                let stored = StoredResponse {
                    status: status.as_u16(),
                    body,
                };
                if let (Some(key), Some(hash)) = (&key, &hash) {
                    idempotency::remember(conn, scope, key, hash, &stored, now)?;
                }
                Ok((false, stored))
            })
            .await?;
        let mut response = json_response(
            StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK),
            stored.body,
        );
        if replayed {
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        Ok(response)
    }

    /// Runs a read on a pooled read connection.
    pub async fn read<T, F>(&self, f: F) -> Result<Response, Problem>
    where
        F: FnOnce(&Connection) -> store::Result<T> + Send + 'static,
        T: Serialize + Send + 'static,
    {
        let value = self.store.read(f).await?;
        let body = serde_json::to_vec(&value)
            .map_err(|e| Problem::from(store::StoreError::Internal(e.to_string())))?;
        Ok(json_response(StatusCode::OK, body))
    }
}

pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A page of a list, with the cursor that continues it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Bodies larger than this are refused (413) on every route but bulk ingest.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Bulk ingest takes up to this many bytes…
pub const BULK_BODY_LIMIT: usize = 64 * 1024 * 1024;
/// …and this many invoices per request.
pub const BULK_MAX_ITEMS: usize = 50_000;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dun",
        description = "Dunning service: billing systems push debtors, invoices, payments, disputes and promises; dun chases what is owed with the tenant's own strategy.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "debtors"), (name = "invoices"), (name = "payments"),
        (name = "disputes"), (name = "promises"), (name = "payment-plans"), (name = "offers"),
        (name = "reports"), (name = "segments"), (name = "policy"), (name = "templates"), (name = "messages"), (name = "messaging"), (name = "plugins"),
        (name = "tenants"), (name = "operations")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key: `dun_…`"))
                    .build(),
            ),
        );
    }
}

/// The whole API and its OpenAPI document, from the same handler list.
pub fn router(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let (bulk, bulk_doc) = OpenApiRouter::<AppState>::new()
        .routes(routes!(invoices::bulk_ingest))
        .split_for_parts();
    let (uploads, uploads_doc) = OpenApiRouter::<AppState>::new()
        .routes(routes!(plugins::upload))
        .split_for_parts();
    let (api, mut openapi) = OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .routes(routes!(debtors::upsert, debtors::list))
        .routes(routes!(debtors::get, debtors::put))
        .routes(routes!(debtors::opt_out, debtors::opt_in))
        .routes(routes!(debtors::payments))
        .routes(routes!(debtors::case))
        .routes(routes!(debtors::evaluate))
        .routes(routes!(debtors::evaluations))
        .routes(routes!(debtors::get_evaluation))
        .routes(routes!(debtors::outbox))
        .routes(routes!(reports::timeline))
        .routes(routes!(invoices::create, invoices::list))
        .routes(routes!(invoices::get))
        .routes(routes!(invoices::void))
        .routes(routes!(payments::record))
        .routes(routes!(payments::get))
        .routes(routes!(payments::refund))
        .routes(routes!(arrangements::open_dispute))
        .routes(routes!(arrangements::get_dispute))
        .routes(routes!(arrangements::resolve_dispute))
        .routes(routes!(arrangements::make_promise))
        .routes(routes!(arrangements::get_promise))
        .routes(routes!(arrangements::cancel_promise))
        .routes(routes!(arrangements::create_plan))
        .routes(routes!(arrangements::get_plan))
        .routes(routes!(arrangements::cancel_plan))
        .routes(routes!(arrangements::offers))
        .routes(routes!(arrangements::accept_offer))
        .routes(routes!(arrangements::escalations))
        .routes(routes!(reports::aging))
        .routes(routes!(kpis::kpis))
        .routes(routes!(kpis::arms))
        .routes(routes!(policy::get, policy::put))
        .routes(routes!(segments::list))
        .routes(routes!(segments::get, segments::put, segments::delete))
        .routes(routes!(templates::list))
        .routes(routes!(templates::get, templates::put, templates::delete))
        .routes(routes!(templates::preview))
        .routes(routes!(templates::message))
        .routes(routes!(templates::letter_pdf))
        .routes(routes!(templates::list_named))
        .routes(routes!(
            templates::get_named,
            templates::put_named,
            templates::delete_named
        ))
        .routes(routes!(plugins::list))
        .routes(routes!(plugins::list_all))
        .routes(routes!(limits::get_host, limits::put_host))
        .routes(routes!(limits::get_plugin, limits::put_plugin))
        .routes(routes!(plugins::versions))
        .routes(routes!(plugins::version))
        .routes(routes!(plugins::retire))
        .routes(routes!(plugins::release))
        .routes(routes!(plugins::rollback))
        .routes(routes!(plugins::shadow_report))
        .routes(routes!(plugins::replay))
        .routes(routes!(messaging::get, messaging::put))
        .routes(routes!(messaging::create, messaging::list))
        .routes(routes!(messaging::get_subscription, messaging::delete))
        .routes(routes!(tenants::create, tenants::list))
        .routes(routes!(tenants::create_key_for))
        .routes(routes!(tenants::create_key, tenants::list_keys))
        .routes(routes!(tenants::revoke_key))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::move_test_clock))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(|request, next| {
            read_body(request, next, BODY_LIMIT)
        }))
        .split_for_parts();
    // Bulk ingest has its own, larger body limit; its path is documented too.
    openapi.merge(bulk_doc);
    openapi.merge(uploads_doc);
    let document = openapi.clone();
    let served = Arc::new(openapi);
    let bulk = bulk
        .layer(DefaultBodyLimit::max(BULK_BODY_LIMIT))
        .layer(axum::middleware::from_fn(|request, next| {
            read_body(request, next, BULK_BODY_LIMIT)
        }));
    let uploads = uploads
        .layer(DefaultBodyLimit::max(plugins::UPLOAD_LIMIT))
        .layer(axum::middleware::from_fn(|request, next| {
            read_body(request, next, plugins::UPLOAD_LIMIT)
        }));
    let app = api
        .merge(bulk)
        .merge(uploads)
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = served.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(|| async { Problem::not_found("no such route") })
        .layer(axum::middleware::from_fn(problem::problemize))
        .merge(crate::dashboard::router())
        .merge(crate::portal::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state);
    (app, document)
}

/// Reads the whole request body (up to `limit`) before the handler runs.
/// A request refused early (no key, wrong role, no such method) would
/// otherwise leave its body unread, and the connection could be reset
/// under a client still sending it, losing the answer.
async fn read_body(
    request: axum::extract::Request,
    next: axum::middleware::Next,
    limit: usize,
) -> Response {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => {
            next.run(axum::extract::Request::from_parts(
                parts,
                axum::body::Body::from(bytes),
            ))
            .await
        }
        Err(_) => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!("the request body is larger than this route accepts ({limit} bytes)"),
        )
        .into_response(),
    }
}

/// Serves the API on `listener` until `shutdown` resolves; in-flight
/// requests finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (app, _) = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Parses `cursor` query values.
pub(crate) fn cursor(value: Option<&str>) -> Result<Option<i64>, Problem> {
    value
        .map(|c| {
            c.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                Problem::field(
                    StatusCode::BAD_REQUEST,
                    "invalid-query",
                    "cursor",
                    "not a cursor this API returned",
                )
            })
        })
        .transpose()
}

/// Checks a `limit` query value: 1-500, default 50.
pub(crate) fn limit(value: Option<usize>) -> Result<usize, Problem> {
    match value {
        None => Ok(50),
        Some(n) if (1..=500).contains(&n) => Ok(n),
        Some(_) => Err(Problem::field(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            "limit",
            "between 1 and 500",
        )),
    }
}
