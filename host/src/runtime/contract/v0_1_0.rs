//! `dun:strategy@0.1.0`: bindings, the host side of its imports, and
//! conversions to and from the host's types.

use chrono::{DateTime, Datelike, NaiveDate, Offset, TimeZone, Utc};

use crate::case;
use crate::plan;
use crate::runtime::sandbox::{LogSource, Sandbox};

wasmtime::component::bindgen!({
    path: "../wit/v0.1.0",
    world: "strategy",
    ownership: Borrowing { duplicate_if_necessary: true },
});

use self::dun::strategy::types as wit;

impl self::dun::strategy::types::Host for Sandbox {}

impl self::dun::strategy::log::Host for Sandbox {
    fn log(&mut self, level: self::dun::strategy::log::Level, message: String) {
        use self::dun::strategy::log::Level;
        let source = match level {
            Level::Debug => LogSource::Debug,
            Level::Info => LogSource::Info,
            Level::Warn => LogSource::Warn,
            Level::Error => LogSource::Error,
        };
        self.log.push(source, message);
    }
}

impl self::dun::strategy::calendar::Host for Sandbox {
    fn utc_offset(&mut self, time_zone: String, at: i64) -> Option<i32> {
        let zone = match &self.zone {
            Some((name, zone)) if *name == time_zone => *zone,
            _ => {
                let zone: chrono_tz::Tz = time_zone.parse().ok()?;
                self.zone = Some((time_zone, zone));
                zone
            }
        };
        let utc = DateTime::from_timestamp(at, 0)?;
        Some(
            zone.offset_from_utc_datetime(&utc.naive_utc())
                .fix()
                .local_minus_utc(),
        )
    }
}

/// Link this version's imports into `linker`.
pub fn add_to_linker(linker: &mut wasmtime::component::Linker<Sandbox>) -> wasmtime::Result<()> {
    Strategy::add_to_linker::<Sandbox, wasmtime::component::HasSelf<Sandbox>>(linker, |s| s)
}

fn date(d: NaiveDate) -> wit::Date {
    wit::Date {
        year: d.year(),
        // chrono guarantees 1..=12 and 1..=31.
        month: d.month() as u8,
        day: d.day() as u8,
    }
}

fn channel(c: case::Channel) -> wit::Channel {
    match c {
        case::Channel::Email => wit::Channel::Email,
        case::Channel::Sms => wit::Channel::Sms,
        case::Channel::Call => wit::Channel::Call,
        case::Channel::Letter => wit::Channel::Letter,
    }
}

fn tone(t: case::Tone) -> wit::Tone {
    match t {
        case::Tone::Courtesy => wit::Tone::Courtesy,
        case::Tone::Gentle => wit::Tone::Gentle,
        case::Tone::Firm => wit::Tone::Firm,
        case::Tone::Final => wit::Tone::Final,
    }
}

