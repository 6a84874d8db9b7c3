//! What a debtor and the business agree or contest about invoices:
//! disputes (pause dunning), promises to pay (defer it until a date) and
//! payment plans (installments). Each changes its invoices' status through
//! `invoices::refresh_status` and is recorded on the timeline.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::invoices::{self, InvoiceRow, InvoiceStatus, MAX_AMOUNT};
use super::timeline::{self, EventKind};
use super::{FieldError, Result, StoreError, debtors, ids};

#[derive(Clone, Debug, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDispute {
    pub invoice_id: String,
    /// Why the debtor contests it, in their words or the client's summary.
    pub reason: String,
    /// Where it came from when not the API (`"portal"`): recorded in the
    /// event.
    #[serde(skip)]
    pub source: Option<&'static str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DisputeResolution {
    /// The debtor was right; the client corrects the invoice (credit note or void).
    Upheld,
    /// The invoice stands; dunning resumes.
    Rejected,
    /// The debtor withdrew it; dunning resumes.
    Withdrawn,
}

#[derive(Clone, Debug, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveDispute {
    pub resolution: DisputeResolution,
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Dispute {
    pub id: String,
    pub invoice_id: String,
    pub debtor_id: String,
    pub reason: String,
    pub opened_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution: Option<DisputeResolution>,
    pub note: Option<String>,
}

