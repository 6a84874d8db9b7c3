//! What a plan's other actions change, applied in the same savepoint as
//! the evaluation that kept them (after the guardrails):
//!
//! - **charge-fee**: the fee is added to the invoice's amount and open
//!   amount (and counted in its `fees`), so the next reminder shows it and a
//!   payment settles it. A late fee or collection cost is charged once per
//!   invoice; interest at most once per 30 days, however often a strategy
//!   asks.
//! - **defer**: contact about the invoices pauses until the date (the
//!   guardrails hold reminders back until then).
//! - **offer-plan** / **offer-discount**: an offer is recorded, valid until
//!   a date, and shown in the reminders that follow; a plan offer's
//!   installments are computed now (the open total split evenly, remainder
//!   first). `POST /v1/offers/{id}/accept` turns a plan offer into a
//!   payment plan. The same offer made again is not repeated.
//! - **escalate**: the invoices go `in-collection` (no more reminders) and
//!   the hand-over is queued for the escalation webhook.
//! - **write-off** and **create-task** change nothing by themselves: they
//!   stay in the evaluation for a person to act on.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::json;

use super::timeline::{self, EventKind};
use super::{Result, StoreError, from_json, ids, invoices, to_json};
use crate::plan::{Action, Fee, FeeKind};

/// Applies the kept actions of evaluation `(row, public id)` for `debtor`.
pub(crate) fn apply(
    conn: &Connection,
    tenant_id: i64,
    debtor: i64,
    evaluation: (i64, &str),
    actions: &[Action],
    now: DateTime<Utc>,
) -> Result<()> {
    for action in actions {
        match action {
            Action::ChargeFee(fee) => charge_fee(conn, tenant_id, debtor, evaluation.0, fee, now)?,
            Action::Defer(d) => {
                for id in &d.invoice_ids {
                    let Some(row) = invoice_row(conn, tenant_id, debtor, id)? else {
                        continue;
                    };
                    conn.prepare_cached(
                        "UPDATE invoices SET deferred_until = MAX(COALESCE(deferred_until, ?2), ?2), updated_at = ?3
                         WHERE id = ?1",
                    )?
                    .execute(params![row, d.until, now])?;
                }
                timeline::append(
                    conn,
                    tenant_id,
                    debtor,
                    now,
                    EventKind::InvoiceDeferred,
                    Some(evaluation.1),
                    &json!({ "invoice_ids": d.invoice_ids, "until": d.until, "reason": d.reason }),
                )?;
            }
            Action::OfferPlan(p) => {
                let open = open_total(conn, tenant_id, debtor, &p.invoice_ids)?;
                let installments = split(
                    open,
                    p.installments.into(),
                    p.first_due_on,
                    p.every_days.into(),
                );
                let terms = json!({ "installments": installments, "every_days": p.every_days });
                offer(
                    conn,
                    tenant_id,
                    debtor,
                    evaluation,
                    "payment-plan",
                    &p.invoice_ids,
                    &terms,
                    p.first_due_on,
                    now,
                )?;
            }
            Action::OfferDiscount(d) => {
                let terms = json!({ "percent_bp": d.percent_bp });
                offer(
                    conn,
                    tenant_id,
                    debtor,
                    evaluation,
                    "discount",
                    &d.invoice_ids,
                    &terms,
                    d.until,
                    now,
                )?;
            }
            Action::Escalate(e) => {
                for id in &e.invoice_ids {
                    let Some(row) = invoice_row(conn, tenant_id, debtor, id)? else {
                        continue;
                    };
                    conn.prepare_cached(
                        "UPDATE invoices SET in_collection = 1, updated_at = ?2 WHERE id = ?1",
                    )?
                    .execute(params![row, now])?;
                    invoices::refresh_status(conn, tenant_id, row, now, now.date_naive())?;
                }
                let public = ids::new_id("esc");
                let target = serde_json::to_value(e.target)
                    .map_err(|err| StoreError::Internal(err.to_string()))?;
                conn.prepare_cached(
                    "INSERT INTO escalations (public_id, tenant_id, debtor_id, evaluation_id, target, invoice_ids, note,
                                              status, next_attempt_at, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?8)",
                )?
                .execute(params![
                    public,
                    tenant_id,
                    debtor,
                    evaluation.0,
                    target.as_str().unwrap_or_default(),
                    to_json(&e.invoice_ids)?,
                    e.note,
                    now
                ])?;
                timeline::append(
                    conn,
                    tenant_id,
                    debtor,
                    now,
                    EventKind::Escalated,
                    Some(&public),
                    &json!({ "target": e.target, "invoice_ids": e.invoice_ids, "note": e.note }),
                )?;
            }
            Action::Remind(_) | Action::WriteOff(_) | Action::CreateTask(_) => {}
        }
    }
    Ok(())
}

