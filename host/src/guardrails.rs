//! Guardrails: the host's rules that no strategy can break. A strategy's
//! plan is valid (checked by `plan::validate`); here each action meets the
//! tenant's policy and the debtor's situation, and is kept, moved or
//! suppressed, always with the reasons, which the engine records on the
//! debtor's timeline.
//!
//! Pure functions of their inputs: the same facts give the same verdict, so
//! the scheduler can apply them when it plans and the dispatcher again just
//! before it sends (a payment that landed in between suppresses the message).

use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::case::Channel;
use crate::plan::{Action, Discount, Escalation, Fee, PaymentPlan, Reminder};
use crate::store::invoices::InvoiceStatus;

/// Hours of the day (local to the debtor) when a channel may be used:
/// from `start` (inclusive) to `end` (exclusive), 0–24.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub start: u32,
    pub end: u32,
}

/// A tenant's policy. Every field has the default shown in the docs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Calls only in this local window (default 08–21).
    pub call_hours: Option<Window>,
    /// SMS only in this local window (default 08–21).
    pub sms_hours: Option<Window>,
    /// Email only in this local window (default: any time).
    pub email_hours: Option<Window>,
    /// Letters only in this local window (default: any time).
    pub letter_hours: Option<Window>,
    /// Call attempts per rolling 7 days (default 7).
    pub max_calls_per_week: usize,
    /// SMS per rolling 7 days (default 3).
    pub max_sms_per_week: usize,
    /// Contacts per channel per local day (default 1).
    pub max_per_channel_per_day: usize,
    /// Fees on one invoice, in all, at most this share of its amount, in
    /// basis points (default 1,500 = 15%).
    pub max_fee_bp: u32,
    /// Largest early-payment discount, basis points (default 1,000 = 10%).
    pub max_discount_bp: u16,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            call_hours: Some(Window { start: 8, end: 21 }),
            sms_hours: Some(Window { start: 8, end: 21 }),
            email_hours: None,
            letter_hours: None,
            max_calls_per_week: 7,
            max_sms_per_week: 3,
            max_per_channel_per_day: 1,
            max_fee_bp: 1_500,
            max_discount_bp: 1_000,
        }
    }
}

impl Policy {
    fn window(&self, channel: Channel) -> Option<Window> {
        match channel {
            Channel::Call => self.call_hours,
            Channel::Sms => self.sms_hours,
            Channel::Email => self.email_hours,
            Channel::Letter => self.letter_hours,
        }
    }

    /// `at`, or when it falls outside `channel`'s local hours in `zone`,
    /// the start of the next window. The dispatcher uses it too, so that a
    /// retried send does not go out at night.
    pub fn within_hours(&self, channel: Channel, zone: Tz, at: DateTime<Utc>) -> DateTime<Utc> {
        let Some(w) = self.window(channel) else {
            return at;
        };
        let local = at.with_timezone(&zone);
        let hour = local.hour();
        if hour >= w.start && hour < w.end {
            return at;
        }
        let day = if hour < w.start {
            local.date_naive()
        } else {
            local.date_naive() + Duration::days(1)
        };
        local_instant(zone, day, w.start)
    }

    fn weekly_cap(&self, channel: Channel) -> Option<usize> {
        match channel {
            Channel::Call => Some(self.max_calls_per_week),
            Channel::Sms => Some(self.max_sms_per_week),
            Channel::Email | Channel::Letter => None,
        }
    }

    /// Checks the policy itself; each problem names its field.
    pub fn problems(&self) -> Vec<crate::store::FieldError> {
        use crate::store::FieldError;
        let mut problems = Vec::new();
        for (field, window) in [
            ("call_hours", self.call_hours),
            ("sms_hours", self.sms_hours),
            ("email_hours", self.email_hours),
            ("letter_hours", self.letter_hours),
        ] {
            if let Some(w) = window
                && !(w.start < w.end && w.end <= 24)
            {
                problems.push(FieldError::new(field, "start before end, within 0-24"));
            }
        }
        if self.max_per_channel_per_day == 0 {
            problems.push(FieldError::new("max_per_channel_per_day", "at least 1"));
        }
        if self.max_fee_bp > 10_000 {
            problems.push(FieldError::new("max_fee_bp", "at most 10000 (100%)"));
        }
        if self.max_discount_bp > 10_000 {
            problems.push(FieldError::new("max_discount_bp", "at most 10000 (100%)"));
        }
        problems
    }
}

