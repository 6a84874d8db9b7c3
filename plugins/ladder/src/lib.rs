#![cfg_attr(target_arch = "wasm32", no_std)]
//! The classic dunning ladder, one step per invoice as it ages:
//!
//! | days overdue | step |
//! | --- | --- |
//! | -3 to 0 | courtesy email ("coming due") |
//! | 1 to 6 | gentle email |
//! | 7 to 20 | firm email and SMS (the templates name the late fee) |
//! | 21 to 44 | final notice by letter (email when there is no postal address) |
//! | 45 and later | hand-off to a collection agency, once a final notice went out |
//!
//! Each step goes out once per invoice; an invoice first seen late gets the
//! step for its age, not every step it missed. Invoices at the same step
//! share one message per channel. Disputed invoices, invoices in a payment
//! plan or in collection are left alone; a promise to pay defers the invoice
//! until the morning after the promised date. A paid invoice is never in the
//! case, so payment stops the ladder.
//!
//! Built `no_std` for wasm32 (see the SDK's `std` feature): the component
//! imports nothing but the contract.

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};

use dun_strategy::{
    Action, Case, Channel, Date, EscalationTarget, Info, Invoice, InvoiceStatus, Plan, Strategy,
    Timestamp, Tone, local_time,
};

/// The rungs of the ladder, by the first day overdue they apply.
const STEPS: [(i32, Step); 5] = [
    (-3, Step::Remind(Tone::Courtesy)),
    (1, Step::Remind(Tone::Gentle)),
    (7, Step::Remind(Tone::Firm)),
    (21, Step::Remind(Tone::Final)),
    (45, Step::Escalate),
];

/// Days after a late final notice before escalating.
const FINAL_NOTICE_PERIOD_DAYS: i64 = 14;

/// Local hour at which the ladder asks to be reviewed on a step's day.
const REVIEW_HOUR: u8 = 9;

/// The furthest ahead the ladder asks to be reviewed; the host refuses plans
/// that schedule anything much further (an invoice due in two years is
/// simply looked at again in a year).
const MAX_REVIEW_DAYS: i64 = 365;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Step {
    Remind(Tone),
    Escalate,
}

/// The step an invoice `days_overdue` old is on, if any.
fn step_for(days_overdue: i32) -> Option<Step> {
    STEPS
        .iter()
        .rev()
        .find(|(day, _)| days_overdue >= *day)
        .map(|(_, step)| *step)
}

/// The first day overdue of the next step after `days_overdue`.
fn next_step_day(days_overdue: i32) -> Option<i32> {
    STEPS
        .iter()
        .map(|(day, _)| *day)
        .find(|day| *day > days_overdue)
}

/// The channels a tone goes out on, in order of preference.
fn channels_for(tone: Tone, case: &Case) -> Vec<Channel> {
    let wanted: &[Channel] = match tone {
        Tone::Courtesy | Tone::Gentle => &[Channel::Email],
        Tone::Firm => &[Channel::Email, Channel::Sms],
        Tone::Final => &[Channel::Letter],
    };
    let mut usable: Vec<Channel> = wanted
        .iter()
        .copied()
        .filter(|c| case.can_use(*c))
        .collect();
    if usable.is_empty() && case.can_use(Channel::Email) {
        usable.push(Channel::Email);
    }
    usable
}

fn morning_of(date: Date, case: &Case) -> Timestamp {
    local_time(date, REVIEW_HOUR, 0, &case.debtor.time_zone)
}

/// The ladder's plan for a case. Reminders are sent at `case.now`; callers
/// that care about timing (send-time) re-time them.
pub fn plan(case: &Case) -> Plan {
    let today = case.today();
    let mut plan = Plan::nothing("");
    // (channel, tone) -> invoice ids, in first-seen order.
    let mut reminders: Vec<(Channel, Tone, Vec<String>)> = Vec::new();
    let mut escalate: Vec<String> = Vec::new();
    let mut steps_taken = Vec::new();

    for invoice in &case.invoices {
        if invoice.status == InvoiceStatus::Promised && !invoice.is_actionable(today) {
            if let Some(promised) = invoice.promised_on {
                plan = plan.review_at(morning_of(promised.add_days(1), case));
            }
            continue;
        }
        if !invoice.is_actionable(today) {
            continue;
        }
        if let Some(next) = next_step_day(invoice.days_overdue) {
            plan = plan.review_at(morning_of(invoice.due_on.add_days(next.into()), case));
        }
        match step_for(invoice.days_overdue) {
            None => {}
            Some(Step::Remind(tone)) if case.was_contacted(&invoice.id, tone) => {}
            Some(Step::Remind(tone)) => {
                add_reminders(&mut reminders, tone, invoice, case);
                steps_taken.push(format!("{} {}", invoice.number, tone.label()));
            }
            Some(Step::Escalate) => {
                if case.was_contacted(&invoice.id, Tone::Final) {
                    escalate.push(invoice.id.clone());
                    steps_taken.push(format!("{} escalated", invoice.number));
                } else {
                    // Never hand over without a final notice: send it now and
                    // escalate once its period has passed.
                    add_reminders(&mut reminders, Tone::Final, invoice, case);
                    steps_taken.push(format!("{} final (late)", invoice.number));
                    let deadline = today.add_days(FINAL_NOTICE_PERIOD_DAYS);
                    plan = plan.review_at(morning_of(deadline, case));
                }
            }
        }
    }

    for (channel, tone, ids) in reminders {
        plan.push(Action::remind(channel, tone, ids, case.now));
    }
    if !escalate.is_empty() {
        plan.push(Action::escalate(
            EscalationTarget::CollectionAgency,
            escalate,
            "No payment 45 days after the due date and after a final notice.",
        ));
    }
    if let Some(at) = plan.review_at {
        plan.review_at = Some(at.min(case.now + MAX_REVIEW_DAYS * dun_strategy::DAY));
    }
    plan.note = if steps_taken.is_empty() {
        "nothing due on the ladder".into()
    } else {
        steps_taken.join("; ")
    };
    plan
}

fn add_reminders(
    reminders: &mut Vec<(Channel, Tone, Vec<String>)>,
    tone: Tone,
    invoice: &Invoice,
    case: &Case,
) {
    for channel in channels_for(tone, case) {
        match reminders
            .iter_mut()
            .find(|(c, t, _)| *c == channel && *t == tone)
        {
            Some((_, _, ids)) => ids.push(invoice.id.clone()),
            None => reminders.push((channel, tone, vec![invoice.id.clone()])),
        }
    }
}

/// What the ladder says about itself.
pub fn info() -> Info {
    Info::new(
        "ladder",
        env!("CARGO_PKG_VERSION"),
        "The classic dunning ladder: a courtesy email 3 days before the due date, a gentle \
         email the day after, a firm email and SMS at 7 days naming the late fee, a final \
         notice by letter at 21 days, and a collection-agency hand-off at 45 days. Stops on \
         payment, pauses on disputes, waits for promises to pay.",
    )
}

/// The ladder as a component.
pub struct Ladder;

impl Strategy for Ladder {
    fn describe() -> Info {
        info()
    }

    fn decide(case: Case) -> Result<Plan, String> {
        Ok(plan(&case))
    }
}

#[cfg(all(target_arch = "wasm32", feature = "component"))]
dun_strategy::export!(Ladder);

#[cfg(test)]
mod tests;