fn invoice_row(
    conn: &Connection,
    tenant_id: i64,
    debtor: i64,
    external_id: &str,
) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT id FROM invoices WHERE tenant_id = ?1 AND debtor_id = ?2 AND external_id = ?3",
        )?
        .query_row(params![tenant_id, debtor, external_id], |r| r.get(0))
        .optional()?)
}

fn open_total(conn: &Connection, tenant_id: i64, debtor: i64, ids: &[String]) -> Result<i64> {
    let mut total = 0;
    for id in ids {
        if let Some(row) = invoice_row(conn, tenant_id, debtor, id)? {
            total += conn.query_row(
                "SELECT open_amount FROM invoices WHERE id = ?1",
                [row],
                |r| r.get::<_, i64>(0),
            )?;
        }
    }
    Ok(total)
}

/// One installment of an offered plan.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct OfferedInstallment {
    pub due_on: NaiveDate,
    pub amount: i64,
}

/// `total` in `count` installments `every` days apart from `first`; the
/// remainder of the even split goes to the first.
pub fn split(total: i64, count: i64, first: NaiveDate, every: i64) -> Vec<OfferedInstallment> {
    let count = count.max(1);
    let each = total / count;
    (0..count)
        .map(|k| OfferedInstallment {
            due_on: first + Duration::days(k * every),
            amount: if k == 0 {
                total - each * (count - 1)
            } else {
                each
            },
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn offer(
    conn: &Connection,
    tenant_id: i64,
    debtor: i64,
    evaluation: (i64, &str),
    kind: &str,
    invoice_ids: &[String],
    terms: &serde_json::Value,
    valid_until: NaiveDate,
    now: DateTime<Utc>,
) -> Result<()> {
    let (ids_json, terms_json) = (to_json(&invoice_ids)?, to_json(terms)?);
    let same = conn
        .prepare_cached(
            "SELECT 1 FROM offers WHERE debtor_id = ?1 AND status = 'open' AND kind = ?2 AND invoice_ids = ?3
               AND terms = ?4 AND valid_until = ?5",
        )?
        .exists(params![debtor, kind, ids_json, terms_json, valid_until])?;
    if same {
        return Ok(());
    }
    // A new offer of the same kind replaces the open one.
    conn.prepare_cached("UPDATE offers SET status = 'withdrawn' WHERE debtor_id = ?1 AND status = 'open' AND kind = ?2")?
        .execute(params![debtor, kind])?;
    let public = ids::new_id("ofr");
    conn.prepare_cached(
        "INSERT INTO offers (public_id, tenant_id, debtor_id, evaluation_id, kind, invoice_ids, terms, valid_until, status, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'open', ?9)",
    )?
    .execute(params![public, tenant_id, debtor, evaluation.0, kind, ids_json, terms_json, valid_until, now])?;
    timeline::append(
        conn,
        tenant_id,
        debtor,
        now,
        EventKind::OfferMade,
        Some(&public),
        &json!({ "kind": kind, "invoice_ids": invoice_ids, "terms": terms, "valid_until": valid_until }),
    )
}

fn charge_fee(
    conn: &Connection,
    tenant_id: i64,
    debtor: i64,
    evaluation: i64,
    fee: &Fee,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(row) = invoice_row(conn, tenant_id, debtor, &fee.invoice_id)? else {
        return Ok(());
    };
    let kind = serde_json::to_value(fee.kind).map_err(|e| StoreError::Internal(e.to_string()))?;
    let kind = kind.as_str().unwrap_or_default();
    let since = match fee.kind {
        FeeKind::Interest => now - Duration::days(30),
        FeeKind::LateFee | FeeKind::CollectionCost => DateTime::<Utc>::MIN_UTC,
    };
    let charged_before = conn
        .prepare_cached(
            "SELECT 1 FROM fees WHERE invoice_id = ?1 AND kind = ?2 AND charged_at > ?3",
        )?
        .exists(params![row, kind, since])?;
    if charged_before || fee.amount <= 0 {
        return Ok(());
    }
    conn.prepare_cached(
        "UPDATE invoices SET amount = amount + ?2, open_amount = open_amount + ?2, fees = fees + ?2, updated_at = ?3
         WHERE id = ?1",
    )?
    .execute(params![row, fee.amount, now])?;
    conn.prepare_cached(
        "INSERT INTO fees (tenant_id, invoice_id, evaluation_id, kind, amount, reason, charged_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        tenant_id, row, evaluation, kind, fee.amount, fee.reason, now
    ])?;
    timeline::append(
        conn,
        tenant_id,
        debtor,
        now,
        EventKind::FeeCharged,
        Some(&fee.invoice_id),
        &json!({ "kind": fee.kind, "amount": fee.amount, "reason": fee.reason }),
    )
}

/// An offer made to a debtor.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Offer {
    pub id: String,
    pub debtor_id: String,
    /// `payment-plan` or `discount`.
    pub kind: String,
    pub invoice_ids: Vec<String>,
    /// `{"installments": [{"due_on", "amount"}], "every_days"}` or `{"percent_bp"}`.
    #[schema(value_type = Object)]
    pub terms: serde_json::Value,
    pub valid_until: NaiveDate,
    /// `open`, `accepted` or `withdrawn`.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

const OFFER_COLUMNS: &str = "o.public_id, d.external_id, o.kind, o.invoice_ids, o.terms, o.valid_until, o.status, o.created_at";

fn offer_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Offer> {
    Ok(Offer {
        id: r.get(0)?,
        debtor_id: r.get(1)?,
        kind: r.get(2)?,
        invoice_ids: from_json(&r.get::<_, String>(3)?)?,
        terms: from_json(&r.get::<_, String>(4)?)?,
        valid_until: r.get(5)?,
        status: r.get(6)?,
        created_at: r.get(7)?,
    })
}

/// The debtor's offers still open on `today`, newest first.
pub fn open_offers(
    conn: &Connection,
    tenant_id: i64,
    debtor: i64,
    today: NaiveDate,
) -> Result<Vec<Offer>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {OFFER_COLUMNS} FROM offers o JOIN debtors d ON d.id = o.debtor_id
         WHERE o.debtor_id = ?1 AND o.tenant_id = ?2 AND o.status = 'open' AND o.valid_until >= ?3
         ORDER BY o.id DESC"
    ))?;
    let rows = stmt.query_map(params![debtor, tenant_id, today], offer_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn get_offer(conn: &Connection, tenant_id: i64, id: &str) -> Result<Offer> {
    conn.prepare_cached(&format!(
        "SELECT {OFFER_COLUMNS} FROM offers o JOIN debtors d ON d.id = o.debtor_id
         WHERE o.public_id = ?1 AND o.tenant_id = ?2"
    ))?
    .query_row(params![id, tenant_id], offer_from_row)
    .optional()?
    .ok_or_else(|| StoreError::not_found("offer", id))
}

/// Accepts an open, unexpired plan offer: the payment plan is created with
/// the offered installments' count, spacing and first date. Returns the plan.
/// `source` (`"portal"`) is recorded in the event when the API is not it.
pub fn accept_offer(
    conn: &Connection,
    tenant_id: i64,
    id: &str,
    source: Option<&str>,
    now: DateTime<Utc>,
) -> Result<super::arrangements::PaymentPlan> {
    let offer = get_offer(conn, tenant_id, id)?;
    if offer.status != "open" || offer.valid_until < now.date_naive() {
        return Err(StoreError::Conflict {
            field: "status".into(),
            detail: format!(
                "the offer is {} (valid until {})",
                offer.status, offer.valid_until
            ),
        });
    }
    if offer.kind != "payment-plan" {
        return Err(StoreError::invalid(
            "kind",
            "a discount is taken by paying the discounted amount in time; only plan offers are accepted",
        ));
    }
    let installments: Vec<OfferedInstallment> =
        serde_json::from_value(offer.terms["installments"].clone())
            .map_err(|e| StoreError::Internal(e.to_string()))?;
    let currency: String = conn.query_row(
        "SELECT currency FROM invoices WHERE tenant_id = ?1 AND external_id = ?2",
        params![
            tenant_id,
            offer.invoice_ids.first().cloned().unwrap_or_default()
        ],
        |r| r.get(0),
    )?;
    let plan = super::arrangements::create_plan(
        conn,
        tenant_id,
        &super::arrangements::NewPaymentPlan {
            debtor_id: offer.debtor_id.clone(),
            invoice_ids: Some(offer.invoice_ids.clone()),
            currency,
            installments: installments.len() as u16,
            every_days: offer.terms["every_days"].as_u64().unwrap_or(30) as u16,
            first_due_on: installments.first().map_or(offer.valid_until, |i| i.due_on),
        },
        now,
    )?;
    let debtor = super::debtors::row_id(conn, tenant_id, &offer.debtor_id)?;
    conn.prepare_cached(
        "UPDATE offers SET status = 'accepted' WHERE public_id = ?1 AND tenant_id = ?2",
    )?
    .execute(params![id, tenant_id])?;
    timeline::append(
        conn,
        tenant_id,
        debtor,
        now,
        EventKind::OfferAccepted,
        Some(id),
        &super::arrangements::with_source(json!({ "plan_id": plan.id }), source),
    )?;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installments_split_evenly_with_the_remainder_first() {
        let first = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        let parts = split(100_01, 3, first, 30);
        assert_eq!(parts.iter().map(|p| p.amount).sum::<i64>(), 100_01);
        assert_eq!(parts[0].amount, 33_35);
        assert_eq!(parts[1].amount, 33_33);
        assert_eq!(
            parts[2].due_on,
            NaiveDate::from_ymd_opt(2026, 7, 31).unwrap()
        );
    }
}

/// An escalation waiting to be handed over.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Escalation {
    pub id: String,
    pub debtor_id: String,
    /// `collection-agency`, `legal` or `internal-team`.
    pub target: String,
    pub invoice_ids: Vec<String>,
    pub note: String,
    /// `pending`, `sending`, `sent` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub reason: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[serde(skip)]
    pub tenant_row: i64,
    #[serde(skip)]
    pub row: i64,
}

