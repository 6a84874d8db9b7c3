//! The outbox: messages a plan keeps, waiting for their time. Rows are
//! claimed with a lease (an expired lease is claimed again, so a crash
//! mid-send delays a message but never loses it) and each carries an
//! idempotency key that travels to the provider, so a resend after a crash
//! is recognisably the same message.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::json;

use super::timeline::{self, EventKind};
use super::{Result, debtors, from_json, ids, to_json};
use crate::case::{Channel, Contact, ContactOutcome, Tone};
use crate::plan::Reminder;
use crate::store::invoices::InvoiceStatus;

/// One message in the outbox.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OutboxEntry {
    pub id: String,
    pub debtor_id: String,
    pub channel: Channel,
    pub tone: Tone,
    pub invoice_ids: Vec<String>,
    pub template: Option<String>,
    pub scheduled_at: DateTime<Utc>,
    /// `scheduled`, `sending`, `sent`, `failed`, `cancelled` or `suppressed`.
    pub status: String,
    /// Travels to the provider: the email's Message-ID, the file's name.
    pub idempotency_key: String,
    pub attempts: u32,
    /// Why it was cancelled, suppressed or failed.
    pub reason: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub tenant_row: i64,
    #[serde(skip)]
    pub row: i64,
}

const COLUMNS: &str = "o.public_id, d.external_id, o.channel, o.tone, o.invoice_ids, o.template, o.scheduled_at, o.status,
    o.idempotency_key, o.attempts, o.reason, o.sent_at, o.tenant_id, o.id";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxEntry> {
    let enum_of = |text: String| serde_json::from_value(json!(text));
    Ok(OutboxEntry {
        id: r.get(0)?,
        debtor_id: r.get(1)?,
        channel: Channel::parse(&r.get::<_, String>(2)?).unwrap_or(Channel::Email),
        tone: enum_of(r.get(3)?).unwrap_or(Tone::Gentle),
        invoice_ids: from_json(&r.get::<_, String>(4)?)?,
        template: r.get(5)?,
        scheduled_at: r.get(6)?,
        status: r.get(7)?,
        idempotency_key: r.get(8)?,
        attempts: r.get(9)?,
        reason: r.get(10)?,
        sent_at: r.get(11)?,
        tenant_row: r.get(12)?,
        row: r.get(13)?,
    })
}

/// A new evaluation replaces what the last one scheduled: its pending
/// messages are cancelled and the reminders it keeps are scheduled.
pub(crate) fn replace_scheduled(
    conn: &Connection,
    tenant_id: i64,
    debtor: i64,
    evaluation: (i64, &str),
    reminders: &[Reminder],
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET status = 'cancelled', reason = ?2 WHERE debtor_id = ?1 AND status = 'scheduled'",
    )?
    .execute(params![debtor, format!("replaced by evaluation {}", evaluation.1)])?;
    for (index, r) in reminders.iter().enumerate() {
        conn.prepare_cached(
            "INSERT INTO outbox (public_id, tenant_id, debtor_id, evaluation_id, channel, tone, invoice_ids, template,
                                 scheduled_at, status, idempotency_key, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'scheduled', ?10, ?11)",
        )?
        .execute(params![
            ids::new_id("msg"),
            tenant_id,
            debtor,
            evaluation.0,
            r.channel.as_str(),
            r.tone.as_str(),
            to_json(&r.invoice_ids)?,
            r.template,
            r.send_at,
            format!("{}-{index}", evaluation.1),
            now
        ])?;
    }
    Ok(())
}

/// Cancels the debtor's scheduled messages that no longer name an invoice
/// to chase (all paid, voided, written off or disputed since they were
/// planned), with the reason on the timeline. Runs in the same savepoint
/// as the change that settled them, so a payment that lands before the
/// send time cancels the message at once.
pub(crate) fn cancel_unneeded(
    conn: &Connection,
    tenant_id: i64,
    debtor: i64,
    now: DateTime<Utc>,
) -> Result<usize> {
    let scheduled: Vec<OutboxEntry> = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox o JOIN debtors d ON d.id = o.debtor_id
             WHERE o.debtor_id = ?1 AND o.tenant_id = ?2 AND o.status = 'scheduled'"
        ))?
        .query_map(params![debtor, tenant_id], from_row)?
        .collect::<rusqlite::Result<_>>()?;
    let mut cancelled = 0;
    for entry in scheduled {
        let mut still_owed = false;
        for invoice in &entry.invoice_ids {
            let status: Option<String> = conn
                .prepare_cached(
                    "SELECT status FROM invoices WHERE tenant_id = ?1 AND external_id = ?2",
                )?
                .query_row(params![tenant_id, invoice], |r| r.get(0))
                .ok();
            if status
                .and_then(|s| InvoiceStatus::parse(&s))
                .is_some_and(InvoiceStatus::is_chased)
            {
                still_owed = true;
                break;
            }
        }
        if still_owed {
            continue;
        }
        let reason = "every invoice it names was settled or disputed before it was sent";
        conn.prepare_cached("UPDATE outbox SET status = 'cancelled', reason = ?2 WHERE id = ?1")?
            .execute(params![entry.row, reason])?;
        timeline::append(
            conn,
            tenant_id,
            debtor,
            now,
            EventKind::MessageCancelled,
            Some(&entry.id),
            &json!({
                "channel": entry.channel, "tone": entry.tone, "invoice_ids": entry.invoice_ids,
                "scheduled_at": entry.scheduled_at, "reason": reason,
            }),
        )?;
        cancelled += 1;
    }
    Ok(cancelled)
}

