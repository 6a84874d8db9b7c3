//! The debtor portal: the page a reminder's signed link opens
//! (`/portal/{token}`), served by `dun serve` beside the API. Plain HTML
//! forms, no JavaScript: the debtor sees their open invoices (fees,
//! discounts, totals) and can pay through the tenant's payment link,
//! promise to pay by a date, accept a payment plan a strategy offered,
//! dispute an invoice or opt out of a channel.
//!
//! Invariants: the token is the only credential, and it names one debtor
//! of one tenant ([`link`]); every read and write goes through the same
//! store functions as the API, scoped to that debtor, so an action lands on
//! the timeline (marked `"source": "portal"`) and wakes the scheduler like
//! any other change; nothing on a refusal page depends on whose link it
//! was. Bad input re-renders the page with the error next to its field and
//! everything the debtor typed.
//!
//! Cross-site posting: there are no cookies or other ambient credentials,
//! so a forged form needs the token, which only the debtor has. As defence
//! in depth a POST whose browser says it came from another site
//! (`Sec-Fetch-Site: cross-site`, or an `Origin` that is not this host) is
//! refused, pages may not be framed, and no page leaks its address in a
//! `Referer`.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use minijinja::{AutoEscape, Environment};
use serde::{Deserialize, Serialize};

use crate::api::AppState;
use crate::case::{self, Channel};
use crate::money::Currency;
use crate::store::{
    StoreError, actions, arrangements, cases, debtors, invoices, messaging, tenants,
};
use crate::templates::{builtin_language, format_date, format_money};

mod link;
mod text;

pub use link::{Holder, Links, Refusal, generate_secret};

/// The portal's routes; merged into the API's router (`api::router`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/portal/{token}", get(show))
        .route("/portal/{token}/pay", post(pay))
        .route("/portal/{token}/promise", post(promise))
        .route("/portal/{token}/plan", post(plan))
        .route("/portal/{token}/dispute", post(dispute))
        .route("/portal/{token}/opt-out", post(opt_out))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .layer(axum::middleware::from_fn(protect))
}

/// Headers on every portal response: not cached, not framed, no
/// `Referer` carrying the token to another site, no scripts.
async fn protect(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        // Not `no-referrer`: with it, Chromium sends `Origin: null` on the
        // page's own form posts.
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    for (name, source) in [
        ("base.html", include_str!("pages/base.html")),
        ("page.html", include_str!("pages/page.html")),
        ("refused.html", include_str!("pages/refused.html")),
    ] {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("portal page {name}: {e}"));
    }
    env
});

