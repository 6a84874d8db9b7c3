//! What the KPIs are computed from (`crate::kpi`), read from the store for
//! one tenant and period: receivables as of a date (through `aging`, from
//! dated allocations and fees), credit sales by day, cash allocated,
//! settlements, and the reminders that went out with the payments after
//! them. Every query filters on the tenant id.
//!
//! The `segment` and `plugin_version` filters select messages by the
//! evaluation that scheduled them (`outbox.evaluation_id`), and debtors for
//! the receivable figures by their latest evaluation on or before `to`.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rusqlite::{Connection, params};

use super::Result;
use super::aging;
use crate::case::{Channel, Tone};
use crate::kpi::{
    self, CurrencyInputs, KpiReport, Ledger, Outreach, PaymentSeen, Query, SentReminder,
};
use crate::money::Currency;

/// The report for `query`, computed.
pub fn report(conn: &Connection, tenant_id: i64, query: &Query) -> Result<KpiReport> {
    Ok(kpi::compute(query, gather(conn, tenant_id, query)?))
}

/// The evaluation filters as SQL over `e` (an `evaluations` row), the
/// segment and the strategy being the parameters numbered `segment` and
/// `segment + 1`. A strategy without `@` also matches each uploaded
/// version of it (`net-30` matches `net-30@1.0.0`).
fn evaluation_filter(segment: usize) -> String {
    let (g, s) = (segment, segment + 1);
    format!(
        "(?{g} IS NULL OR e.segment = ?{g})
         AND (?{s} IS NULL OR e.strategy = ?{s}
              OR (instr(?{s}, '@') = 0 AND substr(e.strategy, 1, length(?{s}) + 1) = ?{s} || '@'))"
    )
}

/// Everything the report needs, per currency.
pub fn gather(conn: &Connection, tenant_id: i64, query: &Query) -> Result<Vec<CurrencyInputs>> {
    let debtors = if query.is_scoped() {
        Some(scoped_debtors(conn, tenant_id, query)?)
    } else {
        None
    };
    let mut reminders = sent_reminders(conn, tenant_id, query)?;
    let currencies: BTreeSet<String> = match &query.currency {
        Some(code) => [code.clone()].into(),
        None => {
            let mut codes = ledger_currencies(conn, tenant_id, query.to, debtors.as_deref())?;
            codes.extend(reminders.keys().cloned());
            codes
        }
    };
    let mut inputs = Vec::with_capacity(currencies.len());
    for code in currencies {
        let Some(currency) = Currency::from_code(&code) else {
            continue;
        };
        let reminders = reminders.remove(&code).unwrap_or_default();
        let outreach = outreach(conn, tenant_id, query, &code, reminders)?;
        inputs.push(CurrencyInputs {
            currency,
            ledger: ledger(conn, tenant_id, query, &code, debtors.as_deref())?,
            outreach,
        });
    }
    Ok(inputs)
}

/// Debtors whose latest evaluation on or before `to` matches the filters.
fn scoped_debtors(conn: &Connection, tenant_id: i64, query: &Query) -> Result<Vec<i64>> {
    let sql = format!(
        "SELECT debtor_id FROM (
             SELECT e.debtor_id, e.segment, e.strategy,
                    ROW_NUMBER() OVER (PARTITION BY e.debtor_id ORDER BY e.at DESC, e.id DESC) AS n
             FROM evaluations e WHERE e.tenant_id = ?1 AND substr(e.at, 1, 10) <= ?2) e
         WHERE n = 1 AND {}",
        evaluation_filter(3)
    );
    let ids = conn
        .prepare_cached(&sql)?
        .query_map(
            params![tenant_id, query.to, query.segment, query.plugin_version],
            |r| r.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}

