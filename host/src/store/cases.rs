//! The case builder: everything a strategy may look at for one debtor,
//! assembled from the store at an instant. The one place that turns stored
//! facts into the host's `case::Case` (the runtime converts that to the
//! contract's types), so the scheduler, replay and `GET /v1/debtors/{id}/case`
//! all show a strategy the same thing.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike, Utc};
use rusqlite::{Connection, params};

use super::debtors;
use super::invoices::InvoiceStatus as StoredStatus;
use super::{Result, from_json};
use crate::case::{self, Case, History, Invoice, InvoiceStatus, Terms};

/// The case for debtor `external_id` of `tenant_id` at `now`.
pub fn build(
    conn: &Connection,
    tenant_id: i64,
    external_id: &str,
    now: DateTime<Utc>,
    segment: &str,
    config: serde_json::Value,
) -> Result<Case> {
    // The contract counts whole seconds; so does the case.
    let now =
        chrono::DurationRound::duration_trunc(now, chrono::Duration::seconds(1)).unwrap_or(now);
    let debtor = debtors::get(conn, tenant_id, external_id)?;
    let row = debtors::row_id(conn, tenant_id, external_id)?;
    let zone: chrono_tz::Tz = debtor.time_zone.parse().unwrap_or(chrono_tz::UTC);

    // Reachable: the debtor has the details for it and has not opted out.
    let mut channels = debtor.channels_with_details();
    channels.retain(|c| !debtor.opt_outs.contains(c));

    Ok(Case {
        now,
        debtor: case::Debtor {
            id: debtor.id.clone(),
            name: debtor.name.clone(),
            segment: segment.to_owned(),
            tags: debtor.tags.clone(),
            time_zone: debtor.time_zone.clone(),
            language: debtor.language.clone(),
            channels,
            history: history(conn, row, zone)?,
        },
        invoices: owed_invoices(conn, row)?,
        contacts: super::outbox::contacts(conn, row)?,
        config,
    })
}

