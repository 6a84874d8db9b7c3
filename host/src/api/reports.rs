//! Read-outs: a debtor's timeline and the aging report.

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use chrono::NaiveDate;
use serde::Deserialize;

use super::extract::{self, TenantScope};
use super::problem::Problem;
use super::{AppState, Page};
use crate::money::Currency;
use crate::store::aging::{self, AgingReport};
use crate::store::timeline::{self, Event};

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineParams {
    /// 1-500, default 50.
    limit: Option<usize>,
    /// `next_cursor` of the previous page: continue with older events.
    cursor: Option<String>,
}

/// Everything that happened to a debtor, newest first.
#[utoipa::path(get, path = "/v1/debtors/{id}/timeline", tag = "debtors",
    params(("id" = String, Path, description = "the debtor's external id"), TimelineParams),
    responses((status = 200, body = Page<Event>), (status = 404, body = Problem)))]
pub async fn timeline(
    State(app): State<AppState>,
    scope: TenantScope,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, Problem> {
    let params: TimelineParams = extract::query(uri.query())?;
    let before = super::cursor(params.cursor.as_deref())?;
    let limit = super::limit(params.limit)?;
    app.read(move |conn| {
        let mut items = timeline::list(conn, scope.id, &id, before, limit + 1)?;
        let next = (items.len() > limit).then(|| {
            items.truncate(limit);
            items.last().map(|e| e.id.to_string())
        });
        Ok(Page {
            items,
            next_cursor: next.flatten(),
        })
    })
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgingParams {
    /// The report date. Default: today (UTC).
    as_of: Option<NaiveDate>,
    /// Only this currency.
    currency: Option<String>,
}

/// Money owed on a date by days past due (current, 1-30, 31-60, 61-90, 90+),
/// per currency, recomputed from dated payments: exact for past dates too.
#[utoipa::path(get, path = "/v1/aging", tag = "reports", params(AgingParams),
    responses((status = 200, body = AgingReport), (status = 400, body = Problem)))]
pub async fn aging(
    State(app): State<AppState>,
    scope: TenantScope,
    uri: Uri,
) -> Result<Response, Problem> {
    let params: AgingParams = extract::query(uri.query())?;
    if let Some(code) = &params.currency
        && Currency::from_code(code).is_none()
    {
        return Err(Problem::field(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            "currency",
            format!("{code:?} is not an ISO 4217 code"),
        ));
    }
    let as_of = params.as_of.unwrap_or_else(|| app.clock.now().date_naive());
    app.read(move |conn| aging::report(conn, scope.id, as_of, params.currency.as_deref()))
        .await
}