const ESCALATION_COLUMNS: &str =
    "e.public_id, d.external_id, e.target, e.invoice_ids, e.note, e.status, e.attempts,
    e.reason, e.sent_at, e.created_at, e.tenant_id, e.id";

fn escalation_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Escalation> {
    Ok(Escalation {
        id: r.get(0)?,
        debtor_id: r.get(1)?,
        target: r.get(2)?,
        invoice_ids: from_json(&r.get::<_, String>(3)?)?,
        note: r.get(4)?,
        status: r.get(5)?,
        attempts: r.get(6)?,
        reason: r.get(7)?,
        sent_at: r.get(8)?,
        created_at: r.get(9)?,
        tenant_row: r.get(10)?,
        row: r.get(11)?,
    })
}

/// Claims escalations due at `now` (and any whose lease ran out).
pub fn claim_escalations(
    conn: &Connection,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<Escalation>> {
    let rows: Vec<i64> = conn
        .prepare_cached(
            "UPDATE escalations SET status = 'sending', lease_until = ?2, attempts = attempts + 1
             WHERE id IN (SELECT id FROM escalations
                          WHERE (status = 'pending' AND next_attempt_at <= ?1) OR (status = 'sending' AND lease_until < ?1)
                          ORDER BY next_attempt_at LIMIT ?3)
             RETURNING id",
        )?
        .query_map(params![now, now + lease, limit as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        claimed.push(
            conn.prepare_cached(&format!(
                "SELECT {ESCALATION_COLUMNS} FROM escalations e JOIN debtors d ON d.id = e.debtor_id WHERE e.id = ?1"
            ))?
            .query_row([row], escalation_from_row)?,
        );
    }
    Ok(claimed)
}

/// Records how a hand-over attempt ended: `sent`, `failed`, or `pending`
/// again at `retry_at`.
pub fn finish_escalation(
    conn: &Connection,
    escalation: &Escalation,
    status: &str,
    reason: Option<&str>,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE escalations SET status = ?2, reason = ?3, sent_at = ?4, lease_until = NULL,
                next_attempt_at = COALESCE(?5, next_attempt_at)
         WHERE id = ?1",
    )?
    .execute(params![
        escalation.row,
        status,
        reason,
        (status == "sent").then_some(now),
        retry_at
    ])?;
    let kind = match status {
        "sent" => EventKind::EscalationSent,
        "failed" => EventKind::EscalationFailed,
        _ => return Ok(()),
    };
    let debtor = super::debtors::row_id(conn, escalation.tenant_row, &escalation.debtor_id)?;
    timeline::append(
        conn,
        escalation.tenant_row,
        debtor,
        now,
        kind,
        Some(&escalation.id),
        &json!({ "target": escalation.target, "invoice_ids": escalation.invoice_ids, "reason": reason }),
    )
}

/// The tenant's escalations, newest first (at most 100), optionally one debtor's.
pub fn list_escalations(
    conn: &Connection,
    tenant_id: i64,
    debtor: Option<&str>,
) -> Result<Vec<Escalation>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ESCALATION_COLUMNS} FROM escalations e JOIN debtors d ON d.id = e.debtor_id
         WHERE e.tenant_id = ?1 AND (?2 IS NULL OR d.external_id = ?2) ORDER BY e.id DESC LIMIT 100"
    ))?;
    let rows = stmt.query_map(params![tenant_id, debtor], escalation_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The debtor's offers, newest first (at most 100).
pub fn list_offers(conn: &Connection, tenant_id: i64, debtor: &str) -> Result<Vec<Offer>> {
    let row = super::debtors::row_id(conn, tenant_id, debtor)?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {OFFER_COLUMNS} FROM offers o JOIN debtors d ON d.id = o.debtor_id
         WHERE o.debtor_id = ?1 AND o.tenant_id = ?2 ORDER BY o.id DESC LIMIT 100"
    ))?;
    let rows = stmt.query_map(params![row, tenant_id], offer_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
