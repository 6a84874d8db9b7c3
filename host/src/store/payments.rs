//! Payments and refunds. A payment is allocated to invoices (as the client
//! says, or oldest due first); each allocation is a dated row, so an
//! invoice's open amount on any past date can be recomputed (aging as of a
//! date). Money beyond what the invoices owe is refused unless the client
//! asks to keep it as credit on account. A refund takes money back off
//! (credit first, then the most recently allocated invoices) and re-opens
//! what it uncovers.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::arrangements;
use super::invoices::{self, InvoiceRow, InvoiceStatus, MAX_AMOUNT};
use super::timeline::{self, EventKind};
use super::{FieldError, Result, StoreError, debtors, ids};
use crate::money::Currency;

/// What to do with money beyond what the allocated invoices owe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Overpayment {
    /// Refuse the payment (the default): an over-payment is usually a mistake.
    #[default]
    Refuse,
    /// Keep the excess on the payment as credit on the debtor's account.
    Credit,
}

/// Part of a payment applied to one invoice.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAllocation {
    pub invoice_id: String,
    /// Minor units; positive, at most the invoice's open amount.
    pub amount: i64,
}

/// A payment as reported by a billing system or payment provider.
#[derive(Clone, Debug, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPayment {
    /// The client's id for the payment; a re-send with the same id and
    /// content changes nothing.
    pub external_id: Option<String>,
    pub debtor_id: String,
    pub currency: String,
    /// Minor units, positive.
    pub amount: i64,
    /// The date the money arrived. Default: the date of `received_at`, or today.
    pub received_on: Option<NaiveDate>,
    /// The instant the money arrived, when known (it teaches send-time strategies).
    pub received_at: Option<DateTime<Utc>>,
    /// `card`, `transfer`, `direct-debit`, … free text.
    pub method: Option<String>,
    pub reference: Option<String>,
    /// Which invoices it pays. Default: the debtor's owed invoices in this
    /// currency, oldest due first.
    pub allocations: Option<Vec<NewAllocation>>,
    #[serde(default)]
    pub overpayment: Overpayment,
}

/// Net money from a payment on one invoice (after refunds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Allocation {
    pub invoice_id: String,
    pub amount: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Payment {
    pub id: String,
    pub external_id: Option<String>,
    pub debtor_id: String,
    pub currency: String,
    pub amount: i64,
    /// Credit on account: money not applied to any invoice.
    pub unapplied: i64,
    pub refunded: i64,
    pub received_on: NaiveDate,
    pub received_at: Option<DateTime<Utc>>,
    pub method: Option<String>,
    pub reference: Option<String>,
    pub allocations: Vec<Allocation>,
    pub created_at: DateTime<Utc>,
}

/// A refund of (part of) a payment.
#[derive(Clone, Debug, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRefund {
    /// Minor units, positive, at most what is left of the payment.
    pub amount: i64,
    /// Default: today.
    pub refunded_on: Option<NaiveDate>,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Refund {
    pub id: String,
    pub payment_id: String,
    pub amount: i64,
    pub refunded_on: NaiveDate,
    pub reason: Option<String>,
    /// The payment after the refund.
    pub payment: Payment,
}

impl NewPayment {
    fn problems(&self, today: NaiveDate) -> Vec<FieldError> {
        let mut problems = Vec::new();
        let mut bad = |field: &str, detail: String| problems.push(FieldError::new(field, detail));
        if let Some(id) = &self.external_id
            && let Err(detail) = debtors::check_external_id(id)
        {
            bad("external_id", detail.into());
        }
        if Currency::from_code(&self.currency).is_none() {
            bad(
                "currency",
                format!(
                    "{:?} is not an ISO 4217 currency code (upper case, e.g. EUR)",
                    self.currency
                ),
            );
        }
        if self.amount <= 0 {
            bad("amount", "must be a positive number of minor units".into());
        } else if self.amount > MAX_AMOUNT {
            bad(
                "amount",
                format!("must be at most {MAX_AMOUNT} minor units"),
            );
        }
        let received_on = self.received_on();
        if let Some(on) = received_on
            && (on - today).num_days() > 1
        {
            bad("received_on", format!("{on} is in the future"));
        }
        if let (Some(on), Some(at)) = (self.received_on, self.received_at)
            && (on - at.date_naive()).num_days().abs() > 1
        {
            bad(
                "received_on",
                "disagrees with received_at by more than a day".into(),
            );
        }
        if let Some(allocations) = &self.allocations {
            if allocations.is_empty() {
                bad(
                    "allocations",
                    "leave it out to allocate oldest due first, or name at least one invoice"
                        .into(),
                );
            }
            for (i, a) in allocations.iter().enumerate() {
                if a.amount <= 0 {
                    bad(
                        &format!("allocations[{i}].amount"),
                        "must be positive".into(),
                    );
                }
                if allocations[..i]
                    .iter()
                    .any(|b| b.invoice_id == a.invoice_id)
                {
                    bad(
                        &format!("allocations[{i}].invoice_id"),
                        "names the same invoice twice".into(),
                    );
                }
            }
        }
        for (field, value) in [("method", &self.method), ("reference", &self.reference)] {
            if value.as_ref().is_some_and(|v| v.len() > 200) {
                bad(field, "at most 200 characters".into());
            }
        }
        problems
    }