/// Claims up to `limit` messages due at `now` (and any whose lease ran out)
/// for `lease`; each claim counts as an attempt.
pub fn claim_due(
    conn: &Connection,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<OutboxEntry>> {
    let claimed: Vec<i64> = conn
        .prepare_cached(
            "UPDATE outbox SET status = 'sending', lease_until = ?2, attempts = attempts + 1
             WHERE id IN (SELECT id FROM outbox
                          WHERE (status = 'scheduled' AND scheduled_at <= ?1) OR (status = 'sending' AND lease_until < ?1)
                          ORDER BY scheduled_at LIMIT ?3)
             RETURNING id",
        )?
        .query_map(params![now, now + lease, limit as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut entries = Vec::with_capacity(claimed.len());
    for row in claimed {
        entries.push(
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM outbox o JOIN debtors d ON d.id = o.debtor_id WHERE o.id = ?1"
            ))?
            .query_row([row], from_row)?,
        );
    }
    Ok(entries)
}

/// Records how a claimed message ended: `sent`, `suppressed` (with the
/// reason) or, after a failed attempt, `scheduled` again at `retry_at` or
/// `failed` for good. Appends the matching timeline event.
pub fn finish(
    conn: &Connection,
    entry: &OutboxEntry,
    status: &str,
    reason: Option<&str>,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<()> {
    let sent_at = (status == "sent").then_some(now);
    conn.prepare_cached(
        "UPDATE outbox SET status = ?2, reason = ?3, sent_at = ?4, scheduled_at = COALESCE(?5, scheduled_at), lease_until = NULL
         WHERE id = ?1",
    )?
    .execute(params![entry.row, status, reason, sent_at, retry_at])?;
    let kind = match status {
        "sent" => Some(EventKind::MessageSent),
        "suppressed" => Some(EventKind::MessageSuppressed),
        "failed" => Some(EventKind::MessageFailed),
        _ => None,
    };
    if let Some(kind) = kind {
        let debtor = debtors::row_id(conn, entry.tenant_row, &entry.debtor_id)?;
        timeline::append(
            conn,
            entry.tenant_row,
            debtor,
            now,
            kind,
            Some(&entry.id),
            &json!({
                "channel": entry.channel, "tone": entry.tone, "invoice_ids": entry.invoice_ids,
                "idempotency_key": entry.idempotency_key, "reason": reason,
            }),
        )?;
    }
    Ok(())
}

/// What went out, as the debtor received it.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    /// The template it was rendered with (`tenant:…` or `builtin:…`).
    pub rendered_with: String,
    pub recipient: String,
    pub language: String,
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
    pub pdf: Option<Vec<u8>>,
    /// The provider's reference (SMTP reply, message id, file path).
    pub reference: Option<String>,
}

/// Records a message as sent, with what was sent.
pub fn sent(conn: &Connection, entry: &OutboxEntry, sent: &Sent, now: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET recipient = ?2, language = ?3, subject = ?4, body = ?5, html = ?6, pdf = ?7, provider_ref = ?8,
                rendered_with = ?9
         WHERE id = ?1",
    )?
    .execute(params![
        entry.row,
        sent.recipient,
        sent.language,
        sent.subject,
        sent.text,
        sent.html,
        sent.pdf,
        sent.reference,
        sent.rendered_with
    ])?;
    finish(conn, entry, "sent", None, None, now)
}

/// The content of a sent message: (recipient, subject, text, html).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SentContent {
    pub recipient: Option<String>,
    pub language: Option<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    /// Whether a PDF is kept (letters): `GET /v1/messages/{id}/pdf`.
    pub has_pdf: bool,
    pub provider_ref: Option<String>,
    /// The template it was rendered with: `tenant:<channel>/<tone>/<language>`,
    /// `tenant:<name>/<channel>/<language>` (a named one) or `builtin:…`.
    pub rendered_with: Option<String>,
}

