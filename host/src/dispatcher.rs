//! The dispatcher: carries due outbox messages out. Each pass claims what is
//! due (leased, so a crash only delays a message and two workers never send
//! the same one), checks every message again against the debtor as they are
//! now, renders it with the tenant's template (or the built-in one) in the
//! debtor's language, sends it through the channel's sender with its
//! idempotency key, and records the outcome with what was sent.
//!
//! Re-checks at send time: an invoice paid, voided or disputed since the
//! plan drops out of the message, and a message with none left is
//! suppressed; so is one whose channel the debtor opted out of or no longer
//! has. A failed send is retried with exponential backoff and jitter,
//! within the channel's local hours, when the sender says it may help, and
//! given up (`failed`) after [`MAX_ATTEMPTS`] or at once when it says it
//! will not.

use chrono::{DateTime, Duration, Utc};

use crate::case::{Channel, Tone};
use crate::portal::Links;
use crate::senders::{Directory, Message, SendError, Sender, pdf};
use crate::store::debtors::Debtor;
use crate::store::invoices::{self, Invoice};
use crate::store::messaging::Messaging;
use crate::store::outbox::{self, OutboxEntry, Sent};
use crate::store::{Result, Store, actions, debtors, templates as stored_templates};
use crate::templates::{self, Context, Line, Offer, Total};

/// Attempts before a message is given up.
pub const MAX_ATTEMPTS: u32 = 5;
/// How long a claimed message is reserved for the claiming worker.
pub const LEASE: Duration = Duration::minutes(5);
/// Messages claimed per pass.
pub const BATCH: usize = 64;

/// What a pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub sent: usize,
    pub suppressed: usize,
    /// Failed attempts (retried later or given up).
    pub failed: usize,
}

impl Pass {
    pub fn total(&self) -> usize {
        self.sent + self.suppressed + self.failed
    }
}