/// What the guardrails know of one invoice.
#[derive(Clone, Debug, PartialEq)]
pub struct InvoiceFacts {
    pub id: String,
    pub status: InvoiceStatus,
    pub amount: i64,
    /// Fees already charged on it, minor units.
    pub fees: i64,
    /// A pending promise to pay covers it until this date.
    pub promised_until: Option<NaiveDate>,
    /// Contact about it is deferred until this date.
    pub deferred_until: Option<NaiveDate>,
}

/// What the guardrails know of the debtor.
#[derive(Clone, Debug, PartialEq)]
pub struct DebtorFacts {
    pub time_zone: Tz,
    /// Channels the debtor has contact details for.
    pub reachable: Vec<Channel>,
    /// Channels the debtor opted out of.
    pub opted_out: Vec<Channel>,
    pub invoices: Vec<InvoiceFacts>,
    /// Contacts already sent or scheduled: when, and on which channel.
    pub contacts: Vec<(DateTime<Utc>, Channel)>,
}

/// Why an action was moved or suppressed; recorded on the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum Reason {
    /// These invoices are paid, void or written off: never chased.
    Settled { invoice_ids: Vec<String> },
    /// These invoices are disputed: paused until the dispute is resolved.
    Disputed { invoice_ids: Vec<String> },
    /// A payment-plan offer the debtor could not take up as offered.
    PlanTerms { detail: String },
    /// These invoices were handed to collection: dun no longer chases them.
    InCollection { invoice_ids: Vec<String> },
    /// A promise to pay covers these invoices until a date.
    Promised {
        invoice_ids: Vec<String>,
        until: NaiveDate,
    },
    /// Contact about these invoices is deferred until a date.
    Deferred {
        invoice_ids: Vec<String>,
        until: NaiveDate,
    },
    /// The debtor has no contact details for the channel.
    NoContact { channel: Channel },
    /// The debtor opted out of the channel.
    OptedOut { channel: Channel },
    /// Outside the channel's hours in the debtor's zone.
    QuietHours {
        channel: Channel,
        local_time: String,
    },
    /// The channel was already used the maximum times that local day.
    DailyCap { channel: Channel, limit: usize },
    /// The channel was already used the maximum times in 7 days.
    WeeklyCap { channel: Channel, limit: usize },
    /// A fee beyond the cap was reduced (or refused).
    FeeCap {
        invoice_id: String,
        requested: i64,
        allowed: i64,
    },
    /// A discount beyond the cap was reduced.
    DiscountCap { requested_bp: u16, allowed_bp: u16 },
    /// No time within the horizon satisfies every rule.
    NoSlot { channel: Channel },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Settled { invoice_ids } => write!(
                f,
                "{} settled (paid, void or written off)",
                invoice_ids.join(", ")
            ),
            Reason::Disputed { invoice_ids } => {
                write!(f, "{} disputed: paused", invoice_ids.join(", "))
            }
            Reason::PlanTerms { detail } => write!(f, "plan offer refused: {detail}"),
            Reason::InCollection { invoice_ids } => write!(
                f,
                "{} handed to collection: no more reminders",
                invoice_ids.join(", ")
            ),
            Reason::Promised { invoice_ids, until } => write!(
                f,
                "{} promised to be paid by {until}",
                invoice_ids.join(", ")
            ),
            Reason::Deferred { invoice_ids, until } => {
                write!(f, "{} deferred until {until}", invoice_ids.join(", "))
            }
            Reason::NoContact { channel } => {
                write!(f, "no {} contact for this debtor", channel.as_str())
            }
            Reason::OptedOut { channel } => {
                write!(f, "the debtor opted out of {}", channel.as_str())
            }
            Reason::QuietHours {
                channel,
                local_time,
            } => write!(
                f,
                "{local_time} local is outside {} hours",
                channel.as_str()
            ),
            Reason::DailyCap { channel, limit } => write!(
                f,
                "{} already used {limit} time(s) that day",
                channel.as_str()
            ),
            Reason::WeeklyCap { channel, limit } => write!(
                f,
                "{} already used {limit} time(s) in 7 days",
                channel.as_str()
            ),
            Reason::FeeCap {
                invoice_id,
                requested,
                allowed,
            } => {
                write!(
                    f,
                    "fee on {invoice_id} capped: {requested} requested, {allowed} allowed"
                )
            }
            Reason::DiscountCap {
                requested_bp,
                allowed_bp,
            } => write!(
                f,
                "discount capped at {allowed_bp} bp ({requested_bp} requested)"
            ),
            Reason::NoSlot { channel } => write!(
                f,
                "no time for {} within the rules in the next 30 days",
                channel.as_str()
            ),
        }
    }
}

