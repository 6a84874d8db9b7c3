//! Health, readiness and metrics: for load balancers and Prometheus.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::problem::Problem;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "alive", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// The store answers: ready for traffic.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses((status = 200, description = "ready", body = String), (status = 503, body = Problem)))]
pub async fn readyz(State(state): State<AppState>) -> Result<&'static str, Problem> {
    state
        .store
        .read(|conn| Ok(conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
        .await
        .map_err(|e| {
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not-ready",
                format!("the store does not answer: {e}"),
            )
        })?;
    Ok("ready")
}

/// Prometheus metrics, text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    responses((status = 200, description = "metrics", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    // A failed count leaves the gauges out rather than failing the scrape.
    let outbox = state
        .store
        .read(crate::store::outbox::counts_by_status)
        .await
        .unwrap_or_default();
    let tenants: std::collections::BTreeMap<i64, String> = state
        .store
        .read(crate::store::tenants::list)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.row_id, t.id))
        .collect();
    let mut response = state
        .metrics
        .render(&state, &outbox, &tenants)
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// Where the test clock should go: to an instant, or forward by seconds.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockMove {
    /// Set the clock to this instant (RFC 3339).
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// Move the clock forward by this many seconds.
    pub advance_secs: Option<u32>,
}

/// The time the server runs at.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ClockReading {
    pub now: chrono::DateTime<chrono::Utc>,
}

/// Moves the test clock (operator only). Exists only on a server started
/// with `--test-clock`: tests and back-tests move time instead of sleeping,
/// and the scheduler, dispatcher and sweep follow on their next pass.
/// The clock never goes back.
#[utoipa::path(post, path = "/v1/test-clock", tag = "operations", request_body = ClockMove,
    responses((status = 200, body = ClockReading), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn move_test_clock(
    State(state): State<AppState>,
    _: super::extract::Operator,
    _: super::extract::NoQuery,
    body: axum::body::Bytes,
) -> Result<axum::Json<ClockReading>, Problem> {
    let Some(clock) = state.test_clock.as_ref() else {
        return Err(Problem::not_found(
            "this server runs on the system clock (start it with --test-clock)",
        ));
    };
    let wanted: ClockMove = super::extract::json(&body)?;
    let now = crate::clock::Clock::now(clock.as_ref());
    let to = match (wanted.at, wanted.advance_secs) {
        (Some(at), None) => at,
        (None, Some(secs)) => now + chrono::Duration::seconds(secs.into()),
        _ => {
            return Err(Problem::field(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-body",
                "at",
                "give exactly one of `at` and `advance_secs`",
            ));
        }
    };
    if to < now {
        return Err(Problem::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-body",
            "at",
            format!("the clock never goes back (it reads {})", now.to_rfc3339()),
        ));
    }
    clock.set(to);
    Ok(axum::Json(ClockReading { now: to }))
}