fn html(status: StatusCode, template: &str, context: impl Serialize) -> Response {
    match PAGES.get_template(template).and_then(|t| t.render(context)) {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, template, "portal page");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// The refusal of a link: expired (410) or not genuine (403). Says nothing
/// about whose link it was; in the browser's language.
fn refused(refusal: Refusal, headers: &HeaderMap) -> Response {
    let lang = text::from_accept_language(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
    );
    let (status, reason) = match refusal {
        Refusal::Expired => (StatusCode::GONE, "expired"),
        Refusal::Tampered => (StatusCode::FORBIDDEN, "invalid"),
    };
    html(
        status,
        "refused.html",
        minijinja::context! { lang, reason, t => text::strings(lang) },
    )
}

/// The holder of a token that works now, or why it does not.
fn open(app: &AppState, token: &str) -> Result<Holder, Refusal> {
    match &app.portal {
        Some(links) => links.verify(token, app.clock.now()),
        None => Err(Refusal::Tampered),
    }
}

/// Refuses a POST its browser says came from another site.
fn same_site(app: &AppState, headers: &HeaderMap) -> bool {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if value("sec-fetch-site") == Some("cross-site") {
        return false;
    }
    let Some(origin) = value("origin") else {
        return true;
    };
    let host = value("host").map(|h| format!("http://{h}"));
    let https = value("host").map(|h| format!("https://{h}"));
    let public = app.portal.as_ref().map(|l| l.origin().to_owned());
    [host, https, public].iter().flatten().any(|o| o == origin)
}

/// A form body: every value of every name, in order.
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Form {
        Form(form_urlencoded::parse(body).into_owned().collect())
    }

    fn one(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// What the debtor typed, shown again when the form comes back with an
/// error.
#[derive(Clone, Debug, Default, Serialize)]
struct Entered {
    invoices: Vec<String>,
    currency: String,
    promised_on: String,
    invoice: String,
    reason: String,
    channel: String,
}

/// A field's error: the field (the input's id) and the message's key in
/// [`text`].
type FieldError = (&'static str, &'static str);

#[derive(Deserialize)]
struct Shown {
    done: Option<String>,
}

/// `GET /portal/{token}`: the page (after an action, `?done=<action>`
/// shows its confirmation).
async fn show(
    State(app): State<AppState>,
    Path(token): Path<String>,
    Query(shown): Query<Shown>,
    headers: HeaderMap,
) -> Response {
    let holder = match open(&app, &token) {
        Ok(holder) => holder,
        Err(refusal) => return refused(refusal, &headers),
    };
    let done = shown
        .done
        .as_deref()
        .and_then(|d| DONE.iter().copied().find(|k| *k == d));
    page(
        &app,
        &token,
        &headers,
        holder,
        done,
        Entered::default(),
        None,
    )
    .await
}

/// The confirmations `?done=` may name.
const DONE: [&str; 4] = ["promise", "plan", "dispute", "opt_out"];

/// Renders the page for `holder` as it is now.
async fn page(
    app: &AppState,
    token: &str,
    headers: &HeaderMap,
    holder: Holder,
    done: Option<&'static str>,
    entered: Entered,
    error: Option<FieldError>,
) -> Response {
    let now = app.clock.now();
    let view = app
        .store
        .read(move |conn| View::load(conn, &holder, now))
        .await;
    let view = match view {
        Ok(view) => view,
        // The debtor or tenant is gone: the link opens nothing any more.
        Err(StoreError::NotFound { .. }) => {
            return refused(Refusal::Expired, headers);
        }
        Err(error) => {
            tracing::error!(%error, "portal page");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let errors: BTreeMap<&str, &str> = error.into_iter().collect();
    let t = text::strings(view.lang);
    html(
        status,
        "page.html",
        minijinja::context! {
            // A verified token (base64url and one dot) under the operator's
            // public URL: nothing a debtor can inject.
            base => minijinja::Value::from_safe_string(format!("{}/{token}", portal_path(app))),
            t, done, entered, errors,
            ..minijinja::Value::from_serialize(&view)
        },
    )
}

/// What the page shows, formatted in the debtor's language.
#[derive(Serialize)]
struct View {
    lang: &'static str,
    tenant: String,
    debtor: String,
    today: NaiveDate,
    valid_until: String,
    invoices: Vec<Line>,
    totals: Vec<String>,
    discounts: Vec<Discount>,
    /// The tenant has a payment link and there is something to pay.
    pay: bool,
    payable: Vec<Line>,
    promise: Vec<PromiseOption>,
    plans: Vec<PlanOffer>,
    disputable: Vec<Line>,
    channels: Vec<ChannelRow>,
}

#[derive(Clone, Serialize)]
struct Line {
    id: String,
    number: String,
    due: String,
    overdue: Option<String>,
    amount: String,
    fees: Option<String>,
    open: String,
    status: String,
}

#[derive(Serialize)]
struct Discount {
    percent: String,
    invoices: String,
    date: String,
}

#[derive(Serialize)]
struct PromiseOption {
    currency: String,
    amount: String,
}

#[derive(Serialize)]
struct PlanOffer {
    id: String,
    invoices: String,
    installments: Vec<Part>,
    valid_until: String,
}

#[derive(Serialize)]
struct Part {
    due: String,
    amount: String,
}

#[derive(Serialize)]
struct ChannelRow {
    name: &'static str,
    opted_out: bool,
}

fn money(minor: i64, currency: &str, language: &str) -> String {
    match Currency::from_code(currency) {
        Some(c) => format_money(minor, c, language),
        None => format!("{currency} {minor}"),
    }
}

/// Invoices a promise made on the portal covers: what is still chased
/// in `currency` (not disputed, not in a plan, not with collections).
fn promisable(invoice: &case::Invoice, currency: &str) -> bool {
    invoice.currency == currency
        && !matches!(
            invoice.status,
            case::InvoiceStatus::Disputed
                | case::InvoiceStatus::InPlan
                | case::InvoiceStatus::InCollection
        )
}

impl View {
    fn load(
        conn: &rusqlite::Connection,
        holder: &Holder,
        now: DateTime<Utc>,
    ) -> Result<View, StoreError> {
        let tenant = tenants::get_by_row(conn, holder.tenant)?;
        let debtor = debtors::get(conn, holder.tenant, &holder.debtor)?;
        let row = debtors::row_id(conn, holder.tenant, &holder.debtor)?;
        let case = cases::build(
            conn,
            holder.tenant,
            &holder.debtor,
            now,
            "",
            serde_json::json!({}),
        )?;
        let today = now.date_naive();
        let offers = actions::open_offers(conn, holder.tenant, row, today)?;
        let has_payment_link = messaging::get(conn, holder.tenant)?.payment_link.is_some();
        let tag = debtor.language.as_str();
        let lang = builtin_language(tag);
        let t = text::strings(lang);
        let number_of = |id: &str| {
            case.invoices
                .iter()
                .find(|i| i.id == id)
                .map_or_else(|| id.to_owned(), |i| i.number.clone())
        };
        let lines: Vec<(case::Invoice, Line)> = case
            .invoices
            .iter()
            .map(|i| {
                let overdue = (today - i.due_on).num_days();
                let status_key = format!("status_{}", invoice_status(i.status));
                let status = t.get(status_key.as_str()).copied().unwrap_or_default();
                let status = match i.promised_on {
                    Some(date) if i.status == case::InvoiceStatus::Promised => {
                        status.replace("{date}", &format_date(date, tag))
                    }
                    _ => status.replace(" {date}", "").replace("{date}", ""),
                };
                let line = Line {
                    id: i.id.clone(),
                    number: i.number.clone(),
                    due: format_date(i.due_on, tag),
                    overdue: match overdue {
                        ..=0 => None,
                        1 => Some(t["day_overdue"].to_owned()),
                        n => Some(t["days_overdue"].replace("{n}", &n.to_string())),
                    },
                    amount: money(i.amount, &i.currency, tag),
                    fees: (i.fees_charged != 0).then(|| money(i.fees_charged, &i.currency, tag)),
                    open: money(i.open_amount, &i.currency, tag),
                    status,
                };
                (i.clone(), line)
            })
            .collect();
        let mut currencies: Vec<(String, i64, i64)> = Vec::new(); // (currency, total, promisable)
        for (invoice, _) in &lines {
            let promised = if promisable(invoice, &invoice.currency) {
                invoice.open_amount
            } else {
                0
            };
            match currencies.iter_mut().find(|(c, ..)| *c == invoice.currency) {
                Some((_, total, p)) => {
                    *total += invoice.open_amount;
                    *p += promised;
                }
                None => currencies.push((invoice.currency.clone(), invoice.open_amount, promised)),
            }
        }
        let join = |ids: &[String]| {
            ids.iter()
                .map(|id| number_of(id))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let discounts = offers
            .iter()
            .filter(|o| o.kind == "discount")
            .map(|o| Discount {
                percent: percent(o.terms["percent_bp"].as_i64().unwrap_or_default(), lang),
                invoices: join(&o.invoice_ids),
                date: format_date(o.valid_until, tag),
            })
            .collect();
        let plans = offers
            .iter()
            .filter(|o| o.kind == "payment-plan")
            .filter_map(|o| {
                let parts: Vec<actions::OfferedInstallment> =
                    serde_json::from_value(o.terms["installments"].clone()).ok()?;
                let currency = case
                    .invoices
                    .iter()
                    .find(|i| o.invoice_ids.contains(&i.id))?
                    .currency
                    .clone();
                Some(PlanOffer {
                    id: o.id.clone(),
                    invoices: join(&o.invoice_ids),
                    installments: parts
                        .iter()
                        .map(|p| Part {
                            due: format_date(p.due_on, tag),
                            amount: money(p.amount, &currency, tag),
                        })
                        .collect(),
                    valid_until: format_date(o.valid_until, tag),
                })
            })
            .collect();
        let chased = |i: &case::Invoice| {
            !matches!(
                i.status,
                case::InvoiceStatus::Disputed | case::InvoiceStatus::InCollection
            )
        };
        // What can be paid online is what can be disputed: the invoices
        // still chased.
        let payable: Vec<Line> = lines
            .iter()
            .filter(|(i, _)| chased(i))
            .map(|(_, l)| l.clone())
            .collect();
        let disputable = payable.clone();
        let channels = debtor.channels_with_details();
        Ok(View {
            lang,
            tenant: tenant.name,
            debtor: debtor.name.clone(),
            today,
            valid_until: format_date(holder.expires.date_naive(), tag),
            totals: currencies
                .iter()
                .map(|(c, total, _)| money(*total, c, tag))
                .collect(),
            discounts,
            pay: has_payment_link && !payable.is_empty(),
            payable,
            promise: currencies
                .iter()
                .filter(|(_, _, promised)| *promised > 0)
                .map(|(c, _, promised)| PromiseOption {
                    currency: c.clone(),
                    amount: money(*promised, c, tag),
                })
                .collect(),
            plans,
            disputable,
            channels: channels
                .into_iter()
                .map(|c| ChannelRow {
                    name: c.as_str(),
                    opted_out: debtor.opt_outs.contains(&c),
                })
                .collect(),
            invoices: lines.into_iter().map(|(_, l)| l).collect(),
        })
    }
}

/// Basis points as a percentage: 500 → "5", 250 → "2.5" (en) or "2,5" (de).
fn percent(bp: i64, lang: &str) -> String {
    let whole = format!("{}", bp / 100);
    match bp % 100 {
        0 => whole,
        rest => {
            let decimals = format!("{:02}", rest.abs());
            let decimals = decimals.trim_end_matches('0');
            let mark = if lang == "de" { "," } else { "." };
            format!("{whole}{mark}{decimals}")
        }
    }
}

fn invoice_status(status: case::InvoiceStatus) -> &'static str {
    match status {
        case::InvoiceStatus::Open => "open",
        case::InvoiceStatus::PartiallyPaid => "partially-paid",
        case::InvoiceStatus::Disputed => "disputed",
        case::InvoiceStatus::Promised => "promised",
        case::InvoiceStatus::InPlan => "in-plan",
        case::InvoiceStatus::InCollection => "in-collection",
    }
}

/// Where a successful action goes: the page with its confirmation.
fn done(app: &AppState, token: &str, action: &str) -> Response {
    Redirect::to(&format!("{}/{token}?done={action}", portal_path(app))).into_response()
}

/// `/portal`, under the public URL's path when it has one.
fn portal_path(app: &AppState) -> String {
    app.portal
        .as_ref()
        .map_or_else(|| "/portal".to_owned(), |links| links.portal_path())
}

/// What an action's write came to.
enum Outcome {
    /// Done; show the page with this confirmation.
    Done(&'static str),
    /// Go to the tenant's payment page.
    Pay(String),
    /// The debtor's input was refused: this field, this message.
    Refused(FieldError),
}

/// Runs a portal action: checks the link and the request's origin, then
/// `write` on the store's writer, then answers with the confirmation, the
/// redirect, or the page again with the error and what was typed.
async fn act<F>(
    app: AppState,
    token: String,
    headers: HeaderMap,
    entered: Entered,
    write: F,
) -> Response
where
    F: FnOnce(&rusqlite::Connection, &Holder, DateTime<Utc>) -> Result<Outcome, StoreError>
        + Send
        + 'static,
{
    let holder = match open(&app, &token) {
        Ok(holder) => holder,
        Err(refusal) => return refused(refusal, &headers),
    };
    if !same_site(&app, &headers) {
        return refused(Refusal::Tampered, &headers);
    }
    let now = app.clock.now();
    let who = holder.clone();
    let outcome = app.store.write(move |conn| write(conn, &who, now)).await;
    match outcome {
        Ok(Outcome::Done(action)) => done(&app, &token, action),
        Ok(Outcome::Pay(link)) => Redirect::to(&link).into_response(),
        Ok(Outcome::Refused(error)) => {
            page(&app, &token, &headers, holder, None, entered, Some(error)).await
        }
        Err(StoreError::NotFound { .. }) => refused(Refusal::Expired, &headers),
        Err(error) => {
            tracing::error!(%error, "portal action");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// One of the debtor's own owed invoices, or `None`.
fn own_invoice(
    conn: &rusqlite::Connection,
    holder: &Holder,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<invoices::Invoice>, StoreError> {
    match invoices::get(conn, holder.tenant, id, now.date_naive()) {
        Ok(invoice) if invoice.debtor_id == holder.debtor && invoice.status.is_owed() => {
            Ok(Some(invoice))
        }
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(None),
        Err(other) => Err(other),
    }
}

/// `POST /portal/{token}/pay`: to the tenant's payment link for the chosen
/// invoices (`invoice`, repeated).
async fn pay(
    State(app): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let mut chosen = form.all("invoice");
    // An invoice named twice is paid once.
    let mut seen = std::collections::HashSet::new();
    chosen.retain(|id| seen.insert(id.clone()));
    let entered = Entered {
        invoices: chosen.clone(),
        ..Entered::default()
    };
    act(app, token, headers, entered, move |conn, holder, now| {
        let mut owed = Vec::new();
        for id in &chosen {
            match own_invoice(conn, holder, id, now)? {
                Some(invoice) if invoice.status.is_chased() => owed.push(invoice),
                _ => return Ok(Outcome::Refused(("pay", "pay_none"))),
            }
        }
        if owed.is_empty() {
            return Ok(Outcome::Refused(("pay", "pay_none")));
        }
        let tenant = tenants::get_by_row(conn, holder.tenant)?;
        let ids: Vec<&str> = owed.iter().map(|i| i.id.as_str()).collect();
        let currency = &owed[0].currency;
        let amount = owed
            .iter()
            .all(|i| &i.currency == currency)
            .then(|| (owed.iter().map(|i| i.open_amount).sum(), currency.as_str()));
        match messaging::get(conn, holder.tenant)?.payment_link_for(
            &tenant.id,
            &holder.debtor,
            &ids,
            amount,
        ) {
            Some(link) => Ok(Outcome::Pay(link)),
            None => Ok(Outcome::Refused(("pay", "pay_none"))),
        }
    })
    .await
}

/// `POST /portal/{token}/promise`: a promise to pay what is owed in
/// `currency` by `promised_on`.
async fn promise(
    State(app): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let entered = Entered {
        currency: form.one("currency"),
        promised_on: form.one("promised_on"),
        ..Entered::default()
    };
    let (currency, date) = (entered.currency.clone(), entered.promised_on.clone());
    act(app, token, headers, entered, move |conn, holder, now| {
        let Ok(promised_on) = date.trim().parse::<NaiveDate>() else {
            return Ok(Outcome::Refused(("promised_on", "promise_bad_date")));
        };
        let case = cases::build(
            conn,
            holder.tenant,
            &holder.debtor,
            now,
            "",
            serde_json::json!({}),
        )?;
        let covered: Vec<&case::Invoice> = case
            .invoices
            .iter()
            .filter(|i| promisable(i, &currency))
            .collect();
        if covered.is_empty() {
            return Ok(Outcome::Refused(("promised_on", "promise_nothing")));
        }
        let input = arrangements::NewPromise {
            debtor_id: holder.debtor.clone(),
            invoice_ids: Some(covered.iter().map(|i| i.id.clone()).collect()),
            currency: currency.clone(),
            amount: covered.iter().map(|i| i.open_amount).sum(),
            promised_on,
            note: None,
            source: Some("portal"),
        };
        match arrangements::make_promise(conn, holder.tenant, &input, now) {
            Ok(_) => Ok(Outcome::Done("promise")),
            Err(StoreError::Invalid(problems)) => Ok(Outcome::Refused(
                if problems.iter().any(|p| p.field == "promised_on") {
                    ("promised_on", "promise_bad_date")
                } else {
                    ("promised_on", "promise_nothing")
                },
            )),
            Err(other) => Err(other),
        }
    })
    .await
}

/// `POST /portal/{token}/plan`: accepts the plan offer `offer`.
async fn plan(
    State(app): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let offer = Form::parse(&body).one("offer");
    act(
        app,
        token,
        headers,
        Entered::default(),
        move |conn, holder, now| {
            let theirs = match actions::get_offer(conn, holder.tenant, &offer) {
                Ok(found) => found.debtor_id == holder.debtor,
                Err(StoreError::NotFound { .. }) => false,
                Err(other) => return Err(other),
            };
            if !theirs {
                return Ok(Outcome::Refused(("plan", "plan_gone")));
            }
            match actions::accept_offer(conn, holder.tenant, &offer, Some("portal"), now) {
                Ok(_) => Ok(Outcome::Done("plan")),
                Err(StoreError::Invalid(_) | StoreError::Conflict { .. }) => {
                    Ok(Outcome::Refused(("plan", "plan_gone")))
                }
                Err(other) => Err(other),
            }
        },
    )
    .await
}

/// `POST /portal/{token}/dispute`: disputes `invoice` for `reason`.
async fn dispute(
    State(app): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let entered = Entered {
        invoice: form.one("invoice"),
        reason: form.one("reason"),
        ..Entered::default()
    };
    let (invoice, reason) = (entered.invoice.clone(), entered.reason.clone());
    act(app, token, headers, entered, move |conn, holder, now| {
        if own_invoice(conn, holder, &invoice, now)?.is_none() {
            return Ok(Outcome::Refused(("invoice", "dispute_bad_invoice")));
        }
        let input = arrangements::NewDispute {
            invoice_id: invoice,
            reason,
            source: Some("portal"),
        };
        match arrangements::open_dispute(conn, holder.tenant, &input, now) {
            Ok(_) => Ok(Outcome::Done("dispute")),
            Err(StoreError::Invalid(problems)) => Ok(Outcome::Refused(
                if problems.iter().any(|p| p.field == "reason") {
                    ("reason", "dispute_bad_reason")
                } else {
                    ("invoice", "dispute_bad_invoice")
                },
            )),
            Err(StoreError::Conflict { .. }) => {
                Ok(Outcome::Refused(("invoice", "dispute_already")))
            }
            Err(other) => Err(other),
        }
    })
    .await
}

/// `POST /portal/{token}/opt-out`: no more reminders on `channel`.
async fn opt_out(
    State(app): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let entered = Entered {
        channel: Form::parse(&body).one("channel"),
        ..Entered::default()
    };
    let name = entered.channel.clone();
    act(app, token, headers, entered, move |conn, holder, now| {
        let debtor = debtors::get(conn, holder.tenant, &holder.debtor)?;
        let Some(channel) = Channel::parse(&name).filter(|c| debtor.has_details_for(*c)) else {
            return Ok(Outcome::Refused(("channel", "opt_out_bad")));
        };
        debtors::set_opt_out(
            conn,
            holder.tenant,
            &holder.debtor,
            channel,
            true,
            "portal",
            now,
        )?;
        Ok(Outcome::Done("opt_out"))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discounts_read_as_percentages_in_the_debtors_language() {
        assert_eq!(percent(500, "en"), "5");
        assert_eq!(percent(250, "en"), "2.5");
        assert_eq!(percent(250, "de"), "2,5");
        assert_eq!(percent(1_005, "en"), "10.05");
    }

    #[test]
    fn every_page_compiles_and_refusals_name_no_one() {
        for lang in text::LANGUAGES {
            for reason in ["expired", "invalid"] {
                let page = PAGES
                    .get_template("refused.html")
                    .unwrap()
                    .render(minijinja::context! { lang, reason, t => text::strings(lang) })
                    .unwrap();
                assert!(page.contains(&format!("<html lang=\"{lang}\">")), "{page}");
                assert!(page.contains("<h1>"), "{page}");
            }
        }
        assert!(PAGES.get_template("page.html").is_ok());
    }
}