/// The outcome for one action: what to do (if anything) and why it differs
/// from what the strategy asked.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict<T> {
    /// The action as it may be carried out; `None`: suppressed.
    pub action: Option<T>,
    /// Every rule that changed it, in the order applied.
    pub reasons: Vec<Reason>,
}

impl<T> Verdict<T> {
    fn suppressed(mut reasons: Vec<Reason>, reason: Reason) -> Self {
        reasons.push(reason);
        Verdict {
            action: None,
            reasons,
        }
    }
}

/// How far ahead a reminder may be moved before it is given up.
const MAX_SHIFT_DAYS: i64 = 30;

/// The start of `date` at `hour` local, as UTC (the earliest valid instant
/// when the hour falls in a DST gap).
pub(crate) fn local_instant(zone: Tz, date: NaiveDate, hour: u32) -> DateTime<Utc> {
    let mut naive =
        date.and_time(NaiveTime::from_hms_opt(hour.min(23), 0, 0).unwrap_or(NaiveTime::MIN));
    for _ in 0..4 {
        if let Some(at) = zone.from_local_datetime(&naive).earliest() {
            return at.with_timezone(&Utc);
        }
        naive += Duration::minutes(30);
    }
    Utc.from_utc_datetime(&naive)
}

impl Policy {
    /// Applies every rule to a reminder.
    pub fn reminder(&self, facts: &DebtorFacts, reminder: &Reminder) -> Verdict<Reminder> {
        let mut reasons = Vec::new();
        let mut kept: Vec<String> = Vec::new();
        let (mut settled, mut disputed, mut in_collection) = (Vec::new(), Vec::new(), Vec::new());
        let mut not_before: Option<(NaiveDate, Reason)> = None;
        for id in &reminder.invoice_ids {
            let Some(invoice) = facts.invoices.iter().find(|i| &i.id == id) else {
                settled.push(id.clone());
                continue;
            };
            match invoice.status {
                InvoiceStatus::Paid | InvoiceStatus::Void | InvoiceStatus::WrittenOff => {
                    settled.push(id.clone())
                }
                InvoiceStatus::Disputed => disputed.push(id.clone()),
                InvoiceStatus::InCollection => in_collection.push(id.clone()),
                _ => kept.push(id.clone()),
            }
            // The latest promise or deferral among the kept invoices wins.
            for (until, reason) in [
                (invoice.promised_until, "promised"),
                (invoice.deferred_until, "deferred"),
            ] {
                let Some(until) = until else { continue };
                if !kept.contains(id) || not_before.as_ref().is_some_and(|(d, _)| *d >= until) {
                    continue;
                }
                let invoice_ids = vec![id.clone()];
                let reason = if reason == "promised" {
                    Reason::Promised { invoice_ids, until }
                } else {
                    Reason::Deferred { invoice_ids, until }
                };
                not_before = Some((until, reason));
            }
        }
        if !settled.is_empty() {
            reasons.push(Reason::Settled {
                invoice_ids: settled,
            });
        }
        if !disputed.is_empty() {
            reasons.push(Reason::Disputed {
                invoice_ids: disputed,
            });
        }
        if !in_collection.is_empty() {
            reasons.push(Reason::InCollection {
                invoice_ids: in_collection,
            });
        }
        if kept.is_empty() {
            return Verdict {
                action: None,
                reasons,
            };
        }
        let channel = reminder.channel;
        if !facts.reachable.contains(&channel) {
            return Verdict::suppressed(reasons, Reason::NoContact { channel });
        }
        if facts.opted_out.contains(&channel) {
            return Verdict::suppressed(reasons, Reason::OptedOut { channel });
        }
        let zone = facts.time_zone;
        let mut at = reminder.send_at;
        if let Some((until, reason)) = not_before {
            // Contact resumes the day after the promised or deferred date.
            let resume = local_instant(
                zone,
                until + Duration::days(1),
                self.window(channel).map_or(9, |w| w.start.max(9)),
            );
            if at < resume {
                at = resume;
                reasons.push(reason);
            }
        }
        let limit = reminder.send_at + Duration::days(MAX_SHIFT_DAYS);
        // Move forward until every time rule holds; each move only goes later.
        while at <= limit {
            let local = at.with_timezone(&zone);
            let allowed = self.within_hours(channel, zone, at);
            if allowed != at {
                reasons.push(Reason::QuietHours {
                    channel,
                    local_time: local.format("%H:%M").to_string(),
                });
                at = allowed;
                continue;
            }
            let same_day = facts
                .contacts
                .iter()
                .filter(|(t, c)| {
                    *c == channel && t.with_timezone(&zone).date_naive() == local.date_naive()
                })
                .count();
            if same_day >= self.max_per_channel_per_day {
                reasons.push(Reason::DailyCap {
                    channel,
                    limit: self.max_per_channel_per_day,
                });
                at = local_instant(
                    zone,
                    local.date_naive() + Duration::days(1),
                    self.window(channel).map_or(0, |w| w.start),
                );
                continue;
            }
            if let Some(cap) = self.weekly_cap(channel) {
                let mut recent: Vec<DateTime<Utc>> = facts
                    .contacts
                    .iter()
                    .filter(|(t, c)| *c == channel && *t > at - Duration::days(7) && *t <= at)
                    .map(|(t, _)| *t)
                    .collect();
                if recent.len() >= cap {
                    recent.sort();
                    // The earliest moment one of them leaves the window.
                    let freed =
                        recent[recent.len() - cap] + Duration::days(7) + Duration::seconds(1);
                    reasons.push(Reason::WeeklyCap {
                        channel,
                        limit: cap,
                    });
                    at = freed.max(at + Duration::seconds(1));
                    continue;
                }
            }
            let mut moved = reminder.clone();
            moved.invoice_ids = kept;
            moved.send_at = at;
            reasons.dedup();
            return Verdict {
                action: Some(moved),
                reasons,
            };
        }
        reasons.dedup();
        Verdict::suppressed(reasons, Reason::NoSlot { channel })
    }

