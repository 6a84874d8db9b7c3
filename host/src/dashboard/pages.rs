//! The dashboard's pages. Each parses its query (the API's parser, so a
//! bad parameter is named the same way), picks the tenant through the
//! viewer, reads through the store's own queries in one read, and renders
//! a template. No SQL and no figure is computed here: KPIs come from
//! `store::kpis::report` (as `GET /v1/kpis`), the shadow report from
//! `registry::shadow_report` (as `GET /v1/segments/{id}/shadow-report`).

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use chrono::{Months, NaiveDate};
use minijinja::context;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::session::{Scope, Viewer};
use super::{Page, PageError, html, script_json};
use crate::api::AppState;
use crate::kpi::{self, CurrencyKpis, KpiReport, Query};
use crate::money::Currency;
use crate::registry;
use crate::store::{debtors, evaluations, kpis, outbox, plugins, segments, timeline};

/// The longest DSO trend drawn: the period's last this many months.
const TREND_MONTHS: usize = 24;
/// Rows on an outbox or timeline page.
const PAGE_ROWS: usize = 100;

/// Parses the query string as the API does; empty fields (a form's blank
/// inputs) count as absent.
fn params<T: DeserializeOwned>(uri: &Uri) -> Result<T, PageError> {
    let kept: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k.into_owned(), v.trim().to_owned()))
        .collect();
    let query = serde_urlencoded::to_string(&kept).unwrap_or_default();
    Ok(crate::api::extract::query(Some(&query))?)
}

/// What every page's frame shows: who is looking, at which tenant.
fn frame(viewer: &Viewer, scope: &Scope, page: &str) -> minijinja::Value {
    context! {
        page => page,
        role => viewer.role(),
        tenant => scope.slug,
        tenants => scope.choices,
        csrf => viewer.csrf,
    }
}