    fn received_on(&self) -> Option<NaiveDate> {
        self.received_on
            .or(self.received_at.map(|at| at.date_naive()))
    }
}

/// Records a payment and applies it. Returns the payment and whether it was
/// new (`false`: a re-send of the same `external_id` and content).
pub fn record(
    conn: &Connection,
    tenant_id: i64,
    payment: &NewPayment,
    now: DateTime<Utc>,
) -> Result<(Payment, bool)> {
    let today = now.date_naive();
    let problems = payment.problems(today);
    if !problems.is_empty() {
        return Err(StoreError::Invalid(problems));
    }
    let received_on = payment.received_on().unwrap_or(today);
    let debtor = debtors::row_id(conn, tenant_id, &payment.debtor_id).map_err(|_| {
        StoreError::invalid(
            "debtor_id",
            format!("no debtor {:?} in this tenant", payment.debtor_id),
        )
    })?;
    if let Some(external_id) = &payment.external_id
        && let Some(existing) = by_external_id(conn, tenant_id, external_id)?
    {
        let same = existing.debtor_id == payment.debtor_id
            && existing.currency == payment.currency
            && existing.amount == payment.amount
            && existing.received_on == received_on;
        if same {
            return Ok((existing, false));
        }
        return Err(StoreError::Conflict {
            field: "external_id".into(),
            detail: format!(
                "payment {external_id:?} was already recorded with different details ({})",
                existing.id
            ),
        });
    }

    // Decide the allocations before writing anything.
    let mut plan: Vec<(InvoiceRow, i64)> = Vec::new();
    match &payment.allocations {
        Some(allocations) => {
            for (i, a) in allocations.iter().enumerate() {
                let field = format!("allocations[{i}].invoice_id");
                let invoice = match invoices::row(conn, tenant_id, &a.invoice_id) {
                    Ok(invoice) if invoice.debtor_id == debtor => invoice,
                    Ok(_) => {
                        return Err(StoreError::invalid(
                            field,
                            format!(
                                "invoice {:?} is not debtor {:?}'s",
                                a.invoice_id, payment.debtor_id
                            ),
                        ));
                    }
                    Err(StoreError::NotFound { .. }) => {
                        return Err(StoreError::invalid(
                            field,
                            format!("no invoice {:?} in this tenant", a.invoice_id),
                        ));
                    }
                    Err(e) => return Err(e),
                };
                if invoice.currency != payment.currency {
                    return Err(StoreError::invalid(
                        field,
                        format!(
                            "invoice {:?} is in {}, the payment in {}",
                            a.invoice_id, invoice.currency, payment.currency
                        ),
                    ));
                }
                if matches!(
                    invoice.status,
                    InvoiceStatus::Void | InvoiceStatus::WrittenOff | InvoiceStatus::Paid
                ) {
                    return Err(StoreError::invalid(
                        field,
                        format!(
                            "invoice {:?} is {} and takes no payment",
                            a.invoice_id,
                            invoice.status.as_str()
                        ),
                    ));
                }
                if a.amount > invoice.open_amount {
                    return Err(StoreError::invalid(
                        format!("allocations[{i}].amount"),
                        format!(
                            "{} is more than the {} still owed on invoice {:?}",
                            a.amount, invoice.open_amount, a.invoice_id
                        ),
                    ));
                }
                plan.push((invoice, a.amount));
            }
        }
        None => {
            let mut left = payment.amount;
            for invoice in invoices::owed_by_debtor(conn, debtor, &payment.currency)? {
                if left == 0 {
                    break;
                }
                let take = left.min(invoice.open_amount);
                left -= take;
                plan.push((invoice, take));
            }
        }
    }
    let allocated: i64 = plan.iter().map(|(_, amount)| amount).sum();
    if allocated > payment.amount {
        return Err(StoreError::invalid(
            "allocations",
            format!(
                "allocate {allocated} in all, more than the payment's {}",
                payment.amount
            ),
        ));
    }
    let unapplied = payment.amount - allocated;
    if unapplied > 0 && payment.overpayment == Overpayment::Refuse {
        return Err(StoreError::invalid(
            "amount",
            format!(
                "{} is {unapplied} more than the invoices it pays still owe ({allocated}); send \"overpayment\": \"credit\" to keep the excess as credit on account",
                payment.amount
            ),
        ));
    }

    let public_id = ids::new_id("pay");
    conn.prepare_cached(
        "INSERT INTO payments (public_id, tenant_id, debtor_id, external_id, currency, amount, unapplied, received_on, received_at, method, reference, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        public_id,
        tenant_id,
        debtor,
        payment.external_id,
        payment.currency,
        payment.amount,
        unapplied,
        received_on,
        payment.received_at,
        payment.method,
        payment.reference,
        now
    ])?;
    let payment_row = conn.last_insert_rowid();
    for (invoice, amount) in &plan {
        apply(conn, payment_row, invoice.id, *amount, received_on)?;
    }
    timeline::append(
        conn,
        tenant_id,
        debtor,
        now,
        EventKind::PaymentReceived,
        Some(&public_id),
        &json!({
            "amount": payment.amount,
            "currency": payment.currency,
            "received_on": received_on,
            "unapplied": unapplied,
            "allocations": plan.iter().map(|(i, amount)| json!({ "invoice_id": i.external_id, "amount": amount })).collect::<Vec<_>>(),
        }),
    )?;
    for (invoice, _) in &plan {
        invoices::refresh_status(conn, tenant_id, invoice.id, now, received_on)?;
    }
    arrangements::payment_applied(conn, tenant_id, debtor, &payment.currency, &plan, now)?;
    Ok((get(conn, tenant_id, &public_id)?, true))
}