/// Owed invoices of the debtor whose contact is deferred, with the date
/// contact resumes after (for the guardrails; strategies do not see it).
pub fn deferrals(
    conn: &Connection,
    tenant_id: i64,
    external_id: &str,
) -> Result<Vec<(String, chrono::NaiveDate)>> {
    let row = debtors::row_id(conn, tenant_id, external_id)?;
    let mut stmt = conn.prepare_cached(
        "SELECT external_id, deferred_until FROM invoices
         WHERE debtor_id = ?1 AND deferred_until IS NOT NULL AND status NOT IN ('paid', 'void', 'written-off')",
    )?;
    let rows = stmt.query_map([row], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The debtor's owed invoices, oldest due first, with any pending promise.
/// `amount` is the principal; fees charged since are in `fees_charged` and
/// in `open_amount`.
fn owed_invoices(conn: &Connection, debtor: i64) -> Result<Vec<Invoice>> {
    let mut stmt = conn.prepare_cached(
        "SELECT i.external_id, i.number, i.currency, i.amount - i.fees, i.open_amount, i.issued_on, i.due_on, i.status, i.terms,
                (SELECT MAX(p.promised_on) FROM promise_invoices pi JOIN promises p ON p.id = pi.promise_id
                 WHERE pi.invoice_id = i.id AND p.status = 'pending'),
                i.fees
         FROM invoices i
         WHERE i.debtor_id = ?1 AND i.status NOT IN ('paid', 'void', 'written-off')
         ORDER BY i.due_on, i.id",
    )?;
    let rows = stmt.query_map([debtor], |r| {
        let status: String = r.get(7)?;
        let terms: Option<String> = r.get(8)?;
        Ok(Invoice {
            id: r.get(0)?,
            number: r.get(1)?,
            currency: r.get(2)?,
            amount: r.get(3)?,
            open_amount: r.get(4)?,
            fees_charged: r.get(10)?,
            issued_on: r.get(5)?,
            due_on: r.get(6)?,
            status: owed_status(StoredStatus::parse(&status).unwrap_or(StoredStatus::Open)),
            promised_on: r.get(9)?,
            terms: terms
                .as_deref()
                .map(from_json::<Terms>)
                .transpose()?
                .unwrap_or_default(),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The stored status of an owed invoice in the case's vocabulary.
fn owed_status(status: StoredStatus) -> InvoiceStatus {
    match status {
        StoredStatus::PartiallyPaid => InvoiceStatus::PartiallyPaid,
        StoredStatus::Disputed => InvoiceStatus::Disputed,
        StoredStatus::Promised => InvoiceStatus::Promised,
        StoredStatus::InPlan => InvoiceStatus::InPlan,
        StoredStatus::InCollection => InvoiceStatus::InCollection,
        // Paid, void and written-off invoices are not in a case.
        StoredStatus::Open | StoredStatus::Paid | StoredStatus::Void | StoredStatus::WrittenOff => {
            InvoiceStatus::Open
        }
    }
}

/// An owed invoice's status in the store's vocabulary (the inverse of
/// [`owed_status`]).
impl From<InvoiceStatus> for StoredStatus {
    fn from(status: InvoiceStatus) -> Self {
        match status {
            InvoiceStatus::Open => StoredStatus::Open,
            InvoiceStatus::PartiallyPaid => StoredStatus::PartiallyPaid,
            InvoiceStatus::Disputed => StoredStatus::Disputed,
            InvoiceStatus::Promised => StoredStatus::Promised,
            InvoiceStatus::InPlan => StoredStatus::InPlan,
            InvoiceStatus::InCollection => StoredStatus::InCollection,
        }
    }
}

/// Payment behaviour: paid invoices and how late, and when payments arrive
/// (local hour and weekday in the debtor's zone). A payment known only by
/// its date counts for its weekday, not for an hour.
fn history(conn: &Connection, debtor: i64, zone: chrono_tz::Tz) -> Result<History> {
    let mut history = History::default();
    let mut late_days: i64 = 0;
    let mut stmt = conn.prepare_cached("SELECT due_on, paid_on FROM invoices WHERE debtor_id = ?1 AND status = 'paid' AND paid_on IS NOT NULL")?;
    let paid = stmt.query_map([debtor], |r| {
        Ok((r.get::<_, NaiveDate>(0)?, r.get::<_, NaiveDate>(1)?))
    })?;
    for row in paid {
        let (due_on, paid_on) = row?;
        history.invoices_paid += 1;
        let late = (paid_on - due_on).num_days();
        if late <= 0 {
            history.paid_on_time += 1;
        } else {
            late_days += late;
        }
    }
    if history.invoices_paid > 0 {
        history.average_days_late = late_days as f32 / history.invoices_paid as f32;
    }
    let mut stmt = conn.prepare_cached(
        "SELECT received_on, received_at FROM payments WHERE debtor_id = ?1 AND refunded < amount ORDER BY received_on, id",
    )?;
    let payments = stmt.query_map(params![debtor], |r| {
        Ok((
            r.get::<_, NaiveDate>(0)?,
            r.get::<_, Option<DateTime<Utc>>>(1)?,
        ))
    })?;
    for payment in payments {
        let (received_on, received_at) = payment?;
        let weekday = match received_at {
            Some(at) => {
                let local = at.with_timezone(&zone);
                history.payments_by_hour[local.hour() as usize] += 1;
                local.weekday()
            }
            None => received_on.weekday(),
        };
        history.payments_by_weekday[weekday.num_days_from_monday() as usize] += 1;
        // The latest payment; a date alone counts as its noon UTC.
        let at = received_at.unwrap_or_else(|| {
            received_on
                .and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or(NaiveTime::MIN))
                .and_utc()
        });
        if history.last_payment_at.is_none_or(|last| at > last) {
            history.last_payment_at = Some(at);
        }
    }
    Ok(history)
}
