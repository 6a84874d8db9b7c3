//! KPIs: the collection figures of a period, per currency. Pure formulas
//! over plain figures that `store::kpis` gathers (receivables as of a date
//! from dated allocations, credit sales, cash collected, settlements, sent
//! reminders and the payments after them); nothing here reads the store or
//! the clock. Each figure is defined in `docs/kpis.md`; the names below are
//! the same.
//!
//! Invariants: money is never mixed across currencies (every figure is per
//! currency, ratios and days included); money stays `i64` minor units; a
//! ratio or a number of days is computed exactly on integers and rounded
//! once, to 0.01, half away from zero; a figure whose denominator is zero
//! is `None` (`null`), never 0 or infinity.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, Months, NaiveDate, Utc};
use serde::Serialize;

use crate::case::{Channel, Tone};
use crate::money::Currency;
use crate::store::FieldError;
use crate::store::aging::{AgingBuckets, Bucket};

/// A payment answers a reminder when it comes within this many days.
pub const RESPONSE_WINDOW_DAYS: i64 = 7;
/// The longest period a report covers (ten years).
pub const MAX_PERIOD_DAYS: i64 = 3653;

/// What a report is about: a period (both days included) and filters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Only this segment: messages scheduled by evaluations in it; debtors
    /// whose latest evaluation by `to` was in it.
    pub segment: Option<String>,
    /// Only this strategy (`ladder`, `net-30@1.0.0`, or `net-30` for every
    /// version of it), chosen the same way as `segment`.
    pub plugin_version: Option<String>,
    /// Only this currency (ISO 4217).
    pub currency: Option<String>,
}

impl Query {
    /// Checks the parameters and fills in the default period: `to` today,
    /// `from` the day after the same date a year earlier. Every problem is
    /// named by its parameter.
    pub fn new(
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        segment: Option<String>,
        plugin_version: Option<String>,
        currency: Option<String>,
        today: NaiveDate,
    ) -> Result<Query, Vec<FieldError>> {
        let mut problems = Vec::new();
        // Years 1 to 9999 keep every date computed from them in range.
        for (field, date) in [("from", from), ("to", to)] {
            if date.is_some_and(|d| !(1..=9999).contains(&d.year())) {
                problems.push(FieldError::new(field, "a year from 1 to 9999"));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let to = to.unwrap_or(today);
        let from = from.unwrap_or_else(|| {
            to.checked_sub_months(Months::new(12))
                .and_then(|d| d.succ_opt())
                .unwrap_or(to)
        });
        if from > to {
            problems.push(FieldError::new(
                "from",
                format!("{from} is after to ({to})"),
            ));
        } else if (to - from).num_days() + 1 > MAX_PERIOD_DAYS {
            problems.push(FieldError::new(
                "from",
                format!("a period is at most {MAX_PERIOD_DAYS} days (ten years)"),
            ));
        }
        if let Some(code) = &currency
            && Currency::from_code(code).is_none()
        {
            problems.push(FieldError::new(
                "currency",
                format!("{code:?} is not an ISO 4217 currency code (upper case, e.g. EUR)"),
            ));
        }
        for (field, value) in [("segment", &segment), ("plugin_version", &plugin_version)] {
            if value
                .as_ref()
                .is_some_and(|v| v.is_empty() || v.len() > 200)
            {
                problems.push(FieldError::new(field, "1-200 characters"));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Query {
            from,
            to,
            segment,
            plugin_version,
            currency,
        })
    }

    /// Days in the period, both ends included.
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The day before the period: beginning receivables are as of it.
    pub fn eve(&self) -> NaiveDate {
        self.from.pred_opt().unwrap_or(self.from)
    }

    /// The dates of the aging series: every month's last day within the
    /// period, then `to` when it is not one.
    pub fn snapshot_dates(&self) -> Vec<NaiveDate> {
        let mut dates = Vec::new();
        let mut month = first_of_month(self.from);
        while month <= self.to {
            let end = last_of_month(month);
            if end >= self.from && end <= self.to {
                dates.push(end);
            }
            month = month + Months::new(1);
        }
        if dates.last() != Some(&self.to) {
            dates.push(self.to);
        }
        dates
    }

    /// Whether the filters choose debtors by their evaluations.
    pub fn is_scoped(&self) -> bool {
        self.segment.is_some() || self.plugin_version.is_some()
    }
}

pub fn first_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

pub fn last_of_month(date: NaiveDate) -> NaiveDate {
    (first_of_month(date) + Months::new(1))
        .pred_opt()
        .unwrap_or(date)
}

// ---------------------------------------------------------------------------
// Inputs, as the store gathers them.

/// One currency's receivables and cash for the period.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Receivables at the end of the day before `from`.
    pub beginning: i64,
    /// Receivables at the end of `to`…
    pub ending: i64,
    /// …of which not yet past due on `to`.
    pub ending_current: i64,
    /// Credit sales by day, every day up to `to`: invoices by their issue
    /// date (less fees) and fees by the day they were charged; invoices
    /// voided by `to` left out.
    pub sales: BTreeMap<NaiveDate, i64>,
    /// Net money allocated to invoices in the period (refunds subtract).
    pub collected: i64,
    /// Invoices paid in full in the period…
    pub settled: u64,
    /// …of which on or before their due date.
    pub settled_on_time: u64,
    /// Aging as of each of [`Query::snapshot_dates`].
    pub aging: Vec<(NaiveDate, AgingBuckets)>,
}

/// A reminder that went out, about an invoice in the currency at hand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentReminder {
    /// The debtor's row id.
    pub debtor: i64,
    pub channel: Channel,
    pub tone: Tone,
    pub sent_at: DateTime<Utc>,
}

/// A payment (in the currency at hand) that may answer a reminder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentSeen {
    pub debtor: i64,
    pub received_on: NaiveDate,
    /// The instant, when the billing system knows it.
    pub received_at: Option<DateTime<Utc>>,
}