/// One pass at `now`, each message through its tenant's senders. Blocking:
/// run it on a blocking thread.
pub fn dispatch_due(
    store: &Store,
    senders: &Directory,
    portal: &Links,
    now: DateTime<Utc>,
) -> Result<Pass> {
    let claimed = store.write_blocking(move |conn| outbox::claim_due(conn, now, LEASE, BATCH))?;
    let mut pass = Pass::default();
    for entry in claimed {
        let lookup = entry.clone();
        let found = store.read_blocking(move |conn| {
            let today = now.date_naive();
            let (debtor, invoices, tenant) = as_they_are(
                conn,
                lookup.tenant_row,
                &lookup.debtor_id,
                &lookup.invoice_ids,
                today,
            )?;
            let template = stored_templates::effective_named(
                conn,
                lookup.tenant_row,
                lookup.template.as_deref(),
                lookup.channel,
                lookup.tone,
                &debtor.language,
            )?;
            let debtor_row = debtors::row_id(conn, lookup.tenant_row, &lookup.debtor_id)?;
            let offers = actions::open_offers(conn, lookup.tenant_row, debtor_row, today)?;
            Ok((debtor, invoices, tenant, template, offers))
        })?;
        let (debtor, invoices, tenant, template, offers) = found;
        let owed: Vec<&Invoice> = invoices.iter().filter(|i| i.status.is_chased()).collect();
        let outcome = recheck(&entry, &debtor, &owed).and_then(|recipient| {
            let sender = senders
                .for_tenant(&tenant.slug, &tenant.messaging.senders)
                .map_err(|e| Refusal::Fault(format!("the tenant's senders: {e}")))?;
            let context = context(
                &debtor,
                &owed,
                &offers,
                &tenant,
                (entry.channel, entry.tone),
                Some(portal),
                now,
            );
            let rendered = templates::render(entry.channel, &template.template, &context)
                .map_err(|e| Refusal::Fault(format!("template {}: {e}", template.name)))?;
            let mut message = Message {
                idempotency_key: entry.idempotency_key.clone(),
                tenant: tenant.slug.clone(),
                tenant_name: tenant.name.clone(),
                channel: entry.channel,
                tone: entry.tone,
                language: debtor.language.clone(),
                to: recipient.0,
                postal: recipient.1,
                subject: rendered.subject,
                text: rendered.text,
                html: rendered.html,
                pdf: None,
                at: now,
            };
            if entry.channel == Channel::Letter {
                message.pdf = Some(letter(&message, &context));
            }
            Ok((message, sender))
        });
        let done = entry.clone();
        match outcome {
            Err(Refusal::Suppress(reason)) => {
                pass.suppressed += 1;
                store.write_blocking(move |conn| {
                    outbox::finish(conn, &done, "suppressed", Some(&reason), None, now)
                })?;
            }
            Err(Refusal::Fault(error)) => {
                pass.failed += 1;
                tracing::error!(message = %entry.id, %error, "cannot render");
                store.write_blocking(move |conn| {
                    outbox::finish(conn, &done, "failed", Some(&error), None, now)
                })?;
            }
            Ok((message, sender)) => match sender.send(&message) {
                Ok(reference) => {
                    pass.sent += 1;
                    let sent = Sent {
                        rendered_with: template.name.clone(),
                        recipient: message.to.clone(),
                        language: message.language.clone(),
                        subject: message.subject.clone(),
                        text: message.text.clone(),
                        html: message.html.clone(),
                        pdf: message.pdf.clone(),
                        reference,
                    };
                    store.write_blocking(move |conn| outbox::sent(conn, &done, &sent, now))?;
                }
                Err(error) => {
                    pass.failed += 1;
                    let (status, retry_at) =
                        backoff(entry.attempts, &entry.idempotency_key, &error, now);
                    // A retry keeps to the channel's hours in the debtor's zone.
                    let retry_at = match retry_at {
                        Some(at) => {
                            let tenant_row = entry.tenant_row;
                            let policy = store.read_blocking(move |conn| {
                                crate::store::policies::get(conn, tenant_row)
                            })?;
                            let zone = debtor.time_zone.parse().unwrap_or(chrono_tz::UTC);
                            Some(policy.within_hours(entry.channel, zone, at))
                        }
                        None => None,
                    };
                    tracing::warn!(message = %entry.id, %error, status, "send failed");
                    let reason = error.message;
                    store.write_blocking(move |conn| {
                        outbox::finish(conn, &done, status, Some(&reason), retry_at, now)
                    })?;
                }
            },
        }
    }
    Ok(pass)
}

/// One hand-over pass at `now`: escalations due go to the escalation
/// webhook (or the outbox folder), with the debtor and the invoices as
/// they are now; retried with backoff like messages. Returns (sent,
/// failed attempts). Blocking.
pub fn hand_over_due(
    store: &Store,
    senders: &Directory,
    now: DateTime<Utc>,
) -> Result<(usize, usize)> {
    let claimed =
        store.write_blocking(move |conn| actions::claim_escalations(conn, now, LEASE, BATCH))?;
    let mut counts = (0, 0);
    for escalation in claimed {
        let lookup = escalation.clone();
        let (tenant, payload) = store.read_blocking(move |conn| {
            let (debtor, invoices, tenant) = as_they_are(
                conn,
                lookup.tenant_row,
                &lookup.debtor_id,
                &lookup.invoice_ids,
                now.date_naive(),
            )?;
            let payload = serde_json::json!({
                "event": "escalation.created",
                "id": lookup.id,
                "tenant": tenant.slug,
                "target": lookup.target,
                "note": lookup.note,
                "created_at": lookup.created_at,
                "debtor": debtor,
                "invoices": invoices,
            });
            Ok((tenant, payload))
        })?;
        let done = escalation.clone();
        let handed = senders
            .for_tenant(&tenant.slug, &tenant.messaging.senders)
            .map_err(|e| SendError::permanent(format!("the tenant's senders: {e}")))
            .and_then(|s| s.hand_over(&tenant.slug, &payload, &escalation.id, now));
        match handed {
            Ok(()) => {
                counts.0 += 1;
                store.write_blocking(move |conn| {
                    actions::finish_escalation(conn, &done, "sent", None, None, now)
                })?;
            }
            Err(error) => {
                counts.1 += 1;
                let (status, retry_at) = backoff(escalation.attempts, &escalation.id, &error, now);
                let status = if status == "scheduled" {
                    "pending"
                } else {
                    status
                };
                tracing::warn!(escalation = %escalation.id, %error, status, "hand-over failed");
                let reason = error.message;
                store.write_blocking(move |conn| {
                    actions::finish_escalation(conn, &done, status, Some(&reason), retry_at, now)
                })?;
            }
        }
    }
    Ok(counts)
}

