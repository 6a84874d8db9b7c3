//! `GET /v1/kpis`: the collection KPIs of a period (see docs/kpis.md);
//! `GET /v1/segments/{id}/arms`: those of each arm of a segment, side by side.

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

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
    .map_err(invalid_query)?;
    app.read(move |conn| kpis::report(conn, scope.id, &query))
        .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ArmsParams {
    /// The period's first day (default as for `/v1/kpis`).
    from: Option<NaiveDate>,
    /// The period's last day (included). Default: today (UTC).
    to: Option<NaiveDate>,
    /// Only this currency (ISO 4217).
    currency: Option<String>,
}

/// One arm of a segment: a strategy and what it achieved in the period.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Arm {
    /// `name@version`, or a built-in's name.
    pub strategy: String,
    /// `active` (the segment's own strategy) or `split` (the A/B arm).
    pub role: String,
    /// The share of the segment's debtors it decides for now.
    pub percent: u8,
    /// Evaluations in the period in this segment by this strategy, and how
    /// many of them faulted.
    pub evaluations: u64,
    pub faults: u64,
    /// Per currency: the figures to compare side by side.
    pub currencies: Vec<ArmFigures>,
}

/// One arm's figures in one currency (definitions in docs/kpis.md; the
/// debtors are those whose latest evaluation by `to` was by this arm in
/// this segment, the messages those its evaluations scheduled).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ArmFigures {
    pub currency: String,
    /// `collected / (beginning + credit_sales) × 100`.
    pub collection_rate: Option<f64>,
    /// Mean days from the first reminder to payment.
    pub average_days_to_pay_after_first_reminder: Option<f64>,
    /// Reminders sent per 1,000 major units collected after a reminder.
    pub messages_per_1000_collected: Option<f64>,
    pub reminders_sent: u64,
    /// Minor units.
    pub collected: i64,
    pub collected_after_reminder: i64,
}

/// A segment's arms side by side.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Arms {
    pub segment: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The active strategy first, then the split's.
    pub arms: Vec<Arm>,
}

/// The KPIs of each arm of a segment side by side: its active strategy
/// and, when it is split (A/B), the other arm: collection rate, days to
/// pay after the first reminder, messages per 1,000 collected and
/// evaluations, each computed as `GET /v1/kpis?segment=…&plugin_version=…`
/// does.
#[utoipa::path(get, path = "/v1/segments/{id}/arms", tag = "segments",
    params(("id" = String, Path, description = "the segment id"), ArmsParams),
    responses((status = 200, body = Arms), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn arms(
    State(app): State<AppState>,
    scope: TenantScope,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<Response, Problem> {
    let params: ArmsParams = extract::query(uri.query())?;
    let today = app.clock.now().date_naive();
    let period = Query::new(
        params.from,
        params.to,
        Some(id.clone()),
        None,
        params.currency,
        today,
    )
    .map_err(invalid_query)?;
    let tenant = scope.id;
    app.read(move |conn| {
        let segment = crate::store::segments::get(conn, tenant, &id)?;
        let mut chosen = vec![(segment.strategy.clone(), "active", 100)];
        if let Some(split) = &segment.split {
            chosen[0].2 = 100 - split.percent;
            chosen.push((split.strategy.clone(), "split", split.percent));
        }
        let mut arms = Vec::new();
        for (strategy, role, percent) in chosen {
            let query = Query {
                plugin_version: Some(strategy.clone()),
                ..period.clone()
            };
            let (evaluations, faults) = kpis::evaluations(conn, tenant, &query)?;
            let report = kpis::report(conn, tenant, &query)?;
            arms.push(Arm {
                strategy,
                role: role.to_owned(),
                percent,
                evaluations,
                faults,
                currencies: report
                    .currencies
                    .into_iter()
                    .map(|c| ArmFigures {
                        currency: c.currency,
                        collection_rate: c.collection_rate,
                        average_days_to_pay_after_first_reminder: c
                            .messages
                            .average_days_to_pay_after_first_reminder,
                        messages_per_1000_collected: c.messages.messages_per_1000_collected,
                        reminders_sent: c.messages.sent,
                        collected: c.collected,
                        collected_after_reminder: c.messages.collected_after_reminder,
                    })
                    .collect(),
            });
        }
        Ok(Arms {
            segment: id,
            from: period.from,
            to: period.to,
            arms,
        })
    })
    .await
}

fn invalid_query(mut problems: Vec<crate::store::FieldError>) -> Problem {
    let first = problems.remove(0);
    let mut problem = Problem::field(
        StatusCode::BAD_REQUEST,
        "invalid-query",
        &first.field,
        first.detail,
    );
    problem.errors.extend(problems);
    problem
}