/// One currency's messages in the period, as the filters select them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outreach {
    /// Reminders sent in the period.
    pub reminders: Vec<SentReminder>,
    /// Payments of those debtors from the period's start to a week after
    /// its end (a superset; [`answers`] decides).
    pub payments: Vec<PaymentSeen>,
    /// Per invoice paid in full in the period after a reminder about it:
    /// (the first such reminder's date, the date it was paid).
    pub reminded_settlements: Vec<(NaiveDate, NaiveDate)>,
    /// Money allocated in the period to invoices a reminder had named (one
    /// sent on or before the allocation's date).
    pub collected_after_reminder: i64,
}

/// Everything one currency's figures are computed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrencyInputs {
    pub currency: Currency,
    pub ledger: Ledger,
    pub outreach: Outreach,
}

// ---------------------------------------------------------------------------
// The report.

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct KpiReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Days in the period, both ends included.
    pub days: i64,
    pub segment: Option<String>,
    pub plugin_version: Option<String>,
    /// One entry per currency, by code.
    pub currencies: Vec<CurrencyKpis>,
}

/// Receivables at the period's edges, minor units.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Receivables {
    /// At the end of the day before `from`.
    pub beginning: i64,
    /// At the end of `to`.
    pub ending: i64,
    /// Of `ending`, not yet past due.
    pub ending_current: i64,
    /// Of `ending`, past due.
    pub ending_overdue: i64,
}

/// Aging as of one date of the series.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AgingSnapshot {
    pub as_of: NaiveDate,
    pub current: Bucket,
    #[serde(rename = "1-30")]
    pub days_1_30: Bucket,
    #[serde(rename = "31-60")]
    pub days_31_60: Bucket,
    #[serde(rename = "61-90")]
    pub days_61_90: Bucket,
    #[serde(rename = "90+")]
    pub days_over_90: Bucket,
    pub total: Bucket,
}

/// Reminders and how many a payment followed, for one channel and tone or
/// for all.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Responses {
    pub sent: u64,
    /// Followed by a payment of the debtor within 7 days.
    pub answered: u64,
    /// `answered / sent × 100`.
    pub response_rate: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ChannelToneResponses {
    pub channel: Channel,
    pub tone: Tone,
    #[serde(flatten)]
    pub responses: Responses,
}

/// The message-based figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MessageKpis {
    /// Reminders sent in the period.
    pub sent: u64,
    pub answered: u64,
    pub response_rate: Option<f64>,
    /// By channel, then tone.
    pub by_channel_and_tone: Vec<ChannelToneResponses>,
    /// Invoices paid in full in the period after a reminder about them.
    pub reminded_invoices_paid: u64,
    /// Their mean days from the first reminder to payment.
    pub average_days_to_pay_after_first_reminder: Option<f64>,
    /// Minor units allocated in the period to invoices a reminder had named.
    pub collected_after_reminder: i64,
    /// `sent` per 1,000 major units of `collected_after_reminder`.
    pub messages_per_1000_collected: Option<f64>,
}