/// Who a message is from: the tenant's slug, name and messaging settings.
struct Tenant {
    row: i64,
    slug: String,
    name: String,
    messaging: Messaging,
}

impl Tenant {
    fn get(conn: &rusqlite::Connection, tenant: i64) -> Result<Tenant> {
        let (slug, name) = conn.query_row(
            "SELECT slug, name FROM tenants WHERE id = ?1",
            [tenant],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(Tenant {
            row: tenant,
            slug,
            name,
            messaging: crate::store::messaging::get(conn, tenant)?,
        })
    }
}

/// Events per subscription per pass.
pub const EVENTS_PER_PASS: usize = 200;

/// One delivery pass of event subscriptions at `now`: each due subscription
/// gets the tenant's events after its cursor, in order, the ones matching
/// its patterns POSTed one by one (signed with its secret, `Dun-Event:
/// <kind>`, `Idempotency-Key: evt_<id>`); the cursor moves past every event
/// taken or not wanted. The first failure stops that subscription's pass
/// and holds its cursor: retried after 1, 2, 4 … minutes (at most an hour),
/// never dropped. Returns (events delivered, failed attempts). Blocking.
pub fn deliver_events(store: &Store, now: DateTime<Utc>) -> Result<(usize, usize)> {
    use crate::senders::http::{Webhook, WebhookConfig};
    use crate::store::subscriptions;

    let claimed =
        store.write_blocking(move |conn| subscriptions::claim_due(conn, now, LEASE, BATCH))?;
    let mut counts = (0, 0);
    for due in claimed {
        let (tenant, cursor) = (due.tenant_id, due.cursor);
        let events = store.read_blocking(move |conn| {
            subscriptions::events_after(conn, tenant, cursor, EVENTS_PER_PASS)
        })?;
        let webhook = Webhook::new(WebhookConfig {
            url: due.url.clone(),
            secret: due.secret.clone(),
            timeout_secs: 10,
        });
        let (mut cursor, mut delivered, mut failure) = (due.cursor, 0, None);
        for (event, debtor) in events {
            if subscriptions::matches(&due.patterns, &event.kind) {
                let body = serde_json::json!({
                    "id": format!("evt_{}", event.id),
                    "kind": event.kind,
                    "at": event.at,
                    "tenant": due.tenant,
                    "debtor_id": debtor,
                    "subject": event.subject,
                    "data": event.data,
                });
                let key = format!("evt_{}", event.id);
                if let Err(error) = webhook.post(&event.kind, &body, &key, now) {
                    let wait =
                        Duration::minutes(1 << due.failures.clamp(0, 6)).min(Duration::hours(1));
                    tracing::warn!(subscription = %due.id, %error, "event delivery failed");
                    failure = Some((error.message, now + wait));
                    break;
                }
                delivered += 1;
            }
            cursor = event.id;
        }
        counts.0 += delivered as usize;
        counts.1 += usize::from(failure.is_some());
        store.write_blocking(move |conn| {
            let failure = failure.as_ref().map(|(e, at)| (e.as_str(), *at));
            subscriptions::finish(conn, &due, cursor, delivered, failure, now)
        })?;
    }
    Ok(counts)
}

/// The debtor, the named invoices still on record, and the tenant, as they
/// are `today`.
fn as_they_are(
    conn: &rusqlite::Connection,
    tenant: i64,
    debtor: &str,
    invoice_ids: &[String],
    today: chrono::NaiveDate,
) -> Result<(Debtor, Vec<Invoice>, Tenant)> {
    let debtor = debtors::get(conn, tenant, debtor)?;
    let invoices = invoice_ids
        .iter()
        .filter_map(|id| invoices::get(conn, tenant, id, today).ok())
        .collect();
    Ok((debtor, invoices, Tenant::get(conn, tenant)?))
}

enum Refusal {
    /// Not to be sent, for this reason (on the timeline).
    Suppress(String),
    /// Cannot be sent as it stands (a broken template).
    Fault(String),
}

/// Whether the message may still go, and to whom: (address, postal lines).
fn recheck(
    entry: &OutboxEntry,
    debtor: &Debtor,
    owed: &[&Invoice],
) -> std::result::Result<(String, Vec<String>), Refusal> {
    if owed.is_empty() {
        return Err(Refusal::Suppress(
            "every invoice it names was paid, voided, disputed or handed to collection since it was planned".into(),
        ));
    }
    if debtor.opt_outs.contains(&entry.channel) {
        return Err(Refusal::Suppress(format!(
            "the debtor opted out of {}",
            entry.channel.as_str()
        )));
    }
    let found = match entry.channel {
        Channel::Email => debtor.email.clone().map(|e| (e, Vec::new())),
        Channel::Sms | Channel::Call => debtor.phone.clone().map(|p| (p, Vec::new())),
        Channel::Letter => debtor.postal_address.as_ref().map(|a| {
            let mut lines = vec![debtor.name.clone()];
            lines.extend(a.lines.iter().cloned());
            lines.push(format!("{} {}", a.postal_code, a.city));
            lines.push(a.country.clone());
            (lines.join(", "), lines)
        }),
    };
    found.ok_or_else(|| {
        Refusal::Suppress(format!(
            "no {} contact for the debtor",
            entry.channel.as_str()
        ))
    })
}

/// What a template would see about `debtor` now: their invoices still
/// owed and not disputed, and a portal link when `portal` signs them. For
/// previews.
pub fn context_for(
    conn: &rusqlite::Connection,
    tenant: i64,
    debtor: &str,
    (channel, tone): (Channel, Tone),
    portal: Option<&Links>,
    now: DateTime<Utc>,
) -> Result<Context> {
    let found = debtors::get(conn, tenant, debtor)?;
    let filter = invoices::InvoiceFilter {
        statuses: Vec::new(),
        overdue: None,
        debtor_id: Some(debtor.to_owned()),
        currency: None,
        due_before: None,
        due_after: None,
        after: None,
        limit: 500,
    };
    let (all, _) = invoices::list(conn, tenant, &filter, now.date_naive())?;
    let owed: Vec<&Invoice> = all.iter().filter(|i| i.status.is_chased()).collect();
    let row = debtors::row_id(conn, tenant, debtor)?;
    let offers = actions::open_offers(conn, tenant, row, now.date_naive())?;
    let tenant = Tenant::get(conn, tenant)?;
    Ok(context(
        &found,
        &owed,
        &offers,
        &tenant,
        (channel, tone),
        portal,
        now,
    ))
}

/// What the template sees, with the tenant's payment link for what is owed
/// and the debtor's portal link (valid from `now`).
fn context(
    debtor: &Debtor,
    owed: &[&Invoice],
    offers: &[actions::Offer],
    tenant: &Tenant,
    (channel, tone): (Channel, Tone),
    portal: Option<&Links>,
    now: DateTime<Utc>,
) -> Context {
    let mut totals: Vec<Total> = Vec::new();
    for invoice in owed {
        match totals.iter_mut().find(|t| t.currency == invoice.currency) {
            Some(total) => total.amount += invoice.open_amount,
            None => totals.push(Total {
                currency: invoice.currency.clone(),
                amount: invoice.open_amount,
            }),
        }
    }
    let numbers: Vec<&str> = owed.iter().map(|i| i.id.as_str()).collect();
    let payment_link = tenant.messaging.payment_link_for(
        &tenant.slug,
        &debtor.id,
        &numbers,
        match totals.as_slice() {
            [one] => Some((one.amount, one.currency.as_str())),
            _ => None,
        },
    );
    Context {
        tenant_name: tenant.name.clone(),
        debtor_name: debtor.name.clone(),
        channel,
        tone,
        language: debtor.language.clone(),
        today: now.date_naive(),
        invoices: owed
            .iter()
            .map(|i| Line {
                number: i.number.clone(),
                issued_on: i.issued_on,
                due_on: i.due_on,
                days_overdue: i.days_overdue,
                currency: i.currency.clone(),
                amount: i.amount - i.fees,
                open_amount: i.open_amount,
                fees: i.fees,
            })
            .collect(),
        totals,
        payment_link,
        portal_link: portal.map(|links| links.link(tenant.row, &debtor.id, now)),
        offer: offer(offers, owed),
    }
}

/// The newest open offer about an invoice in the message, as templates see it.
fn offer(offers: &[actions::Offer], owed: &[&Invoice]) -> Option<Offer> {
    let relevant = offers.iter().find(|o| {
        o.invoice_ids
            .iter()
            .any(|id| owed.iter().any(|i| &i.id == id))
    })?;
    match relevant.kind.as_str() {
        "payment-plan" => {
            let installments: Vec<actions::OfferedInstallment> =
                serde_json::from_value(relevant.terms["installments"].clone()).ok()?;
            Some(Offer::PaymentPlan {
                installments: installments.len() as u32,
                first_due_on: installments.first()?.due_on,
                every_days: relevant.terms["every_days"].as_u64()? as u32,
            })
        }
        "discount" => Some(Offer::Discount {
            percent: (relevant.terms["percent_bp"].as_u64()? / 100) as u32,
            valid_until: relevant.valid_until,
        }),
        _ => None,
    }
}

/// A letter as a PDF: the tenant as sender, the debtor's address in the
/// window, the rendered subject and text.
fn letter(message: &Message, context: &Context) -> Vec<u8> {
    pdf::render(&pdf::Letter {
        sender: vec![message.tenant_name.clone()],
        recipient: message.postal.clone(),
        place_and_date: templates::format_date(context.today, &message.language),
        subject: message.subject.clone().unwrap_or_default(),
        body: message.text.clone(),
        reference: message.idempotency_key.clone(),
    })
}

/// After a failed attempt: `scheduled` again after 1, 2, 4, 8 minutes plus
/// up to a quarter more (jitter, so a provider that was down is not hit by
/// every message at once), or `failed` for good.
fn backoff(
    attempts: u32,
    key: &str,
    error: &SendError,
    now: DateTime<Utc>,
) -> (&'static str, Option<DateTime<Utc>>) {
    if !error.retryable || attempts >= MAX_ATTEMPTS {
        return ("failed", None);
    }
    let base = Duration::minutes(1 << attempts.saturating_sub(1).min(10));
    let jitter = base.num_milliseconds() * i64::from(jitter_per_mille(key, attempts)) / 4000;
    (
        "scheduled",
        Some(now + base + Duration::milliseconds(jitter)),
    )
}

/// 0..1000, stable per message and attempt.
fn jitter_per_mille(key: &str, attempt: u32) -> u32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(key.as_bytes())
        .chain_update(attempt.to_le_bytes())
        .finalize();
    u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]]) % 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_with_jitter_and_give_up() {
        let now: DateTime<Utc> = "2026-05-01T09:00:00Z".parse().unwrap();
        let transient = SendError::retry("421 try later");
        let mut last = Duration::zero();
        for attempt in 1..MAX_ATTEMPTS {
            let (status, at) = backoff(attempt, "evl_1-0", &transient, now);
            assert_eq!(status, "scheduled");
            let wait = at.unwrap() - now;
            let base = Duration::minutes(1 << (attempt - 1));
            assert!(wait >= base && wait <= base + base / 4, "{attempt}: {wait}");
            assert!(wait > last);
            last = wait;
        }
        assert_eq!(
            backoff(MAX_ATTEMPTS, "evl_1-0", &transient, now),
            ("failed", None)
        );
        let refused = SendError::permanent("550 no such user");
        assert_eq!(backoff(1, "evl_1-0", &refused, now), ("failed", None));
    }
}