    /// Keeps a payment-plan offer only when the debtor can accept it as
    /// offered: the terms `POST /v1/payment-plans` takes (2-60
    /// installments, 7-92 days apart, the first within 92 days of `today`).
    pub fn plan_offer(&self, plan: &PaymentPlan, today: NaiveDate) -> Verdict<PaymentPlan> {
        let days_ahead = (plan.first_due_on - today).num_days();
        let detail = if !(2..=60).contains(&plan.installments) {
            Some(format!("{} installments (2-60)", plan.installments))
        } else if !(7..=92).contains(&plan.every_days) {
            Some(format!("{} days apart (7-92)", plan.every_days))
        } else if !(0..=92).contains(&days_ahead) {
            Some(format!("first due {} (within 92 days)", plan.first_due_on))
        } else {
            None
        };
        match detail {
            Some(detail) => Verdict::suppressed(Vec::new(), Reason::PlanTerms { detail }),
            None => Verdict {
                action: Some(plan.clone()),
                reasons: Vec::new(),
            },
        }
    }

    /// Caps a fee so that the invoice's fees stay within `max_fee_bp` of its amount.
    /// Fees go only on invoices still chased: not on settled ones, nor on
    /// disputed ones or those handed to collection.
    pub fn fee(&self, facts: &DebtorFacts, fee: &Fee) -> Verdict<Fee> {
        let invoice = facts.invoices.iter().find(|i| i.id == fee.invoice_id);
        let Some(invoice) = invoice.filter(|i| i.status.is_chased()) else {
            let reason = not_chased(vec![fee.invoice_id.clone()], invoice.map(|i| i.status));
            return Verdict::suppressed(Vec::new(), reason);
        };
        let cap = (i128::from(invoice.amount) * i128::from(self.max_fee_bp) / 10_000) as i64;
        let allowed = (cap - invoice.fees).clamp(0, fee.amount);
        if allowed == fee.amount {
            return Verdict {
                action: Some(fee.clone()),
                reasons: Vec::new(),
            };
        }
        let reason = Reason::FeeCap {
            invoice_id: fee.invoice_id.clone(),
            requested: fee.amount,
            allowed,
        };
        if allowed == 0 {
            return Verdict::suppressed(Vec::new(), reason);
        }
        let mut capped = fee.clone();
        capped.amount = allowed;
        Verdict {
            action: Some(capped),
            reasons: vec![reason],
        }
    }