/// Every figure for one currency.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CurrencyKpis {
    pub currency: String,
    pub receivables: Receivables,
    /// Minor units.
    pub credit_sales: i64,
    /// Minor units.
    pub collected: i64,
    /// Days sales outstanding: `ending / credit_sales × days`.
    pub dso: Option<f64>,
    /// Ending receivables matched against sales month by month backwards.
    pub countback_dso: Option<f64>,
    /// `ending_current / credit_sales × days`.
    pub best_possible_dso: Option<f64>,
    /// Average days delinquent: `ending_overdue / credit_sales × days`
    /// (DSO − best possible DSO).
    pub add: Option<f64>,
    /// Collection effectiveness index, percent.
    pub cei: Option<f64>,
    /// `collected / (beginning + credit_sales) × 100`.
    pub collection_rate: Option<f64>,
    /// Invoices paid in full in the period.
    pub settled_invoices: u64,
    /// Of them, paid by their due date.
    pub settled_on_time: u64,
    /// `settled_on_time / settled_invoices × 100`.
    pub on_time_rate: Option<f64>,
    /// Aging at each month's end in the period, and at `to`.
    pub aging_series: Vec<AgingSnapshot>,
    pub messages: MessageKpis,
}

/// Every figure of the report, from what the store gathered.
pub fn compute(query: &Query, inputs: Vec<CurrencyInputs>) -> KpiReport {
    let mut currencies: Vec<CurrencyKpis> = inputs
        .into_iter()
        .map(|input| currency_kpis(query, input))
        .collect();
    currencies.sort_by(|a, b| a.currency.cmp(&b.currency));
    KpiReport {
        from: query.from,
        to: query.to,
        days: query.days(),
        segment: query.segment.clone(),
        plugin_version: query.plugin_version.clone(),
        currencies,
    }
}

fn currency_kpis(query: &Query, input: CurrencyInputs) -> CurrencyKpis {
    let CurrencyInputs {
        currency,
        ledger,
        outreach,
    } = input;
    let days = query.days();
    let overdue = ledger.ending - ledger.ending_current;
    let credit_sales: i64 = ledger
        .sales
        .range(query.from..=query.to)
        .map(|(_, s)| s)
        .sum();
    let mut monthly_sales: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for (day, sales) in ledger.sales.range(..=query.to) {
        *monthly_sales.entry(first_of_month(*day)).or_default() += sales;
    }
    CurrencyKpis {
        currency: currency.code().to_owned(),
        receivables: Receivables {
            beginning: ledger.beginning,
            ending: ledger.ending,
            ending_current: ledger.ending_current,
            ending_overdue: overdue,
        },
        credit_sales,
        collected: ledger.collected,
        dso: dso(ledger.ending, credit_sales, days),
        countback_dso: countback_dso(ledger.ending, &monthly_sales, query.to),
        best_possible_dso: dso(ledger.ending_current, credit_sales, days),
        add: dso(overdue, credit_sales, days),
        cei: cei(
            ledger.beginning,
            credit_sales,
            ledger.ending,
            ledger.ending_current,
        ),
        collection_rate: percent(
            i128::from(ledger.collected),
            i128::from(ledger.beginning) + i128::from(credit_sales),
        ),
        settled_invoices: ledger.settled,
        settled_on_time: ledger.settled_on_time,
        on_time_rate: percent(ledger.settled_on_time.into(), ledger.settled.into()),
        aging_series: ledger
            .aging
            .into_iter()
            .map(|(as_of, b)| AgingSnapshot {
                as_of,
                current: b.current,
                days_1_30: b.days_1_30,
                days_31_60: b.days_31_60,
                days_61_90: b.days_61_90,
                days_over_90: b.days_over_90,
                total: b.total,
            })
            .collect(),
        messages: message_kpis(currency, &outreach),
    }
}

/// `num / den` to 0.01, half away from zero; `None` when `den` is 0.
pub fn hundredths(num: i128, den: i128) -> Option<f64> {
    if den == 0 {
        return None;
    }
    let scaled = num * 100;
    let (mut q, r) = (scaled / den, scaled % den);
    if 2 * r.abs() >= den.abs() {
        q += if (scaled < 0) == (den < 0) { 1 } else { -1 };
    }
    Some(q as f64 / 100.0)
}

