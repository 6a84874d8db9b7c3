//! The debtor's timeline: an append-only list of everything that happened
//! (the table's triggers refuse updates and deletes). Every change the store
//! makes to a debtor's affairs appends its event in the same savepoint, so
//! the timeline and the data never disagree.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde::Serialize;

use super::{Result, StoreError, from_json};

/// What happened. The engine (scheduler, guardrails, outbox) adds its own
/// kinds beside these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    DebtorCreated,
    DebtorUpdated,
    OptOutAdded,
    OptOutRemoved,
    InvoiceCreated,
    InvoiceVoided,
    InvoiceStatusChanged,
    PaymentReceived,
    PaymentRefunded,
    DisputeOpened,
    DisputeResolved,
    PromiseMade,
    PromiseKept,
    PromiseBroken,
    PromiseCancelled,
    PlanCreated,
    PlanCompleted,
    PlanDefaulted,
    PlanCancelled,
    MessageSent,
    MessageSuppressed,
    MessageFailed,
    MessageCancelled,
    ActionMoved,
    ActionSuppressed,
    FeeCharged,
    InvoiceDeferred,
    OfferMade,
    OfferAccepted,
    Escalated,
    EscalationSent,
    EscalationFailed,
    /// The debtor's strategy version was quarantined after this evaluation.
    PluginQuarantined,
}

impl EventKind {
    /// Every kind, for checking subscription patterns.
    pub const ALL: &[EventKind] = &[
        EventKind::DebtorCreated,
        EventKind::DebtorUpdated,
        EventKind::OptOutAdded,
        EventKind::OptOutRemoved,
        EventKind::InvoiceCreated,
        EventKind::InvoiceVoided,
        EventKind::InvoiceStatusChanged,
        EventKind::PaymentReceived,
        EventKind::PaymentRefunded,
        EventKind::DisputeOpened,
        EventKind::DisputeResolved,
        EventKind::PromiseMade,
        EventKind::PromiseKept,
        EventKind::PromiseBroken,
        EventKind::PromiseCancelled,
        EventKind::PlanCreated,
        EventKind::PlanCompleted,
        EventKind::PlanDefaulted,
        EventKind::PlanCancelled,
        EventKind::MessageSent,
        EventKind::MessageSuppressed,
        EventKind::MessageFailed,
        EventKind::MessageCancelled,
        EventKind::ActionMoved,
        EventKind::ActionSuppressed,
        EventKind::FeeCharged,
        EventKind::InvoiceDeferred,
        EventKind::OfferMade,
        EventKind::OfferAccepted,
        EventKind::Escalated,
        EventKind::EscalationSent,
        EventKind::EscalationFailed,
        EventKind::PluginQuarantined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::DebtorCreated => "debtor.created",
            EventKind::DebtorUpdated => "debtor.updated",
            EventKind::OptOutAdded => "opt-out.added",
            EventKind::OptOutRemoved => "opt-out.removed",
            EventKind::InvoiceCreated => "invoice.created",
            EventKind::InvoiceVoided => "invoice.voided",
            EventKind::InvoiceStatusChanged => "invoice.status-changed",
            EventKind::PaymentReceived => "payment.received",
            EventKind::PaymentRefunded => "payment.refunded",
            EventKind::DisputeOpened => "dispute.opened",
            EventKind::DisputeResolved => "dispute.resolved",
            EventKind::PromiseMade => "promise.made",
            EventKind::PromiseKept => "promise.kept",
            EventKind::PromiseBroken => "promise.broken",
            EventKind::PromiseCancelled => "promise.cancelled",
            EventKind::PlanCreated => "plan.created",
            EventKind::PlanCompleted => "plan.completed",
            EventKind::PlanDefaulted => "plan.defaulted",
            EventKind::PlanCancelled => "plan.cancelled",
            EventKind::MessageSent => "message.sent",
            EventKind::MessageSuppressed => "message.suppressed",
            EventKind::MessageFailed => "message.failed",
            EventKind::MessageCancelled => "message.cancelled",
            EventKind::ActionMoved => "action.moved",
            EventKind::ActionSuppressed => "action.suppressed",
            EventKind::FeeCharged => "fee.charged",
            EventKind::InvoiceDeferred => "invoice.deferred",
            EventKind::OfferMade => "offer.made",
            EventKind::OfferAccepted => "offer.accepted",
            EventKind::Escalated => "escalation.created",
            EventKind::EscalationSent => "escalation.sent",
            EventKind::EscalationFailed => "escalation.failed",
            EventKind::PluginQuarantined => "plugin.quarantined",
        }
    }
}

/// One entry of a debtor's timeline.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// Position in the tenant's history; later events have larger ids.
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `invoice.created`, `payment.received`, `dispute.opened`, …
    pub kind: String,
    /// What it is about, when that is one thing (an invoice's id, a payment's id).
    pub subject: Option<String>,
    /// The details, by kind.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

pub(crate) fn append(
    conn: &Connection,
    tenant_id: i64,
    debtor_id: i64,
    at: DateTime<Utc>,
    kind: EventKind,
    subject: Option<&str>,
    data: &serde_json::Value,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO events (tenant_id, debtor_id, at, kind, subject, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        tenant_id,
        debtor_id,
        at,
        kind.as_str(),
        subject,
        serde_json::to_string(data).map_err(|e| StoreError::Internal(e.to_string()))?
    ])?;
    Ok(())
}

/// A debtor's events, newest first, older than `before` when given.
pub fn list(
    conn: &Connection,
    tenant_id: i64,
    debtor_external_id: &str,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<Event>> {
    let debtor = super::debtors::row_id(conn, tenant_id, debtor_external_id)?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, at, kind, subject, data FROM events
         WHERE debtor_id = ?1 AND tenant_id = ?2 AND id < ?3 ORDER BY id DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![debtor, tenant_id, before.unwrap_or(i64::MAX), limit as i64],
        |r| {
            Ok(Event {
                id: r.get(0)?,
                at: r.get(1)?,
                kind: r.get(2)?,
                subject: r.get(3)?,
                data: from_json(&r.get::<_, String>(4)?)?,
            })
        },
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