/// Moves `amount` (negative: back) between a payment and an invoice.
fn apply(conn: &Connection, payment: i64, invoice: i64, amount: i64, on: NaiveDate) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO allocations (payment_id, invoice_id, amount, on_date) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![payment, invoice, amount, on])?;
    conn.prepare_cached("UPDATE invoices SET open_amount = open_amount - ?2 WHERE id = ?1")?
        .execute(params![invoice, amount])?;
    Ok(())
}

fn by_external_id(conn: &Connection, tenant_id: i64, external_id: &str) -> Result<Option<Payment>> {
    let id: Option<String> = conn
        .prepare_cached("SELECT public_id FROM payments WHERE tenant_id = ?1 AND external_id = ?2")?
        .query_row(params![tenant_id, external_id], |r| r.get(0))
        .optional()?;
    id.map(|id| get(conn, tenant_id, &id)).transpose()
}

pub fn get(conn: &Connection, tenant_id: i64, id: &str) -> Result<Payment> {
    let found = conn
        .prepare_cached(
            "SELECT p.id, p.public_id, p.external_id, d.external_id, p.currency, p.amount, p.unapplied, p.refunded,
                    p.received_on, p.received_at, p.method, p.reference, p.created_at
             FROM payments p JOIN debtors d ON d.id = p.debtor_id WHERE p.tenant_id = ?1 AND p.public_id = ?2",
        )?
        .query_row(params![tenant_id, id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                Payment {
                    id: r.get(1)?,
                    external_id: r.get(2)?,
                    debtor_id: r.get(3)?,
                    currency: r.get(4)?,
                    amount: r.get(5)?,
                    unapplied: r.get(6)?,
                    refunded: r.get(7)?,
                    received_on: r.get(8)?,
                    received_at: r.get(9)?,
                    method: r.get(10)?,
                    reference: r.get(11)?,
                    allocations: Vec::new(),
                    created_at: r.get(12)?,
                },
            ))
        })
        .optional()?;
    let (row, mut payment) = found.ok_or_else(|| StoreError::not_found("payment", id))?;
    let mut stmt = conn.prepare_cached(
        "SELECT i.external_id, SUM(a.amount) FROM allocations a JOIN invoices i ON i.id = a.invoice_id
         WHERE a.payment_id = ?1 GROUP BY a.invoice_id HAVING SUM(a.amount) <> 0 ORDER BY MIN(a.id)",
    )?;
    payment.allocations = stmt
        .query_map([row], |r| {
            Ok(Allocation {
                invoice_id: r.get(0)?,
                amount: r.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(payment)
}

/// A debtor's payments, newest first.
pub fn list_for_debtor(
    conn: &Connection,
    tenant_id: i64,
    debtor_external_id: &str,
) -> Result<Vec<Payment>> {
    let debtor = debtors::row_id(conn, tenant_id, debtor_external_id)?;
    let ids: Vec<String> = conn
        .prepare_cached("SELECT public_id FROM payments WHERE debtor_id = ?1 ORDER BY received_on DESC, id DESC")?
        .query_map([debtor], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.iter().map(|id| get(conn, tenant_id, id)).collect()
}

/// Refunds part or all of a payment.
pub fn refund(
    conn: &Connection,
    tenant_id: i64,
    payment_id: &str,
    refund: &NewRefund,
    now: DateTime<Utc>,
) -> Result<Refund> {
    let payment = get(conn, tenant_id, payment_id)?;
    let refunded_on = refund.refunded_on.unwrap_or(now.date_naive());
    let left = payment.amount - payment.refunded;
    if refund.amount <= 0 {
        return Err(StoreError::invalid(
            "amount",
            "must be a positive number of minor units",
        ));
    }
    if refund.amount > left {
        return Err(StoreError::invalid(
            "amount",
            format!(
                "{} is more than the {left} left of payment {payment_id}",
                refund.amount
            ),
        ));
    }
    if (refunded_on - now.date_naive()).num_days() > 1 {
        return Err(StoreError::invalid(
            "refunded_on",
            format!("{refunded_on} is in the future"),
        ));
    }
    if refunded_on < payment.received_on {
        return Err(StoreError::invalid(
            "refunded_on",
            "is before the payment was received",
        ));
    }
    if refund.reason.as_ref().is_some_and(|r| r.len() > 500) {
        return Err(StoreError::invalid("reason", "at most 500 characters"));
    }
    let (payment_row, debtor): (i64, i64) = conn
        .prepare_cached(
            "SELECT id, debtor_id FROM payments WHERE tenant_id = ?1 AND public_id = ?2",
        )?
        .query_row(params![tenant_id, payment_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    // Credit on account goes back first, then invoices, latest allocated first.
    let mut remaining = refund.amount;
    let from_credit = remaining.min(payment.unapplied);
    remaining -= from_credit;
    let mut reopened = Vec::new();
    for allocation in payment.allocations.iter().rev() {
        if remaining == 0 {
            break;
        }
        let take = remaining.min(allocation.amount);
        remaining -= take;
        let invoice = invoices::row(conn, tenant_id, &allocation.invoice_id)?;
        apply(conn, payment_row, invoice.id, -take, refunded_on)?;
        reopened.push((invoice, take));
    }
    conn.prepare_cached(
        "UPDATE payments SET unapplied = unapplied - ?2, refunded = refunded + ?3 WHERE id = ?1",
    )?
    .execute(params![payment_row, from_credit, refund.amount])?;
    let id = ids::new_id("ref");
    conn.prepare_cached(
        "INSERT INTO refunds (public_id, payment_id, amount, refunded_on, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![id, payment_row, refund.amount, refunded_on, refund.reason, now])?;
    timeline::append(
        conn,
        tenant_id,
        debtor,
        now,
        EventKind::PaymentRefunded,
        Some(payment_id),
        &json!({
            "refund_id": id,
            "amount": refund.amount,
            "refunded_on": refunded_on,
            "reason": refund.reason,
            "reopened": reopened.iter().map(|(i, amount)| json!({ "invoice_id": i.external_id, "amount": amount })).collect::<Vec<_>>(),
        }),
    )?;
    for (invoice, _) in &reopened {
        invoices::refresh_status(conn, tenant_id, invoice.id, now, refunded_on)?;
    }
    Ok(Refund {
        id,
        payment_id: payment_id.to_owned(),
        amount: refund.amount,
        refunded_on,
        reason: refund.reason.clone(),
        payment: get(conn, tenant_id, payment_id)?,
    })
}
