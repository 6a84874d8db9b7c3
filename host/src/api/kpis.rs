//! `GET /v1/kpis`: the collection KPIs of a period (see docs/kpis.md).

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use chrono::NaiveDate;
use serde::Deserialize;

use super::AppState;
use super::extract::{self, TenantScope};
use super::problem::Problem;
use crate::kpi::{KpiReport, Query};
use crate::store::kpis;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KpiParams {
    /// The period's first day. Default: the day after the same date a year
    /// before `to`.
    from: Option<NaiveDate>,
    /// The period's last day (included). Default: today (UTC).
    to: Option<NaiveDate>,
    /// Only messages scheduled by evaluations in this segment, and debtors
    /// whose latest evaluation by `to` was in it.
    segment: Option<String>,
    /// The same for a strategy: `ladder`, `net-30@1.0.0`, or `net-30` for
    /// every version of it.
    plugin_version: Option<String>,
    /// Only this currency (ISO 4217).
    currency: Option<String>,
}

/// DSO (standard, countback, best possible), ADD, CEI, collection and
/// on-time rates, aging at each month's end, and the message figures
/// (response rate by channel and tone, days to pay after the first
/// reminder, messages per 1,000 collected), per currency.
#[utoipa::path(get, path = "/v1/kpis", tag = "reports", params(KpiParams),
    responses((status = 200, body = KpiReport), (status = 400, body = Problem)))]
pub async fn kpis(
    State(app): State<AppState>,
    scope: TenantScope,
    uri: Uri,
) -> Result<Response, Problem> {
    let params: KpiParams = extract::query(uri.query())?;
    let today = app.clock.now().date_naive();
    let query = Query::new(
        params.from,
        params.to,
        params.segment,
        params.plugin_version,
        params.currency,
        today,
    )
    .map_err(|mut problems| {
        let first = problems.remove(0);
        let mut problem = Problem::field(
            StatusCode::BAD_REQUEST,
            "invalid-query",
            &first.field,
            first.detail,
        );
        problem.errors.extend(problems);
        problem
    })?;
    app.read(move |conn| kpis::report(conn, scope.id, &query))
        .await
}