    /// Caps a discount at `max_discount_bp` and drops the invoices no longer
    /// chased (settled, disputed, in collection), each with its reason.
    pub fn discount(&self, facts: &DebtorFacts, discount: &Discount) -> Verdict<Discount> {
        let (kept, mut reasons) = chased_only(facts, &discount.invoice_ids);
        if kept.is_empty() {
            return Verdict {
                action: None,
                reasons,
            };
        }
        let mut capped = discount.clone();
        capped.invoice_ids = kept;
        if discount.percent_bp > self.max_discount_bp {
            capped.percent_bp = self.max_discount_bp;
            reasons.push(Reason::DiscountCap {
                requested_bp: discount.percent_bp,
                allowed_bp: self.max_discount_bp,
            });
        }
        Verdict {
            action: Some(capped),
            reasons,
        }
    }

    /// Hands over only invoices still chased: an invoice already handed to
    /// collection is not handed over again (nor a settled or disputed one).
    pub fn escalation(&self, facts: &DebtorFacts, escalation: &Escalation) -> Verdict<Escalation> {
        let (kept, reasons) = chased_only(facts, &escalation.invoice_ids);
        if kept.is_empty() {
            return Verdict {
                action: None,
                reasons,
            };
        }
        let mut narrowed = escalation.clone();
        narrowed.invoice_ids = kept;
        Verdict {
            action: Some(narrowed),
            reasons,
        }
    }
}

/// The invoices of `ids` still chased, and a reason for each kind of
/// invoice left out (settled or unknown, disputed, in collection).
fn chased_only(facts: &DebtorFacts, ids: &[String]) -> (Vec<String>, Vec<Reason>) {
    let mut kept = Vec::new();
    let (mut settled, mut disputed, mut in_collection) = (Vec::new(), Vec::new(), Vec::new());
    for id in ids {
        let status = facts
            .invoices
            .iter()
            .find(|i| &i.id == id)
            .map(|i| i.status);
        match status {
            Some(s) if s.is_chased() => kept.push(id.clone()),
            Some(InvoiceStatus::Disputed) => disputed.push(id.clone()),
            Some(InvoiceStatus::InCollection) => in_collection.push(id.clone()),
            _ => settled.push(id.clone()),
        }
    }
    let mut reasons = Vec::new();
    for (invoice_ids, status) in [
        (settled, None),
        (disputed, Some(InvoiceStatus::Disputed)),
        (in_collection, Some(InvoiceStatus::InCollection)),
    ] {
        if !invoice_ids.is_empty() {
            reasons.push(not_chased(invoice_ids, status));
        }
    }
    (kept, reasons)
}

/// Why invoices in `status` (`None`: unknown to the store) are not chased.
fn not_chased(invoice_ids: Vec<String>, status: Option<InvoiceStatus>) -> Reason {
    match status {
        Some(InvoiceStatus::Disputed) => Reason::Disputed { invoice_ids },
        Some(InvoiceStatus::InCollection) => Reason::InCollection { invoice_ids },
        _ => Reason::Settled { invoice_ids },
    }
}

/// One planned action after the guardrails.
#[derive(Clone, Debug, PartialEq)]
pub struct Guarded {
    /// The action as the strategy planned it.
    pub planned: Action,
    /// The action as it may be carried out; `None`: suppressed.
    pub kept: Option<Action>,
    /// Every rule that changed it, in the order applied.
    pub reasons: Vec<Reason>,
}

impl Guarded {
    /// `kept` (as planned), `moved` (changed: later, fewer invoices,
    /// capped) or `suppressed`.
    pub fn verdict(&self) -> &'static str {
        match (&self.kept, self.reasons.is_empty()) {
            (None, _) => "suppressed",
            (Some(_), true) => "kept",
            (Some(_), false) => "moved",
        }
    }
}