pub fn open_dispute(
    conn: &Connection,
    tenant_id: i64,
    input: &NewDispute,
    now: DateTime<Utc>,
) -> Result<Dispute> {
    let reason = input.reason.trim();
    if reason.is_empty() || reason.len() > 2000 {
        return Err(StoreError::invalid(
            "reason",
            "a reason is 1-2000 characters",
        ));
    }
    let invoice = owed_invoice(conn, tenant_id, &input.invoice_id, "invoice_id")?;
    let open: Option<String> = conn
        .prepare_cached(
            "SELECT public_id FROM disputes WHERE invoice_id = ?1 AND resolved_at IS NULL",
        )?
        .query_row([invoice.id], |r| r.get(0))
        .optional()?;
    if let Some(open) = open {
        return Err(StoreError::Conflict {
            field: "invoice_id".into(),
            detail: format!(
                "invoice {:?} already has an open dispute ({open})",
                input.invoice_id
            ),
        });
    }
    let id = ids::new_id("dsp");
    conn.prepare_cached(
        "INSERT INTO disputes (public_id, tenant_id, invoice_id, reason, opened_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![id, tenant_id, invoice.id, reason, now])?;
    timeline::append(
        conn,
        tenant_id,
        invoice.debtor_id,
        now,
        EventKind::DisputeOpened,
        Some(&invoice.external_id),
        &with_source(json!({ "dispute_id": id, "reason": reason }), input.source),
    )?;
    invoices::refresh_status(conn, tenant_id, invoice.id, now, now.date_naive())?;
    get_dispute(conn, tenant_id, &id)
}

pub fn resolve_dispute(
    conn: &Connection,
    tenant_id: i64,
    id: &str,
    input: &ResolveDispute,
    now: DateTime<Utc>,
) -> Result<Dispute> {
    let dispute = get_dispute(conn, tenant_id, id)?;
    if dispute.resolved_at.is_some() {
        return Err(StoreError::Conflict {
            field: "id".into(),
            detail: format!("dispute {id} was already resolved"),
        });
    }
    if input.note.as_ref().is_some_and(|n| n.len() > 2000) {
        return Err(StoreError::invalid("note", "at most 2000 characters"));
    }
    let resolution =
        serde_json::to_value(input.resolution).map_err(|e| StoreError::Internal(e.to_string()))?;
    conn.prepare_cached("UPDATE disputes SET resolved_at = ?2, resolution = ?3, note = ?4 WHERE public_id = ?1 AND tenant_id = ?5")?
        .execute(params![id, now, resolution.as_str(), input.note, tenant_id])?;
    let invoice = invoices::row(conn, tenant_id, &dispute.invoice_id)?;
    timeline::append(
        conn,
        tenant_id,
        invoice.debtor_id,
        now,
        EventKind::DisputeResolved,
        Some(&invoice.external_id),
        &json!({ "dispute_id": id, "resolution": input.resolution, "note": input.note }),
    )?;
    invoices::refresh_status(conn, tenant_id, invoice.id, now, now.date_naive())?;
    get_dispute(conn, tenant_id, id)
}

pub fn get_dispute(conn: &Connection, tenant_id: i64, id: &str) -> Result<Dispute> {
    conn.prepare_cached(
        "SELECT x.public_id, i.external_id, d.external_id, x.reason, x.opened_at, x.resolved_at, x.resolution, x.note
         FROM disputes x JOIN invoices i ON i.id = x.invoice_id JOIN debtors d ON d.id = i.debtor_id
         WHERE x.tenant_id = ?1 AND x.public_id = ?2",
    )?
    .query_row(params![tenant_id, id], |r| {
        let resolution: Option<String> = r.get(6)?;
        Ok(Dispute {
            id: r.get(0)?,
            invoice_id: r.get(1)?,
            debtor_id: r.get(2)?,
            reason: r.get(3)?,
            opened_at: r.get(4)?,
            resolved_at: r.get(5)?,
            resolution: resolution.and_then(|s| serde_json::from_value(json!(s)).ok()),
            note: r.get(7)?,
        })
    })
    .optional()?
    .ok_or_else(|| StoreError::not_found("dispute", id))
}

/// An event's data with `"source"` added when the change did not come
/// through the API.
pub(crate) fn with_source(mut data: serde_json::Value, source: Option<&str>) -> serde_json::Value {
    if let (Some(source), Some(map)) = (source, data.as_object_mut()) {
        map.insert("source".into(), source.into());
    }
    data
}

/// An invoice of this tenant that is still owed, or a problem on `field`.
fn owed_invoice(
    conn: &Connection,
    tenant_id: i64,
    external_id: &str,
    field: &str,
) -> Result<InvoiceRow> {
    let invoice = match invoices::row(conn, tenant_id, external_id) {
        Err(StoreError::NotFound { .. }) => {
            return Err(StoreError::invalid(
                field,
                format!("no invoice {external_id:?} in this tenant"),
            ));
        }
        other => other?,
    };
    if !invoice.status.is_owed() {
        return Err(StoreError::invalid(
            field,
            format!("invoice {external_id:?} is {}", invoice.status.as_str()),
        ));
    }
    Ok(invoice)
}

/// A promise to pay, made by or for a debtor.
#[derive(Clone, Debug, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPromise {
    pub debtor_id: String,
    /// The invoices it covers. Default: every owed invoice in `currency`.
    pub invoice_ids: Option<Vec<String>>,
    pub currency: String,
    /// Minor units the debtor promises to pay.
    pub amount: i64,
    /// The date they promise to pay by; today or later, within a year.
    pub promised_on: NaiveDate,
    pub note: Option<String>,
    /// Where it came from when not the API (`"portal"`): recorded in the
    /// event.
    #[serde(skip)]
    pub source: Option<&'static str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PromiseStatus {
    Pending,
    Kept,
    Broken,
    Cancelled,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Promise {
    pub id: String,
    pub debtor_id: String,
    pub invoice_ids: Vec<String>,
    pub currency: String,
    pub amount: i64,
    /// Paid towards it since it was made.
    pub paid: i64,
    pub promised_on: NaiveDate,
    pub status: PromiseStatus,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

pub fn make_promise(
    conn: &Connection,
    tenant_id: i64,
    input: &NewPromise,
    now: DateTime<Utc>,
) -> Result<Promise> {
    let today = now.date_naive();
    let mut problems = Vec::new();
    if input.amount <= 0 || input.amount > MAX_AMOUNT {
        problems.push(FieldError::new(
            "amount",
            "must be a positive number of minor units",
        ));
    }
    if input.promised_on < today {
        problems.push(FieldError::new(
            "promised_on",
            format!("{} is in the past", input.promised_on),
        ));
    } else if (input.promised_on - today).num_days() > 365 {
        problems.push(FieldError::new("promised_on", "is more than a year away"));
    }
    if input.note.as_ref().is_some_and(|n| n.len() > 2000) {
        problems.push(FieldError::new("note", "at most 2000 characters"));
    }
    if !problems.is_empty() {
        return Err(StoreError::Invalid(problems));
    }
    let debtor = debtors::row_id(conn, tenant_id, &input.debtor_id).map_err(|_| {
        StoreError::invalid(
            "debtor_id",
            format!("no debtor {:?} in this tenant", input.debtor_id),
        )
    })?;
    let covered = covered_invoices(
        conn,
        tenant_id,
        debtor,
        &input.currency,
        input.invoice_ids.as_deref(),
    )?;
    let owed: i64 = covered.iter().map(|i| i.open_amount).sum();
    if input.amount > owed {
        return Err(StoreError::invalid(
            "amount",
            format!(
                "{} is more than the {owed} the invoices still owe",
                input.amount
            ),
        ));
    }
    let id = ids::new_id("prm");
    conn.prepare_cached(
        "INSERT INTO promises (public_id, tenant_id, debtor_id, currency, amount, promised_on, status, note, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8)",
    )?
    .execute(params![id, tenant_id, debtor, input.currency, input.amount, input.promised_on, input.note, now])?;
    let row = conn.last_insert_rowid();
    for invoice in &covered {
        conn.prepare_cached(
            "INSERT INTO promise_invoices (promise_id, invoice_id) VALUES (?1, ?2)",
        )?
        .execute(params![row, invoice.id])?;
    }
    timeline::append(
        conn,
        tenant_id,
        debtor,
        now,
        EventKind::PromiseMade,
        Some(&id),
        &with_source(
            json!({
                "amount": input.amount, "currency": input.currency, "promised_on": input.promised_on,
                "invoice_ids": covered.iter().map(|i| &i.external_id).collect::<Vec<_>>(),
            }),
            input.source,
        ),
    )?;
    for invoice in &covered {
        invoices::refresh_status(conn, tenant_id, invoice.id, now, today)?;
    }
    get_promise(conn, tenant_id, &id)
}

/// The owed invoices a promise or plan covers: the named ones, or all of the
/// debtor's in `currency`.
fn covered_invoices(
    conn: &Connection,
    tenant_id: i64,
    debtor: i64,
    currency: &str,
    named: Option<&[String]>,
) -> Result<Vec<InvoiceRow>> {
    let covered = match named {
        Some([]) => {
            return Err(StoreError::invalid(
                "invoice_ids",
                "name at least one invoice, or leave it out",
            ));
        }
        Some(named) => {
            let mut covered = Vec::new();
            for (i, external_id) in named.iter().enumerate() {
                let field = format!("invoice_ids[{i}]");
                let invoice = owed_invoice(conn, tenant_id, external_id, &field)?;
                if invoice.debtor_id != debtor {
                    return Err(StoreError::invalid(
                        field,
                        format!("invoice {external_id:?} is not this debtor's"),
                    ));
                }
                if invoice.currency != currency {
                    return Err(StoreError::invalid(
                        field,
                        format!("invoice {external_id:?} is in {}", invoice.currency),
                    ));
                }
                if covered.iter().any(|c: &InvoiceRow| c.id == invoice.id) {
                    return Err(StoreError::invalid(field, "named twice"));
                }
                covered.push(invoice);
            }
            covered
        }
        None => invoices::owed_by_debtor(conn, debtor, currency)?,
    };
    if covered.is_empty() {
        return Err(StoreError::invalid(
            "currency",
            format!("the debtor owes nothing in {currency}"),
        ));
    }
    Ok(covered)
}

pub fn get_promise(conn: &Connection, tenant_id: i64, id: &str) -> Result<Promise> {
    let (row, mut promise) = conn
        .prepare_cached(
            "SELECT p.id, p.public_id, d.external_id, p.currency, p.amount, p.paid, p.promised_on, p.status, p.note, p.created_at, p.closed_at
             FROM promises p JOIN debtors d ON d.id = p.debtor_id WHERE p.tenant_id = ?1 AND p.public_id = ?2",
        )?
        .query_row(params![tenant_id, id], |r| {
            let status: String = r.get(7)?;
            Ok((
                r.get::<_, i64>(0)?,
                Promise {
                    id: r.get(1)?,
                    debtor_id: r.get(2)?,
                    invoice_ids: Vec::new(),
                    currency: r.get(3)?,
                    amount: r.get(4)?,
                    paid: r.get(5)?,
                    promised_on: r.get(6)?,
                    status: serde_json::from_value(json!(status)).unwrap_or(PromiseStatus::Pending),
                    note: r.get(8)?,
                    created_at: r.get(9)?,
                    closed_at: r.get(10)?,
                },
            ))
        })
        .optional()?
        .ok_or_else(|| StoreError::not_found("promise", id))?;
    promise.invoice_ids = conn
        .prepare_cached(
            "SELECT i.external_id FROM promise_invoices pi JOIN invoices i ON i.id = pi.invoice_id WHERE pi.promise_id = ?1 ORDER BY i.id",
        )?
        .query_map([row], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(promise)
}

pub fn cancel_promise(
    conn: &Connection,
    tenant_id: i64,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Promise> {
    let promise = get_promise(conn, tenant_id, id)?;
    if promise.status != PromiseStatus::Pending {
        return Err(StoreError::Conflict {
            field: "id".into(),
            detail: format!("promise {id} is no longer pending"),
        });
    }
    close_promise(conn, tenant_id, id, PromiseStatus::Cancelled, now)?;
    get_promise(conn, tenant_id, id)
}

fn close_promise(
    conn: &Connection,
    tenant_id: i64,
    id: &str,
    status: PromiseStatus,
    now: DateTime<Utc>,
) -> Result<()> {
    let (name, kind) = match status {
        PromiseStatus::Kept => ("kept", EventKind::PromiseKept),
        PromiseStatus::Broken => ("broken", EventKind::PromiseBroken),
        PromiseStatus::Cancelled | PromiseStatus::Pending => {
            ("cancelled", EventKind::PromiseCancelled)
        }
    };
    close(conn, tenant_id, Arrangement::Promise, id, name, kind, now)
}

/// Promises and payment plans cover invoices the same way; they differ in
/// their tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arrangement {
    Promise,
    Plan,
}

impl Arrangement {
    /// (its table, the table linking it to invoices, that table's key column)
    fn tables(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Arrangement::Promise => ("promises", "promise_invoices", "promise_id"),
            Arrangement::Plan => ("payment_plans", "plan_invoices", "plan_id"),
        }
    }
}

/// Closes a promise or plan with `status`, records `kind` on the timeline
/// and lets the invoices it covered take their status again.
fn close(
    conn: &Connection,
    tenant_id: i64,
    which: Arrangement,
    id: &str,
    status: &str,
    kind: EventKind,
    now: DateTime<Utc>,
) -> Result<()> {
    let (table, link, key) = which.tables();
    let (row, debtor): (i64, i64) = conn
        .prepare_cached(&format!(
            "SELECT id, debtor_id FROM {table} WHERE tenant_id = ?1 AND public_id = ?2"
        ))?
        .query_row(params![tenant_id, id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    conn.prepare_cached(&format!(
        "UPDATE {table} SET status = ?2, closed_at = ?3 WHERE id = ?1"
    ))?
    .execute(params![row, status, now])?;
    timeline::append(conn, tenant_id, debtor, now, kind, Some(id), &json!({}))?;
    let covered: Vec<i64> = conn
        .prepare_cached(&format!("SELECT invoice_id FROM {link} WHERE {key} = ?1"))?
        .query_map([row], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for invoice in covered {
        invoices::refresh_status(conn, tenant_id, invoice, now, now.date_naive())?;
    }
    Ok(())
}

/// The part of a payment's allocations that went to invoices the promise
/// or plan `row` covers.
fn applied_to(
    conn: &Connection,
    which: Arrangement,
    row: i64,
    applied: &[(InvoiceRow, i64)],
) -> Result<i64> {
    let (_, link, key) = which.tables();
    let mut total = 0;
    for (invoice, amount) in applied {
        let covered: bool = conn
            .prepare_cached(&format!(
                "SELECT EXISTS (SELECT 1 FROM {link} WHERE {key} = ?1 AND invoice_id = ?2)"
            ))?
            .query_row(params![row, invoice.id], |r| r.get(0))?;
        if covered {
            total += amount;
        }
    }
    Ok(total)
}

/// A payment plan: owed invoices settled in installments.
#[derive(Clone, Debug, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPaymentPlan {
    pub debtor_id: String,
    /// The invoices it settles. Default: every owed invoice in `currency`.
    pub invoice_ids: Option<Vec<String>>,
    pub currency: String,
    /// Number of installments, 2-60. The total is split evenly, the
    /// remainder going to the first installment.
    pub installments: u16,
    /// Days between installments, 7-92.
    pub every_days: u16,
    /// Due date of the first installment; today or later, within 92 days.
    pub first_due_on: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Installment {
    pub due_on: NaiveDate,
    pub amount: i64,
    pub paid: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PaymentPlan {
    pub id: String,
    pub debtor_id: String,
    pub invoice_ids: Vec<String>,
    pub currency: String,
    pub total: i64,
    /// `active`, `completed`, `defaulted` or `cancelled`.
    pub status: String,
    pub installments: Vec<Installment>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

pub fn create_plan(
    conn: &Connection,
    tenant_id: i64,
    input: &NewPaymentPlan,
    now: DateTime<Utc>,
) -> Result<PaymentPlan> {
    let today = now.date_naive();
    let mut problems = Vec::new();
    if !(2..=60).contains(&input.installments) {
        problems.push(FieldError::new("installments", "2 to 60 installments"));
    }
    if !(7..=92).contains(&input.every_days) {
        problems.push(FieldError::new(
            "every_days",
            "7 to 92 days between installments",
        ));
    }
    if input.first_due_on < today || (input.first_due_on - today).num_days() > 92 {
        problems.push(FieldError::new(
            "first_due_on",
            "today or later, within 92 days",
        ));
    }
    if !problems.is_empty() {
        return Err(StoreError::Invalid(problems));
    }
    let debtor = debtors::row_id(conn, tenant_id, &input.debtor_id).map_err(|_| {
        StoreError::invalid(
            "debtor_id",
            format!("no debtor {:?} in this tenant", input.debtor_id),
        )
    })?;
    let covered = covered_invoices(
        conn,
        tenant_id,
        debtor,
        &input.currency,
        input.invoice_ids.as_deref(),
    )?;
    for (i, invoice) in covered.iter().enumerate() {
        if invoice.status == InvoiceStatus::InPlan {
            return Err(StoreError::Conflict {
                field: format!("invoice_ids[{i}]"),
                detail: format!(
                    "invoice {:?} is already in a payment plan",
                    invoice.external_id
                ),
            });
        }
    }
    let total: i64 = covered.iter().map(|i| i.open_amount).sum();
    let count = i64::from(input.installments);
    if total < count {
        return Err(StoreError::invalid(
            "installments",
            "more installments than minor units owed",
        ));
    }
    let id = ids::new_id("pln");
    conn.prepare_cached(
        "INSERT INTO payment_plans (public_id, tenant_id, debtor_id, currency, total, status, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6)",
    )?
    .execute(params![id, tenant_id, debtor, input.currency, total, now])?;
    let row = conn.last_insert_rowid();
    for invoice in &covered {
        conn.prepare_cached("INSERT INTO plan_invoices (plan_id, invoice_id) VALUES (?1, ?2)")?
            .execute(params![row, invoice.id])?;
    }
    for seq in 0..count {
        let amount = total / count + if seq == 0 { total % count } else { 0 };
        let due_on =
            input.first_due_on + chrono::Days::new((seq * i64::from(input.every_days)) as u64);
        conn.prepare_cached(
            "INSERT INTO installments (plan_id, seq, due_on, amount) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![row, seq, due_on, amount])?;
    }
    timeline::append(
        conn,
        tenant_id,
        debtor,
        now,
        EventKind::PlanCreated,
        Some(&id),
        &json!({ "total": total, "currency": input.currency, "installments": input.installments, "every_days": input.every_days }),
    )?;
    for invoice in &covered {
        invoices::refresh_status(conn, tenant_id, invoice.id, now, today)?;
    }
    get_plan(conn, tenant_id, &id)
}

pub fn get_plan(conn: &Connection, tenant_id: i64, id: &str) -> Result<PaymentPlan> {
    let (row, mut plan) = conn
        .prepare_cached(
            "SELECT p.id, p.public_id, d.external_id, p.currency, p.total, p.status, p.created_at, p.closed_at
             FROM payment_plans p JOIN debtors d ON d.id = p.debtor_id WHERE p.tenant_id = ?1 AND p.public_id = ?2",
        )?
        .query_row(params![tenant_id, id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                PaymentPlan {
                    id: r.get(1)?,
                    debtor_id: r.get(2)?,
                    invoice_ids: Vec::new(),
                    currency: r.get(3)?,
                    total: r.get(4)?,
                    status: r.get(5)?,
                    installments: Vec::new(),
                    created_at: r.get(6)?,
                    closed_at: r.get(7)?,
                },
            ))
        })
        .optional()?
        .ok_or_else(|| StoreError::not_found("payment plan", id))?;
    plan.invoice_ids = conn
        .prepare_cached("SELECT i.external_id FROM plan_invoices pi JOIN invoices i ON i.id = pi.invoice_id WHERE pi.plan_id = ?1 ORDER BY i.id")?
        .query_map([row], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    plan.installments = conn
        .prepare_cached(
            "SELECT due_on, amount, paid FROM installments WHERE plan_id = ?1 ORDER BY seq",
        )?
        .query_map([row], |r| {
            Ok(Installment {
                due_on: r.get(0)?,
                amount: r.get(1)?,
                paid: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(plan)
}

pub fn cancel_plan(
    conn: &Connection,
    tenant_id: i64,
    id: &str,
    now: DateTime<Utc>,
) -> Result<PaymentPlan> {
    let plan = get_plan(conn, tenant_id, id)?;
    if plan.status != "active" {
        return Err(StoreError::Conflict {
            field: "id".into(),
            detail: format!("payment plan {id} is {}", plan.status),
        });
    }
    close_plan(conn, tenant_id, id, "cancelled", now)?;
    get_plan(conn, tenant_id, id)
}

fn close_plan(
    conn: &Connection,
    tenant_id: i64,
    id: &str,
    status: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let kind = match status {
        "completed" => EventKind::PlanCompleted,
        "defaulted" => EventKind::PlanDefaulted,
        _ => EventKind::PlanCancelled,
    };
    close(conn, tenant_id, Arrangement::Plan, id, status, kind, now)
}

/// A payment was applied: count what went to a pending promise's or an
/// active plan's invoices towards it, keeping or completing it when covered.
pub(crate) fn payment_applied(
    conn: &Connection,
    tenant_id: i64,
    debtor: i64,
    currency: &str,
    applied: &[(InvoiceRow, i64)],
    now: DateTime<Utc>,
) -> Result<()> {
    if applied.iter().all(|(_, a)| *a == 0) {
        return Ok(());
    }
    let promises: Vec<(i64, String, i64, i64)> = conn
        .prepare_cached(
            "SELECT id, public_id, amount, paid FROM promises WHERE debtor_id = ?1 AND currency = ?2 AND status = 'pending' ORDER BY promised_on, id",
        )?
        .query_map(params![debtor, currency], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (row, id, promised, paid) in promises {
        // Only money applied to the promise's own invoices keeps it.
        let towards = applied_to(conn, Arrangement::Promise, row, applied)?;
        if towards == 0 {
            continue;
        }
        let paid = paid + towards;
        conn.prepare_cached("UPDATE promises SET paid = ?2 WHERE id = ?1")?
            .execute(params![row, paid])?;
        if paid >= promised {
            close_promise(conn, tenant_id, &id, PromiseStatus::Kept, now)?;
        }
    }
    let plans: Vec<(i64, String)> = conn
        .prepare_cached("SELECT id, public_id FROM payment_plans WHERE debtor_id = ?1 AND currency = ?2 AND status = 'active' ORDER BY id")?
        .query_map(params![debtor, currency], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (row, id) in plans {
        // Only money applied to the plan's own invoices pays installments.
        let mut left = applied_to(conn, Arrangement::Plan, row, applied)?;
        let installments: Vec<(i64, i64, i64)> = conn
            .prepare_cached("SELECT seq, amount, paid FROM installments WHERE plan_id = ?1 AND paid < amount ORDER BY seq")?
            .query_map([row], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (seq, due, paid) in installments {
            if left == 0 {
                break;
            }
            let take = left.min(due - paid);
            left -= take;
            conn.prepare_cached(
                "UPDATE installments SET paid = paid + ?3 WHERE plan_id = ?1 AND seq = ?2",
            )?
            .execute(params![row, seq, take])?;
        }
        let owed: i64 = conn
            .prepare_cached(
                "SELECT COALESCE(SUM(i.open_amount), 0) FROM plan_invoices pi JOIN invoices i ON i.id = pi.invoice_id WHERE pi.plan_id = ?1",
            )?
            .query_row([row], |r| r.get(0))?;
        if owed == 0 {
            close_plan(conn, tenant_id, &id, "completed", now)?;
        }
    }
    Ok(())
}

/// Closes what time has decided: pending promises whose date has passed
/// unpaid become `broken`; active plans with an installment more than
/// `grace_days` overdue become `defaulted`. Run by `dun serve` periodically.
/// Returns how many it closed.
pub fn sweep(
    conn: &Connection,
    today: NaiveDate,
    grace_days: u32,
    now: DateTime<Utc>,
) -> Result<usize> {
    let broken: Vec<(i64, String)> = conn
        .prepare_cached("SELECT tenant_id, public_id FROM promises WHERE status = 'pending' AND promised_on < ?1")?
        .query_map([today], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (tenant, id) in &broken {
        close_promise(conn, *tenant, id, PromiseStatus::Broken, now)?;
    }
    let cutoff = today - chrono::Days::new(u64::from(grace_days));
    let defaulted: Vec<(i64, String)> = conn
        .prepare_cached(
            "SELECT DISTINCT p.tenant_id, p.public_id FROM payment_plans p JOIN installments s ON s.plan_id = p.id
             WHERE p.status = 'active' AND s.paid < s.amount AND s.due_on < ?1",
        )?
        .query_map([cutoff], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (tenant, id) in &defaulted {
        close_plan(conn, *tenant, id, "defaulted", now)?;
    }
    Ok(broken.len() + defaulted.len())
}