/// Call `call` with the case as the guest sees it. The WIT case borrows
/// from `c` (no string is copied before the engine lowers it into the
/// guest's memory), hence the callback.
pub fn with_case<R>(c: &case::Case, call: impl FnOnce(wit::Case<'_>) -> R) -> R {
    use case::{ContactOutcome as O, InvoiceStatus as S};
    let today = c.today();
    let config = c.config.to_string();
    let invoices: Vec<wit::Invoice<'_>> = c
        .invoices
        .iter()
        .map(|i| wit::Invoice {
            id: &i.id,
            number: &i.number,
            currency: &i.currency,
            amount: i.amount,
            open_amount: i.open_amount,
            fees_charged: i.fees_charged,
            issued_on: date(i.issued_on),
            due_on: date(i.due_on),
            days_overdue: case::days_between(i.due_on, today),
            status: match i.status {
                S::Open => wit::InvoiceStatus::Open,
                S::PartiallyPaid => wit::InvoiceStatus::PartiallyPaid,
                S::Disputed => wit::InvoiceStatus::Disputed,
                S::Promised => wit::InvoiceStatus::Promised,
                S::InPlan => wit::InvoiceStatus::InPlan,
                S::InCollection => wit::InvoiceStatus::InCollection,
            },
            promised_on: i.promised_on.map(date),
            terms: wit::Terms {
                late_fee: i.terms.late_fee,
                interest_bp_per_year: i.terms.interest_bp_per_year,
                grace_days: i.terms.grace_days,
            },
        })
        .collect();
    let contact_invoice_ids: Vec<Vec<&str>> = c
        .contacts
        .iter()
        .map(|k| k.invoice_ids.iter().map(String::as_str).collect())
        .collect();
    let contacts: Vec<wit::Contact<'_>> = c
        .contacts
        .iter()
        .zip(&contact_invoice_ids)
        .map(|(k, invoice_ids)| wit::Contact {
            at: k.at.timestamp(),
            channel: channel(k.channel),
            tone: tone(k.tone),
            invoice_ids,
            template: k.template.as_deref(),
            outcome: match k.outcome {
                O::Sent => wit::ContactOutcome::Sent,
                O::Delivered => wit::ContactOutcome::Delivered,
                O::Opened => wit::ContactOutcome::Opened,
                O::Failed => wit::ContactOutcome::Failed,
                O::Suppressed => wit::ContactOutcome::Suppressed,
            },
        })
        .collect();
    let d = &c.debtor;
    let h = &d.history;
    let tags: Vec<&str> = d.tags.iter().map(String::as_str).collect();
    let channels: Vec<wit::Channel> = d.channels.iter().copied().map(channel).collect();
    call(wit::Case {
        now: c.now.timestamp(),
        debtor: wit::Debtor {
            id: &d.id,
            name: &d.name,
            segment: &d.segment,
            tags: &tags,
            time_zone: &d.time_zone,
            language: &d.language,
            channels: &channels,
            history: wit::History {
                invoices_paid: h.invoices_paid,
                paid_on_time: h.paid_on_time,
                average_days_late: h.average_days_late,
                last_payment_at: h.last_payment_at.map(|t| t.timestamp()),
                payments_by_hour: &h.payments_by_hour,
                payments_by_weekday: &h.payments_by_weekday,
            },
        },
        invoices: &invoices,
        contacts: &contacts,
        config: &config,
    })
}

/// A value in a guest's plan that has no meaning on the host side.
#[derive(Debug)]
pub struct Unrepresentable {
    pub action: Option<usize>,
    pub field: &'static str,
    pub message: String,
}

fn from_date(field: &'static str, d: wit::Date) -> Result<NaiveDate, (&'static str, String)> {
    NaiveDate::from_ymd_opt(d.year, d.month.into(), d.day.into()).ok_or_else(|| {
        (
            field,
            format!(
                "{:04}-{:02}-{:02} is not a calendar date",
                d.year, d.month, d.day
            ),
        )
    })
}

fn from_instant(field: &'static str, t: i64) -> Result<DateTime<Utc>, (&'static str, String)> {
    DateTime::from_timestamp(t, 0)
        .ok_or_else(|| (field, format!("{t} is not a representable instant")))
}

fn from_channel(c: wit::Channel) -> case::Channel {
    match c {
        wit::Channel::Email => case::Channel::Email,
        wit::Channel::Sms => case::Channel::Sms,
        wit::Channel::Call => case::Channel::Call,
        wit::Channel::Letter => case::Channel::Letter,
    }
}

fn from_tone(t: wit::Tone) -> case::Tone {
    match t {
        wit::Tone::Courtesy => case::Tone::Courtesy,
        wit::Tone::Gentle => case::Tone::Gentle,
        wit::Tone::Firm => case::Tone::Firm,
        wit::Tone::Final => case::Tone::Final,
    }
}

fn from_action(a: wit::Action) -> Result<plan::Action, (&'static str, String)> {
    use plan::Action as A;
    Ok(match a {
        wit::Action::Remind(r) => A::Remind(plan::Reminder {
            channel: from_channel(r.channel),
            tone: from_tone(r.tone),
            invoice_ids: r.invoice_ids,
            send_at: from_instant("send_at", r.send_at)?,
            template: r.template,
        }),
        wit::Action::OfferPlan(p) => A::OfferPlan(plan::PaymentPlan {
            invoice_ids: p.invoice_ids,
            installments: p.installments,
            every_days: p.every_days,
            first_due_on: from_date("first_due_on", p.first_due_on)?,
        }),
        wit::Action::OfferDiscount(d) => A::OfferDiscount(plan::Discount {
            invoice_ids: d.invoice_ids,
            percent_bp: d.percent_bp,
            until: from_date("until", d.until)?,
        }),
        wit::Action::Defer(d) => A::Defer(plan::Deferral {
            invoice_ids: d.invoice_ids,
            until: from_date("until", d.until)?,
            reason: d.reason,
        }),
        wit::Action::ChargeFee(f) => A::ChargeFee(plan::Fee {
            invoice_id: f.invoice_id,
            kind: match f.kind {
                wit::FeeKind::LateFee => plan::FeeKind::LateFee,
                wit::FeeKind::Interest => plan::FeeKind::Interest,
                wit::FeeKind::CollectionCost => plan::FeeKind::CollectionCost,
            },
            amount: f.amount,
            reason: f.reason,
        }),
        wit::Action::Escalate(e) => A::Escalate(plan::Escalation {
            target: match e.target {
                wit::EscalationTarget::CollectionAgency => plan::EscalationTarget::CollectionAgency,
                wit::EscalationTarget::Legal => plan::EscalationTarget::Legal,
                wit::EscalationTarget::InternalTeam => plan::EscalationTarget::InternalTeam,
            },
            invoice_ids: e.invoice_ids,
            note: e.note,
        }),
        wit::Action::WriteOff(w) => A::WriteOff(plan::WriteOff {
            invoice_ids: w.invoice_ids,
            reason: w.reason,
        }),
        wit::Action::CreateTask(t) => A::CreateTask(plan::Task {
            kind: match t.kind {
                wit::TaskKind::CallDebtor => plan::TaskKind::CallDebtor,
                wit::TaskKind::ReviewAccount => plan::TaskKind::ReviewAccount,
                wit::TaskKind::Other => plan::TaskKind::Other,
            },
            description: t.description,
            invoice_ids: t.invoice_ids,
            due_at: from_instant("due_at", t.due_at)?,
        }),
    })
}

/// The guest's plan in host terms; fails on dates and instants that do not exist.
pub fn plan_from_wit(p: wit::Plan) -> Result<plan::Plan, Unrepresentable> {
    let mut actions = Vec::with_capacity(p.actions.len());
    for (i, a) in p.actions.into_iter().enumerate() {
        let action = from_action(a).map_err(|(field, message)| Unrepresentable {
            action: Some(i),
            field,
            message,
        })?;
        actions.push(action);
    }
    let review_at = p
        .review_at
        .map(|t| from_instant("review_at", t))
        .transpose()
        .map_err(|(field, message)| Unrepresentable {
            action: None,
            field,
            message,
        })?;
    Ok(plan::Plan {
        actions,
        review_at,
        note: p.note,
    })
}

/// What a strategy says about itself, in host terms.
pub fn info_from_wit(i: wit::Info) -> crate::runtime::Info {
    crate::runtime::Info {
        name: i.name,
        version: i.version,
        description: i.description,
        config_schema: i.config_schema,
    }
}