fn respond(name: &str, context: minijinja::Value) -> Result<Response, PageError> {
    Ok(html(StatusCode::OK, Page::render(name, context)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverviewParams {
    tenant: Option<String>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    /// The currency whose figures are shown (default: the first).
    currency: Option<String>,
    segment: Option<String>,
    plugin_version: Option<String>,
}

/// One KPI tile: its name in `GET /v1/kpis`, label, value and unit.
fn tile(key: &str, label: &str, value: Option<f64>, unit: &str) -> Value {
    json!({
        "key": key,
        "label": label,
        "value": value.map(|v| format!("{v:.2}")),
        "unit": unit,
    })
}

fn money_tile(key: &str, label: &str, currency: Currency, minor: i64) -> Value {
    json!({
        "key": key,
        "label": label,
        "value": currency.format_minor(minor),
        "unit": currency.code(),
    })
}

fn tiles(c: &CurrencyKpis, currency: Currency) -> Vec<Value> {
    vec![
        tile("dso", "DSO", c.dso, "days"),
        tile("countback_dso", "Countback DSO", c.countback_dso, "days"),
        tile(
            "best_possible_dso",
            "Best possible DSO",
            c.best_possible_dso,
            "days",
        ),
        tile("add", "Average days delinquent", c.add, "days"),
        tile("cei", "CEI", c.cei, "%"),
        tile("collection_rate", "Collection rate", c.collection_rate, "%"),
        tile("on_time_rate", "On-time rate", c.on_time_rate, "%"),
        tile(
            "messages.response_rate",
            "Response rate",
            c.messages.response_rate,
            "%",
        ),
        tile(
            "messages.average_days_to_pay_after_first_reminder",
            "Days to pay after first reminder",
            c.messages.average_days_to_pay_after_first_reminder,
            "days",
        ),
        tile(
            "messages.messages_per_1000_collected",
            "Reminders per 1,000 collected",
            c.messages.messages_per_1000_collected,
            "",
        ),
        money_tile(
            "receivables.ending",
            "Receivables",
            currency,
            c.receivables.ending,
        ),
        money_tile("collected", "Collected", currency, c.collected),
    ]
}

/// Minor units as a number of major units, for a chart's axis.
fn major(currency: Currency, minor: i64) -> f64 {
    minor as f64 / 10f64.powi(i32::from(currency.exponent()))
}

/// Midnight UTC of a date, in seconds: uPlot's time axis.
fn stamp(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .map_or(0, |t| t.and_utc().timestamp())
}

/// The months of the period (at most the last [`TREND_MONTHS`]), each as
/// the part of it inside the period.
fn months(query: &Query) -> Vec<(NaiveDate, NaiveDate)> {
    let mut months = Vec::new();
    let mut first = kpi::first_of_month(query.from);
    while first <= query.to {
        months.push((
            first.max(query.from),
            kpi::last_of_month(first).min(query.to),
        ));
        first = first + Months::new(1);
    }
    let skip = months.len().saturating_sub(TREND_MONTHS);
    months.split_off(skip)
}

/// `GET /dashboard/overview`: KPI tiles of the period, and trends.
pub async fn overview(
    State(app): State<AppState>,
    viewer: Viewer,
    uri: Uri,
) -> Result<Response, PageError> {
    let p: OverviewParams = params(&uri)?;
    let scope = viewer.scope(&app, p.tenant.as_deref()).await?;
    if let Some(code) = &p.currency
        && Currency::from_code(code).is_none()
    {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            format!("currency: {code:?} is not an ISO 4217 currency code (upper case, e.g. EUR)"),
        ));
    }
    let today = app.clock.now().date_naive();
    let query = Query::new(
        p.from,
        p.to,
        p.segment.clone(),
        p.plugin_version.clone(),
        None,
        today,
    )
    .map_err(|problems| {
        let first = &problems[0];
        PageError::new(
            StatusCode::BAD_REQUEST,
            format!("{}: {}", first.field, first.detail),
        )
    })?;
    let tenant = scope.id;
    let wanted = p.currency.clone();
    let (report, chosen, trend) = app
        .store
        .read(move |conn| {
            let report = kpis::report(conn, tenant, &query)?;
            let chosen = match &wanted {
                Some(code) => report.currencies.iter().position(|c| &c.currency == code),
                None => (!report.currencies.is_empty()).then_some(0),
            };
            let mut trend: Vec<(NaiveDate, KpiReport)> = Vec::new();
            if let Some(index) = chosen {
                for (from, to) in months(&query) {
                    let month = Query {
                        from,
                        to,
                        currency: Some(report.currencies[index].currency.clone()),
                        ..query.clone()
                    };
                    trend.push((to, kpis::report(conn, tenant, &month)?));
                }
            }
            Ok((report, chosen, trend))
        })
        .await?;
    let currencies: Vec<&str> = report
        .currencies
        .iter()
        .map(|c| c.currency.as_str())
        .collect();
    let mut page = json!({
        "from": report.from, "to": report.to, "days": report.days,
        "segment": p.segment, "plugin_version": p.plugin_version,
        "currencies": currencies, "currency": p.currency,
    });
    let shown = chosen
        .map(|i| &report.currencies[i])
        .and_then(|c| Some((c, Currency::from_code(&c.currency)?)));
    if let Some((c, currency)) = shown {
        let figure = |pick: fn(&CurrencyKpis) -> Option<f64>| -> Vec<Option<f64>> {
            trend
                .iter()
                .map(|(_, r)| r.currencies.first().and_then(pick))
                .collect()
        };
        let trend_rows: Vec<Value> = trend
            .iter()
            .map(|(end, r)| {
                let c = r.currencies.first();
                json!({
                    "month": end.format("%Y-%m").to_string(),
                    "dso": c.and_then(|c| c.dso).map(|v| format!("{v:.2}")),
                    "countback_dso": c.and_then(|c| c.countback_dso).map(|v| format!("{v:.2}")),
                    "collection_rate": c.and_then(|c| c.collection_rate).map(|v| format!("{v:.2}")),
                    "response_rate": c.and_then(|c| c.messages.response_rate).map(|v| format!("{v:.2}")),
                })
            })
            .collect();
        let aging = &c.aging_series;
        let bucket = |pick: fn(&kpi::AgingSnapshot) -> i64| -> Vec<f64> {
            aging.iter().map(|s| major(currency, pick(s))).collect()
        };
        let aging_rows: Vec<Value> = aging
            .iter()
            .map(|s| {
                json!({
                    "as_of": s.as_of,
                    "current": currency.format_minor(s.current.amount),
                    "days_1_30": currency.format_minor(s.days_1_30.amount),
                    "days_31_60": currency.format_minor(s.days_31_60.amount),
                    "days_61_90": currency.format_minor(s.days_61_90.amount),
                    "days_over_90": currency.format_minor(s.days_over_90.amount),
                    "total": currency.format_minor(s.total.amount),
                })
            })
            .collect();
        let responses = &c.messages.by_channel_and_tone;
        let charts = json!({
            "currency": c.currency,
            "trend": {
                "x": trend.iter().map(|(end, _)| stamp(*end)).collect::<Vec<_>>(),
                "dso": figure(|c| c.dso),
                "countback_dso": figure(|c| c.countback_dso),
                "collection_rate": figure(|c| c.collection_rate),
                "on_time_rate": figure(|c| c.on_time_rate),
                "response_rate": figure(|c| c.messages.response_rate),
            },
            "aging": {
                "x": aging.iter().map(|s| stamp(s.as_of)).collect::<Vec<_>>(),
                "current": bucket(|s| s.current.amount),
                "1-30": bucket(|s| s.days_1_30.amount),
                "31-60": bucket(|s| s.days_31_60.amount),
                "61-90": bucket(|s| s.days_61_90.amount),
                "90+": bucket(|s| s.days_over_90.amount),
            },
            "responses": {
                "labels": responses.iter().map(|r| format!("{} {}", r.channel.as_str(), r.tone.as_str())).collect::<Vec<_>>(),
                "rate": responses.iter().map(|r| r.responses.response_rate).collect::<Vec<_>>(),
                "sent": responses.iter().map(|r| r.responses.sent).collect::<Vec<_>>(),
            },
        });
        page["shown"] = json!(c.currency);
        page["tiles"] = json!(tiles(c, currency));
        page["trend_rows"] = json!(trend_rows);
        page["aging_rows"] = json!(aging_rows);
        page["responses"] = json!(
            responses
                .iter()
                .map(|r| json!({
                    "channel": r.channel, "tone": r.tone, "sent": r.responses.sent,
                    "answered": r.responses.answered,
                    "response_rate": r.responses.response_rate.map(|v| format!("{v:.2}")),
                }))
                .collect::<Vec<_>>()
        );
        page["settled"] = json!([c.settled_invoices, c.settled_on_time]);
        page["charts"] = json!(script_json(&charts));
    }
    respond(
        "overview.html",
        context! { ..frame(&viewer, &scope, "overview"), ..minijinja::Value::from_serialize(&page) },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantParams {
    tenant: Option<String>,
}

/// `GET /dashboard/plugins`: the registry, evaluations and faults per
/// strategy, the latest faults with their log tails, shadow reports.
pub async fn plugins(
    State(app): State<AppState>,
    viewer: Viewer,
    uri: Uri,
) -> Result<Response, PageError> {
    let p: TenantParams = params(&uri)?;
    let scope = viewer.scope(&app, p.tenant.as_deref()).await?;
    let tenant = scope.id;
    let (versions, counts, faults, shadows) = app
        .store
        .read(move |conn| {
            let versions = plugins::list(conn, tenant, None)?;
            let counts = evaluations::counts_by_strategy(conn, tenant)?;
            let faults = evaluations::recent_faults(conn, tenant, 20)?;
            let mut shadows = Vec::new();
            for segment in segments::list(conn, tenant)? {
                if segment.shadow.is_some() {
                    let pairs = evaluations::shadow_pairs(conn, tenant, &segment.id, 1000)?;
                    shadows.push(registry::shadow_report(segment.id, segment.shadow, &pairs));
                }
            }
            Ok((versions, counts, faults, shadows))
        })
        .await?;
    let counts: Vec<Value> = counts
        .iter()
        .map(|c| {
            json!({
                "strategy": c.strategy, "evaluations": c.evaluations, "faults": c.faults,
                "fault_rate": kpi::percent(c.faults.into(), c.evaluations.into()).map(|v| format!("{v:.2}")),
                "last_at": c.last_at,
            })
        })
        .collect();
    let shadows: Vec<Value> = shadows
        .iter()
        .map(|s| {
            let mut value = json!(s);
            value["disagreeing"] = json!(s.compared - s.agreed);
            value
        })
        .collect();
    respond(
        "plugins.html",
        context! {
            ..frame(&viewer, &scope, "plugins"),
            ..context! { versions => versions, counts => counts, faults => faults, shadows => shadows }
        },
    )
}

/// `GET /dashboard/segments`: the segments in the order they are tried,
/// each with its strategy, shadow and split.
pub async fn segments(
    State(app): State<AppState>,
    viewer: Viewer,
    uri: Uri,
) -> Result<Response, PageError> {
    let p: TenantParams = params(&uri)?;
    let scope = viewer.scope(&app, p.tenant.as_deref()).await?;
    let tenant = scope.id;
    let list = app
        .store
        .read(move |conn| segments::list(conn, tenant))
        .await?;
    let rows: Vec<Value> = list
        .iter()
        .map(|s| {
            json!({
                "id": s.id, "name": s.name,
                "priority": (s.id != crate::segments::DEFAULT).then_some(s.priority),
                "strategy": s.strategy, "shadow": s.shadow, "split": s.split,
                "rule": serde_json::to_string(&s.rule).unwrap_or_default(),
                "config": serde_json::to_string_pretty(&s.config).unwrap_or_default(),
                "updated_at": s.updated_at,
            })
        })
        .collect();
    respond(
        "segments.html",
        context! { ..frame(&viewer, &scope, "segments"), ..context! { segments => rows } },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxParams {
    tenant: Option<String>,
    status: Option<String>,
    /// Continue with messages older than this row.
    before: Option<i64>,
}

/// `GET /dashboard/outbox`: messages by status, newest first, with why a
/// message was suppressed, cancelled or failed.
pub async fn outbox(
    State(app): State<AppState>,
    viewer: Viewer,
    uri: Uri,
) -> Result<Response, PageError> {
    let p: OutboxParams = params(&uri)?;
    let scope = viewer.scope(&app, p.tenant.as_deref()).await?;
    if let Some(status) = &p.status
        && !outbox::STATUSES.contains(&status.as_str())
    {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            format!("status: one of {}", outbox::STATUSES.join(", ")),
        ));
    }
    let (tenant, status, before) = (scope.id, p.status.clone(), p.before);
    let (mut rows, counts) = app
        .store
        .read(move |conn| {
            let rows =
                outbox::list_for_tenant(conn, tenant, status.as_deref(), before, PAGE_ROWS + 1)?;
            Ok((rows, outbox::counts_for_tenant(conn, tenant)?))
        })
        .await?;
    let older = (rows.len() > PAGE_ROWS).then(|| {
        rows.truncate(PAGE_ROWS);
        rows.last().map(|r| r.row)
    });
    let counts: Vec<Value> = outbox::STATUSES
        .iter()
        .map(|s| {
            let n = counts.iter().find(|(c, _)| c == s).map_or(0, |(_, n)| *n);
            json!({ "status": s, "count": n })
        })
        .collect();
    respond(
        "outbox.html",
        context! {
            ..frame(&viewer, &scope, "outbox"),
            ..context! { messages => rows, counts => counts, status => p.status, older => older.flatten() }
        },
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebtorParams {
    tenant: Option<String>,
    /// The debtor's id (the billing system's).
    id: Option<String>,
    /// Continue with events older than this one.
    before: Option<i64>,
}

/// `GET /dashboard/debtors?id=`: one debtor, its timeline, messages and
/// evaluations.
pub async fn debtor(
    State(app): State<AppState>,
    viewer: Viewer,
    uri: Uri,
) -> Result<Response, PageError> {
    let p: DebtorParams = params(&uri)?;
    let scope = viewer.scope(&app, p.tenant.as_deref()).await?;
    let Some(id) = p.id.clone() else {
        return respond(
            "debtor.html",
            context! { ..frame(&viewer, &scope, "debtors"), ..context! { id => None::<String> } },
        );
    };
    let (tenant, before) = (scope.id, p.before);
    let lookup = id.clone();
    let found = app
        .store
        .read(move |conn| {
            let debtor = debtors::get(conn, tenant, &lookup)?;
            let events = timeline::list(conn, tenant, &lookup, before, PAGE_ROWS + 1)?;
            let messages = outbox::list_for_debtor(conn, tenant, &lookup, 50)?;
            let decided = evaluations::list_for_debtor(conn, tenant, &lookup, 20)?;
            Ok((debtor, events, messages, decided))
        })
        .await;
    let (debtor, mut events, messages, decided) = match found {
        Ok(found) => found,
        Err(crate::store::StoreError::NotFound { .. }) => {
            return Err(PageError::new(
                StatusCode::NOT_FOUND,
                format!("id: no debtor {id:?} in tenant {}", scope.slug),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let older = (events.len() > PAGE_ROWS).then(|| {
        events.truncate(PAGE_ROWS);
        events.last().map(|e| e.id)
    });
    let events: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "id": e.id, "at": e.at, "kind": e.kind, "subject": e.subject,
                "data": serde_json::to_string(&e.data).unwrap_or_default(),
            })
        })
        .collect();
    let decided: Vec<Value> = decided
        .iter()
        .map(|e| {
            let count = |verdict: &str| e.verdicts.iter().filter(|v| v.verdict == verdict).count();
            json!({
                "id": e.id, "at": e.at, "segment": e.segment, "strategy": e.strategy,
                "outcome": e.outcome, "error": e.error,
                "kept": count("kept"), "moved": count("moved"), "suppressed": count("suppressed"),
            })
        })
        .collect();
    respond(
        "debtor.html",
        context! {
            ..frame(&viewer, &scope, "debtors"),
            ..context! {
                id => id, debtor => debtor, events => events, messages => messages,
                evaluations => decided, older => older.flatten(),
            }
        },
    )
}