/// `part / whole × 100`, to 0.01.
pub fn percent(part: i128, whole: i128) -> Option<f64> {
    hundredths(part * 100, whole)
}

/// `receivables / credit_sales × days`: DSO with the ending receivables,
/// best possible DSO with the current ones, ADD with the overdue ones.
pub fn dso(receivables: i64, credit_sales: i64, days: i64) -> Option<f64> {
    hundredths(
        i128::from(receivables) * i128::from(days),
        i128::from(credit_sales),
    )
}

/// Countback DSO: the ending receivables are matched against credit sales
/// walking back from `to`, month by month (the first slice is `to`'s month
/// up to `to`, then whole calendar months). A month whose sales the rest
/// of the receivables exceed counts whole; the month that covers the rest
/// counts the fraction `rest / sales` of its days. `None` without
/// receivables to explain (0 receivables is 0 days) or when sales run out
/// first (they cannot, as receivables come from sales).
pub fn countback_dso(
    ending: i64,
    monthly_sales: &BTreeMap<NaiveDate, i64>,
    to: NaiveDate,
) -> Option<f64> {
    if ending <= 0 {
        return Some(0.0);
    }
    let mut rest = i128::from(ending);
    let mut whole_days: i128 = 0;
    let mut month = first_of_month(to);
    let earliest = *monthly_sales.keys().next()?;
    while month >= earliest {
        let slice_end = if month == first_of_month(to) {
            to
        } else {
            last_of_month(month)
        };
        let slice_days = i128::from((slice_end - month).num_days() + 1);
        let sales = i128::from(monthly_sales.get(&month).copied().unwrap_or(0));
        if sales >= rest && sales > 0 {
            return hundredths(whole_days * sales + rest * slice_days, sales);
        }
        rest -= sales.max(0);
        whole_days += slice_days;
        month = month.checked_sub_months(Months::new(1))?;
    }
    None
}

/// Collection effectiveness index:
/// `(beginning + sales − ending) / (beginning + sales − ending current) × 100`.
pub fn cei(beginning: i64, credit_sales: i64, ending: i64, ending_current: i64) -> Option<f64> {
    let available = i128::from(beginning) + i128::from(credit_sales);
    percent(
        available - i128::from(ending),
        available - i128::from(ending_current),
    )
}

/// Whether `payment` answers `reminder`: the same debtor, and received
/// within [`RESPONSE_WINDOW_DAYS`] of the send — by the instant when the
/// payment has one (not before the reminder), else by the date (from the
/// send's UTC date to 7 days after it).
pub fn answers(reminder: &SentReminder, payment: &PaymentSeen) -> bool {
    if payment.debtor != reminder.debtor {
        return false;
    }
    let window = Duration::days(RESPONSE_WINDOW_DAYS);
    match payment.received_at {
        Some(at) => at >= reminder.sent_at && at <= reminder.sent_at + window,
        None => {
            let sent_on = reminder.sent_at.date_naive();
            payment.received_on >= sent_on && payment.received_on <= sent_on + window
        }
    }
}

fn message_kpis(currency: Currency, outreach: &Outreach) -> MessageKpis {
    let mut payments_by_debtor: BTreeMap<i64, Vec<&PaymentSeen>> = BTreeMap::new();
    for p in &outreach.payments {
        payments_by_debtor.entry(p.debtor).or_default().push(p);
    }
    let mut all = (0u64, 0u64);
    let mut by: BTreeMap<(Channel, Tone), (u64, u64)> = BTreeMap::new();
    for reminder in &outreach.reminders {
        let answered = payments_by_debtor
            .get(&reminder.debtor)
            .is_some_and(|ps| ps.iter().any(|p| answers(reminder, p)));
        let entry = by.entry((reminder.channel, reminder.tone)).or_default();
        for counts in [&mut all, entry] {
            counts.0 += 1;
            counts.1 += u64::from(answered);
        }
    }
    let responses = |(sent, answered): (u64, u64)| Responses {
        sent,
        answered,
        response_rate: percent(answered.into(), sent.into()),
    };
    let days: i128 = outreach
        .reminded_settlements
        .iter()
        .map(|(first, paid)| i128::from((*paid - *first).num_days()))
        .sum();
    let paid = outreach.reminded_settlements.len() as u64;
    let major = 10i128.pow(u32::from(currency.exponent()));
    let overall = responses(all);
    MessageKpis {
        sent: overall.sent,
        answered: overall.answered,
        response_rate: overall.response_rate,
        by_channel_and_tone: by
            .into_iter()
            .map(|((channel, tone), counts)| ChannelToneResponses {
                channel,
                tone,
                responses: responses(counts),
            })
            .collect(),
        reminded_invoices_paid: paid,
        average_days_to_pay_after_first_reminder: hundredths(days, paid.into()),
        collected_after_reminder: outreach.collected_after_reminder,
        messages_per_1000_collected: if outreach.collected_after_reminder > 0 {
            hundredths(
                i128::from(all.0) * 1000 * major,
                i128::from(outreach.collected_after_reminder),
            )
        } else {
            None
        },
    }
}