/// A message by its public id, with what was sent.
pub fn get(conn: &Connection, tenant_id: i64, id: &str) -> Result<(OutboxEntry, SentContent)> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, o.recipient, o.language, o.subject, o.body, o.html, o.pdf IS NOT NULL, o.provider_ref, o.rendered_with
         FROM outbox o JOIN debtors d ON d.id = o.debtor_id
         WHERE o.public_id = ?1 AND o.tenant_id = ?2"
    ))?
    .query_row(params![id, tenant_id], |r| {
        Ok((
            from_row(r)?,
            SentContent {
                recipient: r.get(14)?,
                language: r.get(15)?,
                subject: r.get(16)?,
                text: r.get(17)?,
                html: r.get(18)?,
                has_pdf: r.get(19)?,
                provider_ref: r.get(20)?,
                rendered_with: r.get(21)?,
            },
        ))
    })
    .map_err(|e| match e {
        rusqlite::Error::QueryReturnedNoRows => super::StoreError::not_found("message", id),
        other => other.into(),
    })
}

/// A letter's PDF, as sent.
pub fn pdf(conn: &Connection, tenant_id: i64, id: &str) -> Result<Vec<u8>> {
    conn.prepare_cached("SELECT pdf FROM outbox WHERE public_id = ?1 AND tenant_id = ?2")?
        .query_row(params![id, tenant_id], |r| r.get::<_, Option<Vec<u8>>>(0))
        .ok()
        .flatten()
        .ok_or_else(|| super::StoreError::not_found("letter PDF", id))
}

/// Messages by (channel, status), every tenant: for `/metrics`.
pub fn counts_by_status(conn: &Connection) -> Result<Vec<(String, String, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT channel, status, COUNT(*) FROM outbox GROUP BY channel, status ORDER BY channel, status",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A debtor's messages, newest first.
pub fn list_for_debtor(
    conn: &Connection,
    tenant_id: i64,
    debtor_external_id: &str,
    limit: usize,
) -> Result<Vec<OutboxEntry>> {
    let debtor = debtors::row_id(conn, tenant_id, debtor_external_id)?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox o JOIN debtors d ON d.id = o.debtor_id
         WHERE o.debtor_id = ?1 AND o.tenant_id = ?2 ORDER BY o.id DESC LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![debtor, tenant_id, limit as i64], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Every status a message can have.
pub const STATUSES: [&str; 6] = [
    "scheduled",
    "sending",
    "sent",
    "failed",
    "cancelled",
    "suppressed",
];

/// The tenant's messages, newest first, of one status when given, older
/// than the row `before` when given (the last [`OutboxEntry::row`] of the
/// previous page).
pub fn list_for_tenant(
    conn: &Connection,
    tenant_id: i64,
    status: Option<&str>,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<OutboxEntry>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox o JOIN debtors d ON d.id = o.debtor_id
         WHERE o.tenant_id = ?1 AND (?2 IS NULL OR o.status = ?2) AND o.id < ?3
         ORDER BY o.id DESC LIMIT ?4"
    ))?;
    let rows = stmt.query_map(
        params![tenant_id, status, before.unwrap_or(i64::MAX), limit as i64],
        from_row,
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// How many of the tenant's messages are in each status.
pub fn counts_for_tenant(conn: &Connection, tenant_id: i64) -> Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, COUNT(*) FROM outbox WHERE tenant_id = ?1 GROUP BY status ORDER BY status",
    )?;
    let rows = stmt.query_map([tenant_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The contacts a case shows: messages sent to the debtor (or going out
/// right now), oldest first.
pub(crate) fn contacts(conn: &Connection, debtor: i64) -> Result<Vec<Contact>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM outbox o JOIN debtors d ON d.id = o.debtor_id
         WHERE o.debtor_id = ?1 AND o.status IN ('sent', 'sending') ORDER BY COALESCE(o.sent_at, o.scheduled_at)"
    ))?;
    let rows = stmt.query_map([debtor], from_row)?;
    let mut contacts = Vec::new();
    for entry in rows {
        let entry = entry?;
        contacts.push(Contact {
            at: entry.sent_at.unwrap_or(entry.scheduled_at),
            channel: entry.channel,
            tone: entry.tone,
            invoice_ids: entry.invoice_ids,
            template: entry.template,
            outcome: ContactOutcome::Sent,
        });
    }
    Ok(contacts)
}