/// The currencies of the invoices issued on or before `to`.
fn ledger_currencies(
    conn: &Connection,
    tenant_id: i64,
    to: NaiveDate,
    debtors: Option<&[i64]>,
) -> Result<BTreeSet<String>> {
    let debtors = debtors.map(|d| super::to_json(&d)).transpose()?;
    let codes = conn
        .prepare_cached(
            "SELECT DISTINCT currency FROM invoices i
             WHERE i.tenant_id = ?1 AND i.issued_on <= ?2
               AND (?3 IS NULL OR i.debtor_id IN (SELECT value FROM json_each(?3)))",
        )?
        .query_map(params![tenant_id, to, debtors], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(codes)
}

/// One currency's receivables, sales, cash and settlements.
fn ledger(
    conn: &Connection,
    tenant_id: i64,
    query: &Query,
    currency: &str,
    debtors: Option<&[i64]>,
) -> Result<Ledger> {
    let total = |as_of: NaiveDate| -> Result<aging::AgingBuckets> {
        let report = aging::report_for(conn, tenant_id, as_of, Some(currency), debtors)?;
        Ok(report
            .currencies
            .into_iter()
            .next()
            .unwrap_or_else(|| aging::AgingBuckets {
                currency: currency.to_owned(),
                ..Default::default()
            }))
    };
    let mut ledger = Ledger {
        beginning: total(query.eve())?.total.amount,
        ..Ledger::default()
    };
    for as_of in query.snapshot_dates() {
        ledger.aging.push((as_of, total(as_of)?));
    }
    if let Some((_, ending)) = ledger.aging.last() {
        ledger.ending = ending.total.amount;
        ledger.ending_current = ending.current.amount;
    }
    let json = debtors.map(|d| super::to_json(&d)).transpose()?;
    // Invoices by issue date, without their fees (counted when charged);
    // not those voided by `to`, which were never owed as of `to`.
    let mut sales: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    let mut add = |rows: Vec<(NaiveDate, i64)>| {
        for (day, amount) in rows {
            *sales.entry(day).or_default() += amount;
        }
    };
    add(conn
        .prepare_cached(
            "SELECT i.issued_on, SUM(i.amount - i.fees) FROM invoices i
             WHERE i.tenant_id = ?1 AND i.currency = ?2 AND i.issued_on <= ?3
               AND (i.voided_on IS NULL OR i.voided_on > ?3)
               AND (?4 IS NULL OR i.debtor_id IN (SELECT value FROM json_each(?4)))
             GROUP BY i.issued_on",
        )?
        .query_map(params![tenant_id, currency, query.to, json], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?);
    let fees: Vec<(String, i64)> = conn
        .prepare_cached(
            "SELECT substr(f.charged_at, 1, 10) AS day, SUM(f.amount) FROM fees f JOIN invoices i ON i.id = f.invoice_id
             WHERE f.tenant_id = ?1 AND i.currency = ?2 AND substr(f.charged_at, 1, 10) <= ?3
               AND (i.voided_on IS NULL OR i.voided_on > ?3)
               AND (?4 IS NULL OR i.debtor_id IN (SELECT value FROM json_each(?4)))
             GROUP BY day",
        )?
        .query_map(params![tenant_id, currency, query.to, json], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    add(fees
        .into_iter()
        .filter_map(|(day, amount)| Some((day.parse().ok()?, amount)))
        .collect());
    ledger.sales = sales;
    ledger.collected = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(a.amount), 0) FROM allocations a JOIN invoices i ON i.id = a.invoice_id
             WHERE i.tenant_id = ?1 AND i.currency = ?2 AND a.on_date BETWEEN ?3 AND ?4
               AND (?5 IS NULL OR i.debtor_id IN (SELECT value FROM json_each(?5)))",
        )?
        .query_row(
            params![tenant_id, currency, query.from, query.to, json],
            |r| r.get(0),
        )?;
    (ledger.settled, ledger.settled_on_time) = conn
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(i.paid_on <= i.due_on), 0) FROM invoices i
             WHERE i.tenant_id = ?1 AND i.currency = ?2 AND i.status = 'paid'
               AND i.paid_on BETWEEN ?3 AND ?4
               AND (?5 IS NULL OR i.debtor_id IN (SELECT value FROM json_each(?5)))",
        )?
        .query_row(
            params![tenant_id, currency, query.from, query.to, json],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
    Ok(ledger)
}

/// Reminders sent in the period by evaluations matching the filters, per
/// currency of the invoices they named (a reminder naming invoices in two
/// currencies counts in both).
fn sent_reminders(
    conn: &Connection,
    tenant_id: i64,
    query: &Query,
) -> Result<BTreeMap<String, Vec<SentReminder>>> {
    let sql = format!(
        "SELECT DISTINCT o.id, i.currency, o.debtor_id, o.channel, o.tone, o.sent_at
         FROM outbox o
         JOIN evaluations e ON e.id = o.evaluation_id
         JOIN json_each(o.invoice_ids) j
         JOIN invoices i ON i.tenant_id = o.tenant_id AND i.external_id = j.value
         WHERE o.tenant_id = ?1 AND o.status = 'sent'
           AND substr(o.sent_at, 1, 10) BETWEEN ?2 AND ?3
           AND (?4 IS NULL OR i.currency = ?4)
           AND {}
         ORDER BY o.id",
        evaluation_filter(5)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![
            tenant_id,
            query.from,
            query.to,
            query.currency,
            query.segment,
            query.plugin_version
        ],
        |r| {
            Ok((
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, DateTime<Utc>>(5)?,
            ))
        },
    )?;
    let mut out: BTreeMap<String, Vec<SentReminder>> = BTreeMap::new();
    for row in rows {
        let (currency, debtor, channel, tone, sent_at) = row?;
        let (Some(channel), Ok(tone)) = (
            Channel::parse(&channel),
            serde_json::from_value::<Tone>(serde_json::Value::String(tone)),
        ) else {
            continue;
        };
        out.entry(currency).or_default().push(SentReminder {
            debtor,
            channel,
            tone,
            sent_at,
        });
    }
    Ok(out)
}