impl Policy {
    /// A plan's actions through the guardrails, in plan order. What the
    /// plan keeps counts for the actions after it: its reminders against
    /// the caps, its deferrals and fees as facts. `today` is the debtor's
    /// local date (for plan offers). Actions no rule covers are kept.
    pub fn guard(
        &self,
        mut facts: DebtorFacts,
        today: NaiveDate,
        actions: &[Action],
    ) -> Vec<Guarded> {
        fn split<T>(verdict: Verdict<T>, wrap: fn(T) -> Action) -> (Option<Action>, Vec<Reason>) {
            (verdict.action.map(wrap), verdict.reasons)
        }
        let mut guarded = Vec::with_capacity(actions.len());
        for action in actions {
            let (kept, reasons) = match action {
                Action::Remind(r) => split(self.reminder(&facts, r), Action::Remind),
                Action::ChargeFee(f) => split(self.fee(&facts, f), Action::ChargeFee),
                Action::OfferDiscount(d) => split(self.discount(&facts, d), Action::OfferDiscount),
                Action::OfferPlan(p) => split(self.plan_offer(p, today), Action::OfferPlan),
                Action::Escalate(e) => split(self.escalation(&facts, e), Action::Escalate),
                other => (Some(other.clone()), Vec::new()),
            };
            match &kept {
                Some(Action::Remind(r)) => facts.contacts.push((r.send_at, r.channel)),
                Some(Action::Defer(d)) => {
                    for invoice in facts.invoices.iter_mut() {
                        if d.invoice_ids.contains(&invoice.id) {
                            invoice.deferred_until = invoice.deferred_until.max(Some(d.until));
                        }
                    }
                }
                Some(Action::Escalate(e)) => {
                    for invoice in facts.invoices.iter_mut() {
                        if e.invoice_ids.contains(&invoice.id) {
                            invoice.status = InvoiceStatus::InCollection;
                        }
                    }
                }
                Some(Action::ChargeFee(f)) => {
                    if let Some(invoice) = facts.invoices.iter_mut().find(|i| i.id == f.invoice_id)
                    {
                        invoice.fees += f.amount;
                    }
                }
                _ => {}
            }
            guarded.push(Guarded {
                planned: action.clone(),
                kept,
                reasons,
            });
        }
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Tone;
    use crate::plan::FeeKind;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn invoice(id: &str, status: InvoiceStatus) -> InvoiceFacts {
        InvoiceFacts {
            id: id.into(),
            status,
            amount: 100_00,
            fees: 0,
            promised_until: None,
            deferred_until: None,
        }
    }

    fn facts() -> DebtorFacts {
        DebtorFacts {
            time_zone: "Europe/Berlin".parse().unwrap(),
            reachable: Channel::ALL.to_vec(),
            opted_out: vec![],
            invoices: vec![
                invoice("a", InvoiceStatus::Open),
                invoice("b", InvoiceStatus::Open),
            ],
            contacts: vec![],
        }
    }

    fn remind(channel: Channel, send_at: &str, ids: &[&str]) -> Reminder {
        Reminder {
            channel,
            tone: Tone::Firm,
            invoice_ids: ids.iter().map(|s| s.to_string()).collect(),
            send_at: at(send_at),
            template: None,
        }
    }

    #[test]
    fn a_reminder_within_every_rule_goes_as_planned() {
        let r = remind(Channel::Sms, "2026-06-01T10:00:00Z", &["a"]);
        let v = Policy::default().reminder(&facts(), &r);
        assert_eq!(v.action, Some(r));
        assert!(v.reasons.is_empty());
    }

    #[test]
    fn settled_and_disputed_invoices_are_dropped_and_alone_suppress() {
        let mut f = facts();
        f.invoices[0].status = InvoiceStatus::Paid;
        f.invoices[1].status = InvoiceStatus::Disputed;
        let v = Policy::default().reminder(
            &f,
            &remind(Channel::Email, "2026-06-01T10:00:00Z", &["a", "b"]),
        );
        assert_eq!(v.action, None);
        assert_eq!(
            v.reasons,
            [
                Reason::Settled {
                    invoice_ids: vec!["a".into()]
                },
                Reason::Disputed {
                    invoice_ids: vec!["b".into()]
                }
            ]
        );
        f.invoices[1].status = InvoiceStatus::Open;
        let v = Policy::default().reminder(
            &f,
            &remind(Channel::Email, "2026-06-01T10:00:00Z", &["a", "b"]),
        );
        assert_eq!(v.action.unwrap().invoice_ids, ["b"]);
    }

    #[test]
    fn sms_at_night_local_time_moves_to_eight_the_next_morning() {
        // 21:30 in Berlin (CEST, UTC+2) is 19:30 UTC.
        let v = Policy::default().reminder(
            &facts(),
            &remind(Channel::Sms, "2026-06-01T19:30:00Z", &["a"]),
        );
        assert_eq!(v.action.unwrap().send_at, at("2026-06-02T06:00:00Z"));
        assert!(
            matches!(&v.reasons[0], Reason::QuietHours { local_time, .. } if local_time == "21:30")
        );
        // Email has no quiet hours by default.
        let v = Policy::default().reminder(
            &facts(),
            &remind(Channel::Email, "2026-06-01T01:00:00Z", &["a"]),
        );
        assert!(v.reasons.is_empty());
    }

    #[test]
    fn one_contact_per_channel_per_local_day() {
        let mut f = facts();
        f.contacts
            .push((at("2026-06-01T07:00:00Z"), Channel::Email));
        let v =
            Policy::default().reminder(&f, &remind(Channel::Email, "2026-06-01T15:00:00Z", &["a"]));
        // Next local day in Berlin starts 22:00 UTC.
        assert_eq!(v.action.unwrap().send_at, at("2026-06-01T22:00:00Z"));
        assert_eq!(
            v.reasons,
            [Reason::DailyCap {
                channel: Channel::Email,
                limit: 1
            }]
        );
        // Another channel the same day is fine.
        assert!(
            Policy::default()
                .reminder(&f, &remind(Channel::Sms, "2026-06-01T15:00:00Z", &["a"]))
                .reasons
                .is_empty()
        );
    }

    #[test]
    fn three_sms_in_seven_days_push_the_fourth_past_the_window() {
        let mut f = facts();
        for day in ["2026-06-01", "2026-06-02", "2026-06-03"] {
            f.contacts
                .push((at(&format!("{day}T10:00:00Z")), Channel::Sms));
        }
        let v =
            Policy::default().reminder(&f, &remind(Channel::Sms, "2026-06-04T10:00:00Z", &["a"]));
        let moved = v.action.unwrap().send_at;
        assert!(moved > at("2026-06-08T10:00:00Z"), "{moved}");
        assert!(v.reasons.contains(&Reason::WeeklyCap {
            channel: Channel::Sms,
            limit: 3
        }));
        // And then it is within quiet hours and the daily cap.
        let local = moved.with_timezone(&"Europe/Berlin".parse::<Tz>().unwrap());
        assert!((8..21).contains(&local.hour()));
    }

    #[test]
    fn promises_and_deferrals_hold_contact_until_the_day_after() {
        let mut f = facts();
        f.invoices[0].promised_until = Some("2026-06-10".parse().unwrap());
        let v =
            Policy::default().reminder(&f, &remind(Channel::Email, "2026-06-05T10:00:00Z", &["a"]));
        // 09:00 Berlin on the 11th.
        assert_eq!(v.action.unwrap().send_at, at("2026-06-11T07:00:00Z"));
        assert!(matches!(v.reasons[0], Reason::Promised { .. }));
    }

    #[test]
    fn missing_or_refused_channels_suppress() {
        let mut f = facts();
        f.reachable = vec![Channel::Email];
        let v =
            Policy::default().reminder(&f, &remind(Channel::Sms, "2026-06-01T10:00:00Z", &["a"]));
        assert_eq!(
            (v.action, v.reasons),
            (
                None,
                vec![Reason::NoContact {
                    channel: Channel::Sms
                }]
            )
        );
        f.opted_out = vec![Channel::Email];
        let v =
            Policy::default().reminder(&f, &remind(Channel::Email, "2026-06-01T10:00:00Z", &["a"]));
        assert_eq!(
            v.reasons,
            [Reason::OptedOut {
                channel: Channel::Email
            }]
        );
    }

    #[test]
    fn fees_and_discounts_are_capped() {
        let mut f = facts();
        f.invoices[0].fees = 10_00;
        let fee = Fee {
            invoice_id: "a".into(),
            kind: FeeKind::LateFee,
            amount: 10_00,
            reason: "late".into(),
        };
        let v = Policy::default().fee(&f, &fee);
        assert_eq!(v.action.unwrap().amount, 5_00);
        f.invoices[0].fees = 15_00;
        assert_eq!(Policy::default().fee(&f, &fee).action, None);
        let discount = Discount {
            invoice_ids: vec!["a".into()],
            percent_bp: 2_500,
            until: "2026-07-01".parse().unwrap(),
        };
        let v = Policy::default().discount(&f, &discount);
        assert_eq!(v.action.unwrap().percent_bp, 1_000);
    }

    #[test]
    fn no_fee_or_discount_on_paused_invoices() {
        let mut f = facts();
        f.invoices[0].status = InvoiceStatus::Disputed;
        let fee = Fee {
            invoice_id: "a".into(),
            kind: FeeKind::LateFee,
            amount: 1_00,
            reason: "late".into(),
        };
        let v = Policy::default().fee(&f, &fee);
        assert_eq!(v.action, None);
        assert_eq!(
            v.reasons,
            [Reason::Disputed {
                invoice_ids: vec!["a".into()]
            }]
        );
        f.invoices[1].status = InvoiceStatus::InCollection;
        f.invoices.push(invoice("c", InvoiceStatus::PartiallyPaid));
        f.invoices.push(invoice("d", InvoiceStatus::Disputed));
        let discount = Discount {
            invoice_ids: vec!["a".into(), "b".into(), "c".into(), "d".into(), "x".into()],
            percent_bp: 500,
            until: "2026-07-01".parse().unwrap(),
        };
        let v = Policy::default().discount(&f, &discount);
        assert_eq!(v.action.unwrap().invoice_ids, ["c"]);
        assert_eq!(
            v.reasons,
            [
                Reason::Settled {
                    invoice_ids: vec!["x".into()]
                },
                Reason::Disputed {
                    invoice_ids: vec!["a".into(), "d".into()]
                },
                Reason::InCollection {
                    invoice_ids: vec!["b".into()]
                },
            ]
        );
    }

    #[test]
    fn an_invoice_is_handed_to_collection_once() {
        let mut f = facts();
        f.invoices[1].status = InvoiceStatus::InCollection;
        let escalate = Action::Escalate(Escalation {
            target: crate::plan::EscalationTarget::CollectionAgency,
            invoice_ids: vec!["a".into(), "b".into()],
            note: "90 days".into(),
        });
        let today = "2026-06-01".parse().unwrap();
        let guarded = Policy::default().guard(f, today, &[escalate.clone(), escalate]);
        let Some(Action::Escalate(first)) = &guarded[0].kept else {
            panic!("{guarded:?}")
        };
        assert_eq!(first.invoice_ids, ["a"]);
        assert_eq!(
            guarded[0].reasons,
            [Reason::InCollection {
                invoice_ids: vec!["b".into()]
            }]
        );
        // The same plan escalating again hands nothing over twice.
        assert_eq!(guarded[1].kept, None);
        assert_eq!(
            guarded[1].reasons,
            [Reason::InCollection {
                invoice_ids: vec!["a".into(), "b".into()]
            }]
        );
    }

    #[test]
    fn within_hours_keeps_daytime_and_moves_night_to_the_next_window() {
        let policy = Policy::default();
        let zone: Tz = "Europe/Berlin".parse().unwrap();
        // 14:00 Berlin (CEST) is within 08-21.
        let day = at("2026-06-01T12:00:00Z");
        assert_eq!(policy.within_hours(Channel::Sms, zone, day), day);
        // 21:03 Berlin: the next morning at 08:00.
        assert_eq!(
            policy.within_hours(Channel::Sms, zone, at("2026-06-01T19:03:00Z")),
            at("2026-06-02T06:00:00Z")
        );
        // 05:00 Berlin: the same morning.
        assert_eq!(
            policy.within_hours(Channel::Call, zone, at("2026-06-02T03:00:00Z")),
            at("2026-06-02T06:00:00Z")
        );
        // Email has no window by default.
        let night = at("2026-06-01T23:00:00Z");
        assert_eq!(policy.within_hours(Channel::Email, zone, night), night);
    }

    #[test]
    fn a_local_hour_in_a_dst_gap_lands_on_the_first_valid_instant() {
        // 2026-03-29 02:00 does not exist in Berlin.
        let zone: Tz = "Europe/Berlin".parse().unwrap();
        let moved = local_instant(zone, "2026-03-29".parse().unwrap(), 2);
        assert_eq!(moved, at("2026-03-29T01:00:00Z"));
    }
}