/// The report for people: one block per currency, then its aging series.
pub fn table(tenant: &str, report: &KpiReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let filters: Vec<String> = [
        report.segment.as_ref().map(|s| format!("segment {s}")),
        report
            .plugin_version
            .as_ref()
            .map(|s| format!("strategy {s}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    let _ = writeln!(
        out,
        "KPIs of {tenant}, {} to {} ({} days){}",
        report.from,
        report.to,
        report.days,
        if filters.is_empty() {
            String::new()
        } else {
            format!(", {}", filters.join(", "))
        }
    );
    if report.currencies.is_empty() {
        let _ = writeln!(out, "\nnothing in this period");
    }
    let or_dash = |value: Option<f64>, unit: &str| match value {
        Some(v) => format!("{v:.2}{unit}"),
        None => "-".to_owned(),
    };
    for c in &report.currencies {
        let Some(currency) = Currency::from_code(&c.currency) else {
            continue;
        };
        let money = |minor: i64| currency.format_minor(minor);
        let m = &c.messages;
        let mut rows: Vec<(String, String)> = vec![
            (
                "receivables at the start".into(),
                money(c.receivables.beginning),
            ),
            ("receivables at the end".into(), money(c.receivables.ending)),
            ("  not yet due".into(), money(c.receivables.ending_current)),
            ("  overdue".into(), money(c.receivables.ending_overdue)),
            ("credit sales".into(), money(c.credit_sales)),
            ("collected".into(), money(c.collected)),
            ("DSO".into(), or_dash(c.dso, " days")),
            ("countback DSO".into(), or_dash(c.countback_dso, " days")),
            (
                "best possible DSO".into(),
                or_dash(c.best_possible_dso, " days"),
            ),
            (
                "ADD (average days delinquent)".into(),
                or_dash(c.add, " days"),
            ),
            ("CEI".into(), or_dash(c.cei, " %")),
            ("collection rate".into(), or_dash(c.collection_rate, " %")),
            (
                "on-time rate".into(),
                format!(
                    "{} ({} of {} paid)",
                    or_dash(c.on_time_rate, " %"),
                    c.settled_on_time,
                    c.settled_invoices
                ),
            ),
            ("reminders sent".into(), m.sent.to_string()),
            (
                "response rate (payment within 7 days)".into(),
                format!(
                    "{} ({} answered)",
                    or_dash(m.response_rate, " %"),
                    m.answered
                ),
            ),
        ];
        for r in &m.by_channel_and_tone {
            rows.push((
                format!("  {} {}", r.channel.as_str(), r.tone.as_str()),
                format!(
                    "{} ({} of {})",
                    or_dash(r.responses.response_rate, " %"),
                    r.responses.answered,
                    r.responses.sent
                ),
            ));
        }
        rows.extend([
            (
                "days to pay after the first reminder".into(),
                format!(
                    "{} ({} invoices)",
                    or_dash(m.average_days_to_pay_after_first_reminder, ""),
                    m.reminded_invoices_paid
                ),
            ),
            (
                "collected after a reminder".into(),
                money(m.collected_after_reminder),
            ),
            (
                format!("reminders per 1000 {} collected", c.currency),
                or_dash(m.messages_per_1000_collected, ""),
            ),
        ]);
        let _ = writeln!(out, "\n{}", c.currency);
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (label, value) in rows {
            let _ = writeln!(out, "  {label:<width$}  {value}");
        }
        let _ = writeln!(
            out,
            "\n  {:<10}  {:>14}  {:>14}  {:>14}  {:>14}  {:>14}  {:>14}",
            "aging", "current", "1-30", "31-60", "61-90", "90+", "total"
        );
        for s in &c.aging_series {
            let _ = writeln!(
                out,
                "  {:<10}  {:>14}  {:>14}  {:>14}  {:>14}  {:>14}  {:>14}",
                s.as_of.to_string(),
                money(s.current.amount),
                money(s.days_1_30.amount),
                money(s.days_31_60.amount),
                money(s.days_61_90.amount),
                money(s.days_over_90.amount),
                money(s.total.amount)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn query(from: &str, to: &str) -> Query {
        Query::new(
            Some(date(from)),
            Some(date(to)),
            None,
            None,
            None,
            date("2030-01-01"),
        )
        .unwrap()
    }

    #[test]
    fn rounding_is_to_the_hundredth_half_away_from_zero() {
        assert_eq!(hundredths(1, 3), Some(0.33));
        assert_eq!(hundredths(2, 3), Some(0.67));
        assert_eq!(hundredths(1, 200), Some(0.01)); // 0.005
        assert_eq!(hundredths(-1, 200), Some(-0.01));
        assert_eq!(hundredths(1, -200), Some(-0.01));
        assert_eq!(hundredths(1, 201), Some(0.0));
        assert_eq!(hundredths(5, 0), None);
        assert_eq!(percent(1, 8), Some(12.5));
    }

    #[test]
    fn the_period_and_its_defaults() {
        let q = query("2013-01-01", "2013-12-31");
        assert_eq!(q.days(), 365);
        assert_eq!(q.eve(), date("2012-12-31"));
        let dates = q.snapshot_dates();
        assert_eq!(dates.len(), 12);
        assert_eq!(dates[1], date("2013-02-28"));
        assert_eq!(dates[11], date("2013-12-31"));
        // A period ending mid-month ends its series on `to`.
        assert_eq!(
            query("2012-02-10", "2012-04-15").snapshot_dates(),
            vec![date("2012-02-29"), date("2012-03-31"), date("2012-04-15")]
        );
        assert_eq!(
            query("2013-06-03", "2013-06-03").snapshot_dates(),
            vec![date("2013-06-03")]
        );
        let defaulted = Query::new(None, None, None, None, None, date("2026-05-20")).unwrap();
        assert_eq!(
            (defaulted.from, defaulted.to),
            (date("2025-05-21"), date("2026-05-20"))
        );
        assert_eq!(defaulted.days(), 365);
    }

    #[test]
    fn bad_parameters_are_named() {
        let today = date("2026-05-20");
        let fields = |r: Result<Query, Vec<FieldError>>| -> Vec<String> {
            r.unwrap_err().into_iter().map(|e| e.field).collect()
        };
        assert_eq!(
            fields(Query::new(
                Some(date("2013-02-01")),
                Some(date("2013-01-01")),
                None,
                None,
                Some("EURO".into()),
                today
            )),
            vec!["from", "currency"]
        );
        assert_eq!(
            fields(Query::new(
                Some(date("2000-01-01")),
                Some(date("2013-01-01")),
                Some(String::new()),
                None,
                None,
                today
            )),
            vec!["from", "segment"]
        );
        assert_eq!(
            fields(Query::new(
                None,
                Some(NaiveDate::from_ymd_opt(10_000, 1, 1).unwrap()),
                None,
                None,
                None,
                today
            )),
            vec!["to"]
        );
    }

    /// By hand: receivables 30,000 at the end of a 90-day quarter with
    /// sales of 90,000: DSO 30 days; 20,000 of it current: best possible
    /// DSO 20, ADD 10. Beginning 15,000: CEI = (15,000 + 90,000 − 30,000)
    /// / (15,000 + 90,000 − 20,000) = 75,000 / 85,000 = 88.235…% → 88.24.
    #[test]
    fn dso_best_possible_add_and_cei_by_hand() {
        assert_eq!(dso(30_000, 90_000, 90), Some(30.0));
        assert_eq!(dso(20_000, 90_000, 90), Some(20.0));
        assert_eq!(dso(10_000, 90_000, 90), Some(10.0));
        assert_eq!(dso(10_000, 0, 90), None);
        assert_eq!(dso(100, 300, 31), Some(10.33));
        assert_eq!(cei(15_000, 90_000, 30_000, 20_000), Some(88.24));
        assert_eq!(cei(0, 0, 0, 0), None);
    }

    /// By hand: 2013 sales Oct 40,000, Nov 30,000, Dec (to the 31st)
    /// 20,000; receivables 35,000 at 31 December. December's 20,000 is
    /// used up (31 days), 15,000 is left against November's 30,000: half
    /// of its 30 days. 31 + 15 = 46 days.
    #[test]
    fn countback_walks_back_month_by_month() {
        let sales: BTreeMap<NaiveDate, i64> = [
            (date("2013-10-01"), 40_000),
            (date("2013-11-01"), 30_000),
            (date("2013-12-01"), 20_000),
        ]
        .into();
        assert_eq!(
            countback_dso(35_000, &sales, date("2013-12-31")),
            Some(46.0)
        );
        // Within the last month: 10,000 of 20,000 is half of 31 days.
        assert_eq!(
            countback_dso(10_000, &sales, date("2013-12-31")),
            Some(15.5)
        );
        // Ending mid-month: the first slice is 1-15 December (15 days).
        assert_eq!(
            countback_dso(30_000, &sales, date("2013-12-15")),
            Some(25.0)
        );
        // A month without sales counts whole: 60,000 passes December (31),
        // November (30), and is 10,000 of October's 40,000 (31 × 1/4).
        let gap: BTreeMap<NaiveDate, i64> = [
            (date("2013-10-01"), 40_000),
            (date("2013-11-01"), 50_000),
            (date("2013-12-01"), 0),
        ]
        .into();
        assert_eq!(countback_dso(60_000, &gap, date("2013-12-31")), Some(68.75));
        assert_eq!(countback_dso(0, &sales, date("2013-12-31")), Some(0.0));
        assert_eq!(countback_dso(1_000_000, &sales, date("2013-12-31")), None);
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_payment_answers_a_reminder_within_seven_days() {
        let reminder = SentReminder {
            debtor: 1,
            channel: Channel::Email,
            tone: Tone::Gentle,
            sent_at: at("2026-05-04T10:00:00Z"),
        };
        let by_instant = |s: &str| PaymentSeen {
            debtor: 1,
            received_on: at(s).date_naive(),
            received_at: Some(at(s)),
        };
        let by_date = |s: &str| PaymentSeen {
            debtor: 1,
            received_on: date(s),
            received_at: None,
        };
        assert!(answers(&reminder, &by_instant("2026-05-04T10:00:00Z")));
        assert!(answers(&reminder, &by_instant("2026-05-11T10:00:00Z")));
        assert!(!answers(&reminder, &by_instant("2026-05-11T10:00:01Z")));
        assert!(!answers(&reminder, &by_instant("2026-05-04T09:59:59Z")));
        assert!(answers(&reminder, &by_date("2026-05-04")));
        assert!(answers(&reminder, &by_date("2026-05-11")));
        assert!(!answers(&reminder, &by_date("2026-05-12")));
        assert!(!answers(&reminder, &by_date("2026-05-03")));
        let other = PaymentSeen {
            debtor: 2,
            ..by_date("2026-05-05")
        };
        assert!(!answers(&reminder, &other));
    }

    /// By hand: three reminders, two answered (one email, the sms), one
    /// not; two reminded invoices paid 3 and 4 days after their first
    /// reminder (3.5); 3 messages for EUR 1,500.00 collected after them
    /// is 2 per EUR 1,000.
    #[test]
    fn message_figures_by_hand() {
        let reminder = |debtor, channel, tone, sent: &str| SentReminder {
            debtor,
            channel,
            tone,
            sent_at: at(sent),
        };
        let outreach = Outreach {
            reminders: vec![
                reminder(1, Channel::Email, Tone::Gentle, "2026-05-04T10:00:00Z"),
                reminder(2, Channel::Email, Tone::Gentle, "2026-05-04T10:00:00Z"),
                reminder(3, Channel::Sms, Tone::Firm, "2026-05-05T10:00:00Z"),
            ],
            payments: vec![
                PaymentSeen {
                    debtor: 1,
                    received_on: date("2026-05-07"),
                    received_at: None,
                },
                PaymentSeen {
                    debtor: 2,
                    received_on: date("2026-05-20"),
                    received_at: None,
                },
                PaymentSeen {
                    debtor: 3,
                    received_on: date("2026-05-06"),
                    received_at: Some(at("2026-05-06T08:00:00Z")),
                },
            ],
            reminded_settlements: vec![
                (date("2026-05-04"), date("2026-05-07")),
                (date("2026-05-05"), date("2026-05-09")),
            ],
            collected_after_reminder: 150_000,
        };
        let eur = Currency::from_code("EUR").unwrap();
        let m = message_kpis(eur, &outreach);
        assert_eq!((m.sent, m.answered, m.response_rate), (3, 2, Some(66.67)));
        let rows: Vec<(Channel, Tone, u64, u64, Option<f64>)> = m
            .by_channel_and_tone
            .iter()
            .map(|r| {
                (
                    r.channel,
                    r.tone,
                    r.responses.sent,
                    r.responses.answered,
                    r.responses.response_rate,
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (Channel::Email, Tone::Gentle, 2, 1, Some(50.0)),
                (Channel::Sms, Tone::Firm, 1, 1, Some(100.0)),
            ]
        );
        assert_eq!(m.reminded_invoices_paid, 2);
        assert_eq!(m.average_days_to_pay_after_first_reminder, Some(3.5));
        assert_eq!(m.messages_per_1000_collected, Some(2.0));
        // 1,500 minor units are ¥1,500 (JPY has no minor unit): 2 per
        // ¥1,000; in EUR they are €15.00: 200 per €1,000.
        let jpy = Currency::from_code("JPY").unwrap();
        let outreach = Outreach {
            collected_after_reminder: 1_500,
            ..outreach
        };
        assert_eq!(
            message_kpis(jpy, &outreach).messages_per_1000_collected,
            Some(2.0)
        );
        assert_eq!(
            message_kpis(eur, &outreach).messages_per_1000_collected,
            Some(200.0)
        );
        let none = message_kpis(eur, &Outreach::default());
        assert_eq!((none.sent, none.response_rate), (0, None));
        assert_eq!(none.average_days_to_pay_after_first_reminder, None);
        assert_eq!(none.messages_per_1000_collected, None);
    }

    /// By hand, December 2013: sales 30,000 on 15 November and 20,000 on
    /// 10 December; receivables 40,000 at the start, 35,000 at the end
    /// (10,000 not yet due); 25,000 collected. Credit sales are
    /// December's 20,000: DSO 35/20 × 31 = 54.25, best possible 15.50, ADD
    /// 38.75; countback 31 + 15/30 × 30 = 46; CEI (60 − 35) / (60 − 10) =
    /// 50 %; collection rate 25 / 60 = 41.67 %.
    #[test]
    fn credit_sales_are_the_periods_and_countback_reaches_before_it() {
        let q = query("2013-12-01", "2013-12-31");
        let ledger = Ledger {
            beginning: 40_000,
            ending: 35_000,
            ending_current: 10_000,
            sales: [(date("2013-11-15"), 30_000), (date("2013-12-10"), 20_000)].into(),
            collected: 25_000,
            settled: 3,
            settled_on_time: 2,
            aging: vec![],
        };
        let report = compute(
            &q,
            vec![CurrencyInputs {
                currency: Currency::from_code("EUR").unwrap(),
                ledger,
                outreach: Outreach::default(),
            }],
        );
        let eur = &report.currencies[0];
        assert_eq!((eur.credit_sales, eur.collected), (20_000, 25_000));
        assert_eq!(eur.receivables.ending_overdue, 25_000);
        assert_eq!(
            (eur.dso, eur.best_possible_dso, eur.add, eur.countback_dso),
            (Some(54.25), Some(15.5), Some(38.75), Some(46.0))
        );
        assert_eq!(
            (eur.cei, eur.collection_rate, eur.on_time_rate),
            (Some(50.0), Some(41.67), Some(66.67))
        );
    }

    #[test]
    fn a_currency_without_anything_has_null_ratios() {
        let q = query("2013-01-01", "2013-03-31");
        let report = compute(
            &q,
            vec![CurrencyInputs {
                currency: Currency::from_code("USD").unwrap(),
                ledger: Ledger::default(),
                outreach: Outreach::default(),
            }],
        );
        let usd = &report.currencies[0];
        assert_eq!(report.days, 90);
        assert_eq!(
            (
                usd.dso,
                usd.countback_dso,
                usd.cei,
                usd.collection_rate,
                usd.on_time_rate
            ),
            (None, Some(0.0), None, None, None)
        );
    }
}