/// One currency's message figures' inputs.
fn outreach(
    conn: &Connection,
    tenant_id: i64,
    query: &Query,
    currency: &str,
    reminders: Vec<SentReminder>,
) -> Result<Outreach> {
    let filters = params![
        tenant_id,
        query.from,
        query.to,
        currency,
        query.segment,
        query.plugin_version
    ];
    // Payments that may answer the period's reminders: received from the
    // day before its start (an instant may be a day off its date) to a
    // week and a day after its end.
    let debtors: HashSet<i64> = reminders.iter().map(|r| r.debtor).collect();
    let mut payments = Vec::new();
    if !debtors.is_empty() {
        let window = Duration::days(kpi::RESPONSE_WINDOW_DAYS + 1);
        let mut stmt = conn.prepare_cached(
            "SELECT p.debtor_id, p.received_on, p.received_at FROM payments p
             WHERE p.tenant_id = ?1 AND p.currency = ?2 AND p.received_on BETWEEN ?3 AND ?4",
        )?;
        let rows = stmt.query_map(
            params![tenant_id, currency, query.eve(), query.to + window],
            |r| {
                Ok(PaymentSeen {
                    debtor: r.get(0)?,
                    received_on: r.get(1)?,
                    received_at: r.get(2)?,
                })
            },
        )?;
        for row in rows {
            let payment = row?;
            if debtors.contains(&payment.debtor) {
                payments.push(payment);
            }
        }
    }
    let sql = format!(
        "SELECT MIN(substr(o.sent_at, 1, 10)), i.paid_on
         FROM invoices i
         JOIN outbox o ON o.debtor_id = i.debtor_id AND o.status = 'sent'
         JOIN json_each(o.invoice_ids) j ON j.value = i.external_id
         JOIN evaluations e ON e.id = o.evaluation_id
         WHERE i.tenant_id = ?1 AND i.currency = ?4 AND i.status = 'paid'
           AND i.paid_on BETWEEN ?2 AND ?3
           AND substr(o.sent_at, 1, 10) <= i.paid_on
           AND {}
         GROUP BY i.id",
        evaluation_filter(5)
    );
    let settled: Vec<(String, NaiveDate)> = conn
        .prepare_cached(&sql)?
        .query_map(filters, |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let reminded_settlements = settled
        .into_iter()
        .filter_map(|(first, paid)| Some((first.parse().ok()?, paid)))
        .collect();
    let sql = format!(
        "SELECT COALESCE(SUM(a.amount), 0) FROM allocations a JOIN invoices i ON i.id = a.invoice_id
         WHERE i.tenant_id = ?1 AND i.currency = ?4 AND a.on_date BETWEEN ?2 AND ?3
           AND EXISTS (SELECT 1 FROM outbox o
                       JOIN json_each(o.invoice_ids) j ON j.value = i.external_id
                       JOIN evaluations e ON e.id = o.evaluation_id
                       WHERE o.debtor_id = i.debtor_id AND o.status = 'sent'
                         AND substr(o.sent_at, 1, 10) <= a.on_date
                         AND {})",
        evaluation_filter(5)
    );
    let collected_after_reminder = conn
        .prepare_cached(&sql)?
        .query_row(filters, |r| r.get(0))?;
    Ok(Outreach {
        reminders,
        payments,
        reminded_settlements,
        collected_after_reminder,
    })
}

/// Evaluations decided in the query's period within its segment and
/// strategy filters: how many, and how many of them faulted.
pub fn evaluations(conn: &Connection, tenant_id: i64, query: &Query) -> Result<(u64, u64)> {
    let from = query.from.and_time(chrono::NaiveTime::MIN).and_utc();
    let until = (query.to + chrono::Days::new(1))
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    Ok(conn
        .prepare_cached(&format!(
            "SELECT COUNT(*), COALESCE(SUM(e.outcome <> 'ok'), 0) FROM evaluations e
             WHERE e.tenant_id = ?1 AND e.at >= ?4 AND e.at < ?5 AND {}",
            evaluation_filter(2)
        ))?
        .query_row(
            params![tenant_id, query.segment, query.plugin_version, from, until],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::debtors::DebtorInput;
    use crate::store::evaluations::{self, ActionVerdict, NewEvaluation};
    use crate::store::invoices::{self, NewInvoice};
    use crate::store::payments::{self, NewPayment, NewRefund, Overpayment};
    use crate::store::{Store, debtors, tenants};

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn noon(day: &str) -> DateTime<Utc> {
        let d = date(day);
        Utc.from_utc_datetime(&d.and_hms_opt(12, 0, 0).unwrap())
    }

    fn debtor(id: &str) -> DebtorInput {
        DebtorInput {
            external_id: id.into(),
            name: id.into(),
            email: None,
            phone: None,
            postal_address: None,
            time_zone: "UTC".into(),
            language: "en".into(),
            tags: vec![],
        }
    }

    fn invoice(id: &str, debtor: &str, amount: i64, issued: &str, due: &str) -> NewInvoice {
        NewInvoice {
            external_id: id.into(),
            debtor_id: debtor.into(),
            number: None,
            currency: "EUR".into(),
            amount,
            issued_on: date(issued),
            due_on: date(due),
            terms: Default::default(),
            metadata: None,
        }
    }

    /// An evaluation of `debtor` at `at` in `segment` running `strategy`,
    /// keeping `actions` (JSON).
    fn evaluation(
        conn: &Connection,
        tenant: i64,
        debtor: &str,
        at: DateTime<Utc>,
        segment: &str,
        strategy: &str,
        actions: Vec<serde_json::Value>,
    ) {
        let new = NewEvaluation {
            at,
            debtor_version: evaluations::debtor_version(conn, tenant, debtor).unwrap(),
            segment: segment.into(),
            strategy: strategy.into(),
            plugin_digest: "0".into(),
            contract: "0.1.0".into(),
            input_hash: "0".into(),
            input: Vec::new(),
            outcome: "ok".into(),
            error: None,
            plan: Some(serde_json::json!({ "actions": actions })),
            verdicts: actions
                .into_iter()
                .map(|a| ActionVerdict {
                    planned: a.clone(),
                    verdict: "kept".into(),
                    action: Some(a),
                    reasons: vec![],
                })
                .collect(),
            log: serde_json::json!({ "lines": [] }),
            fuel_used: None,
            duration_us: 1,
            review_at: None,
            shadow: None,
        };
        evaluations::record(conn, tenant, debtor, &new, at).unwrap();
    }

    fn query(from: &str, to: &str, segment: Option<&str>, strategy: Option<&str>) -> Query {
        Query::new(
            Some(date(from)),
            Some(date(to)),
            segment.map(Into::into),
            strategy.map(Into::into),
            None,
            date("2026-06-01"),
        )
        .unwrap()
    }

    /// A fee counts from the day it was charged (in aging and as a sale),
    /// a voided invoice is never a sale and leaves receivables on the day
    /// it is voided, a refund is negative cash and re-opens receivables,
    /// and the filters pick debtors by their latest evaluation by `to`.
    #[test]
    fn fees_voids_refunds_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("dun.db")).unwrap();
        let tenant = store
            .write_blocking(|c| {
                let t = tenants::create(c, "t", "T", noon("2026-01-01"))?.row_id;
                for d in ["d1", "d2"] {
                    debtors::upsert(c, t, &debtor(d), noon("2026-01-01"))?;
                }
                let i1 = invoice("I1", "d1", 100_00, "2026-01-10", "2026-02-09");
                invoices::create(c, t, i1, noon("2026-01-10"))?;
                let i2 = invoice("I2", "d1", 50_00, "2026-02-05", "2026-03-07");
                invoices::create(c, t, i2, noon("2026-02-05"))?;
                let i3 = invoice("I3", "d2", 70_00, "2026-02-01", "2026-02-15");
                invoices::create(c, t, i3, noon("2026-02-01"))?;
                evaluation(c, t, "d2", noon("2026-02-10"), "s2", "net@1.0.0", vec![]);
                let fee = serde_json::json!({ "kind": "charge-fee", "invoice_id": "I1",
                    "fee": "late-fee", "amount": 5_00, "reason": "late" });
                evaluation(c, t, "d1", noon("2026-02-15"), "s1", "ladder", vec![fee]);
                invoices::void(c, t, "I2", "sent in error", noon("2026-02-20"))?;
                let payment = NewPayment {
                    external_id: None,
                    debtor_id: "d1".into(),
                    currency: "EUR".into(),
                    amount: 105_00,
                    received_on: Some(date("2026-02-25")),
                    received_at: None,
                    method: None,
                    reference: None,
                    allocations: None,
                    overpayment: Overpayment::Refuse,
                };
                let (paid, _) = payments::record(c, t, &payment, noon("2026-02-25"))?;
                let refund = NewRefund {
                    amount: 30_00,
                    refunded_on: Some(date("2026-03-02")),
                    reason: None,
                };
                payments::refund(c, t, &paid.id, &refund, noon("2026-03-02"))?;
                Ok(t)
            })
            .unwrap();
        let aging_total = |as_of: &str| {
            store
                .read_blocking(|c| aging::report(c, tenant, date(as_of), None))
                .unwrap()
                .currencies[0]
                .total
                .amount
        };
        // I1 without its fee, I2 not yet voided, I3.
        assert_eq!(aging_total("2026-02-14"), 100_00 + 50_00 + 70_00);
        // The fee from the 15th; I2 gone from the 20th.
        assert_eq!(aging_total("2026-02-15"), 105_00 + 50_00 + 70_00);
        assert_eq!(aging_total("2026-02-20"), 105_00 + 70_00);
        // Paid on the 25th, 30 re-opened on 2 March.
        assert_eq!(aging_total("2026-02-25"), 70_00);
        assert_eq!(aging_total("2026-03-02"), 30_00 + 70_00);

        let ledger = |q: &Query| {
            let inputs = store.read_blocking(|c| gather(c, tenant, q)).unwrap();
            inputs.into_iter().next().map(|i| i.ledger)
        };
        let feb = ledger(&query("2026-02-01", "2026-02-28", None, None)).unwrap();
        assert_eq!(
            (feb.beginning, feb.ending, feb.ending_current),
            (100_00, 70_00, 0)
        );
        // I3 on the 1st, the fee on the 15th; I1 in January; I2 voided.
        let sales: Vec<(NaiveDate, i64)> = feb.sales.into_iter().collect();
        assert_eq!(
            sales,
            vec![
                (date("2026-01-10"), 100_00),
                (date("2026-02-01"), 70_00),
                (date("2026-02-15"), 5_00)
            ]
        );
        assert_eq!(feb.collected, 105_00);
        // I1 was paid, then re-opened: not settled.
        assert_eq!((feb.settled, feb.settled_on_time), (0, 0));
        let march = ledger(&query("2026-03-01", "2026-03-31", None, None)).unwrap();
        assert_eq!(
            (march.beginning, march.ending, march.collected),
            (70_00, 100_00, -30_00)
        );

        // d1's latest evaluation (15 Feb) is in s1 running the ladder; d2's
        // (10 Feb) in s2 running net@1.0.0, which `net` matches too.
        let s1 = ledger(&query("2026-02-01", "2026-02-28", Some("s1"), None)).unwrap();
        assert_eq!((s1.beginning, s1.ending, s1.collected), (100_00, 0, 105_00));
        for strategy in ["net", "net@1.0.0"] {
            let net = ledger(&query("2026-02-01", "2026-02-28", None, Some(strategy))).unwrap();
            assert_eq!((net.beginning, net.ending, net.collected), (0, 70_00, 0));
        }
        assert_eq!(
            ledger(&query("2026-02-01", "2026-02-28", Some("s1"), Some("net"))),
            None
        );
        assert_eq!(
            ledger(&query("2026-02-01", "2026-02-28", None, Some("ne"))),
            None
        );
        // Before 15 Feb d1 had no evaluation in s1: nobody.
        assert_eq!(
            ledger(&query("2026-02-01", "2026-02-09", Some("s1"), None)),
            None
        );

        // The whole report: DSO 70 / 75 × 28 = 26.13 days.
        let report = store
            .read_blocking(|c| report(c, tenant, &query("2026-02-01", "2026-02-28", None, None)))
            .unwrap();
        let eur = &report.currencies[0];
        assert_eq!(eur.credit_sales, 75_00);
        assert_eq!(eur.dso, Some(26.13));
    }
}
