//! Segmented dunning: the cadence depends on who owes and how much.
//!
//! Debtors with a good record (by default at least 3 invoices paid, at least
//! 80% of them on time) are *reliable*: a late payment from them is most likely
//! an oversight, so they get fewer, softer and later reminders than everyone
//! else. The default cadences, in days after the due date:
//!
//! | day | standard | reliable |
//! | --- | --- | --- |
//! | +1 | gentle email | |
//! | +5 | | gentle email |
//! | +8 | firm email and SMS | |
//! | +15 | | gentle email |
//! | +21 | final email and letter | |
//! | +30 | | firm email |
//! | +45 | | final letter |
//!
//! On top of the cadence:
//! - a *large* invoice (open amount of 500 000 minor units or more) also gets a
//!   call task for a person in the team at its first overdue reminder;
//! - when the overdue amount in one currency reaches 200 000 minor units, the
//!   debtor is offered a payment plan (3 installments, 30 days apart) with the
//!   reminders, until a final notice has gone out;
//! - an invoice 60 days overdue whose final notice went out at least 14 days
//!   ago is handed to a collection agency and gets no more reminders.
//!
//! Disputed invoices, invoices in a payment plan or in collection are left
//! alone; a promise to pay defers the invoice until the morning after the
//! promised date. Every threshold and both cadences are set per segment in the
//! JSON config (see [`CONFIG_SCHEMA`]); `{}` gives the defaults above.

use dun_strategy::{
    Action, Case, Channel, Contact, DAY, Date, EscalationTarget, Info, Invoice, InvoiceStatus,
    Plan, Strategy, TaskKind, Timestamp, Tone, local_date, local_time,
};
use serde::Deserialize;

/// Local hour at which the strategy asks to be reviewed on a step's day:
/// early in the working day, so the step goes out in business hours.
const REVIEW_HOUR: u8 = 9;

/// The host refuses a plan that schedules anything beyond its horizon (400
/// days by default). Reviewing earlier than needed only costs a decision that
/// does nothing, so far-off reviews are brought forward to this.
const MAX_REVIEW_DAYS: i64 = 365;

/// The segment's configuration. Every field has a default, so `{}` is valid.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Paid invoices needed before a debtor can count as reliable.
    pub reliable_min_paid: u32,
    /// Share of paid invoices paid on time (0 to 1) a reliable debtor needs.
    pub reliable_min_on_time: f64,
    /// Open amount (minor units) from which an invoice also gets a call task.
    pub large_invoice: i64,
    /// Overdue amount in one currency (minor units) from which a payment plan
    /// is offered.
    pub plan_above: i64,
    /// Installments of an offered plan (the host accepts 2 to 60).
    pub plan_installments: u8,
    /// Days between installments (the host accepts 1 to 366).
    pub plan_every_days: u16,
    /// Days overdue from which an invoice with a final notice is escalated.
    pub escalate_after_days: i32,
    /// Days a final notice must have had before the invoice is escalated.
    pub final_notice_days: i32,
    /// The reminder cadences.
    pub cadence: Cadences,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            reliable_min_paid: 3,
            reliable_min_on_time: 0.8,
            large_invoice: 500_000,
            plan_above: 200_000,
            plan_installments: 3,
            plan_every_days: 30,
            escalate_after_days: 60,
            final_notice_days: 14,
            cadence: Cadences::default(),
        }
    }
}

/// One cadence per kind of debtor.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(default, deny_unknown_fields)]
pub struct Cadences {
    /// For every debtor that is not reliable.
    pub standard: Vec<Step>,
    /// For reliable debtors.
    pub reliable: Vec<Step>,
}

impl Default for Cadences {
    fn default() -> Cadences {
        use StepChannel::{Email, Letter, Sms};
        use StepTone::{Final, Firm, Gentle};
        Cadences {
            standard: vec![
                Step::new(1, Gentle, &[Email]),
                Step::new(8, Firm, &[Email, Sms]),
                Step::new(21, Final, &[Email, Letter]),
            ],
            reliable: vec![
                Step::new(5, Gentle, &[Email]),
                Step::new(15, Gentle, &[Email]),
                Step::new(30, Firm, &[Email]),
                Step::new(45, Final, &[Letter]),
            ],
        }
    }
}

/// One reminder of a cadence.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Days after the due date (negative: before it) from which the step applies.
    pub day: i32,
    /// The tone of the reminder.
    pub tone: StepTone,
    /// The channels it goes out on, where the debtor can be reached on them.
    pub channels: Vec<StepChannel>,
}

impl Step {
    fn new(day: i32, tone: StepTone, channels: &[StepChannel]) -> Step {
        Step {
            day,
            tone,
            channels: channels.to_vec(),
        }
    }
}

/// [`Tone`] as written in the config (the contract's type has no serde).
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum StepTone {
    Courtesy,
    Gentle,
    Firm,
    Final,
}

impl From<StepTone> for Tone {
    fn from(tone: StepTone) -> Tone {
        match tone {
            StepTone::Courtesy => Tone::Courtesy,
            StepTone::Gentle => Tone::Gentle,
            StepTone::Firm => Tone::Firm,
            StepTone::Final => Tone::Final,
        }
    }
}

/// [`Channel`] as written in the config.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum StepChannel {
    Email,
    Sms,
    Call,
    Letter,
}

impl From<StepChannel> for Channel {
    fn from(channel: StepChannel) -> Channel {
        match channel {
            StepChannel::Email => Channel::Email,
            StepChannel::Sms => Channel::Sms,
            StepChannel::Call => Channel::Call,
            StepChannel::Letter => Channel::Letter,
        }
    }
}

impl Config {
    /// Check what serde cannot: ranges, and cadences the step rule can use.
    /// The same bounds are in [`CONFIG_SCHEMA`], so a config the host accepted
    /// is not refused here.
    fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.reliable_min_on_time) {
            return Err(format!(
                "reliable_min_on_time is {}; it must be a share between 0 and 1",
                self.reliable_min_on_time
            ));
        }
        if self.large_invoice < 1 {
            return Err(format!(
                "large_invoice is {}; it must be at least 1",
                self.large_invoice
            ));
        }
        if self.plan_above < 1 {
            return Err(format!(
                "plan_above is {}; it must be at least 1",
                self.plan_above
            ));
        }
        if !(2..=60).contains(&self.plan_installments) {
            return Err(format!(
                "plan_installments is {}; it must be between 2 and 60",
                self.plan_installments
            ));
        }
        if !(1..=366).contains(&self.plan_every_days) {
            return Err(format!(
                "plan_every_days is {}; it must be between 1 and 366",
                self.plan_every_days
            ));
        }
        if self.escalate_after_days < 1 {
            return Err(format!(
                "escalate_after_days is {}; it must be at least 1",
                self.escalate_after_days
            ));
        }
        if self.final_notice_days < 0 {
            return Err(format!(
                "final_notice_days is {}; it must not be negative",
                self.final_notice_days
            ));
        }
        for (name, steps) in [
            ("standard", &self.cadence.standard),
            ("reliable", &self.cadence.reliable),
        ] {
            if steps.is_empty() {
                return Err(format!("cadence.{name} has no steps"));
            }
            for (i, step) in steps.iter().enumerate() {
                if step.channels.is_empty() {
                    return Err(format!("cadence.{name}[{i}] names no channel"));
                }
                if let Some(c) = step
                    .channels
                    .iter()
                    .enumerate()
                    .find(|(j, c)| step.channels[..*j].contains(c))
                    .map(|(_, c)| c)
                {
                    return Err(format!("cadence.{name}[{i}] names {c:?} twice"));
                }
                // "The step that applies is the last one whose day has come"
                // needs one step per day, in order.
                if i > 0 && steps[i - 1].day >= step.day {
                    return Err(format!(
                        "cadence.{name}[{i}] is on day {} after a step on day {}; days must \
                         strictly increase",
                        step.day,
                        steps[i - 1].day
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The JSON Schema (draft 2020-12) of [`Config`], declared in [`describe`] so
/// the host checks segment configs before they reach the strategy.
pub const CONFIG_SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "segmented strategy config",
  "description": "Cadence and channels by payment history and invoice value. Every field is optional; {} gives the defaults. Amounts are in minor units of the invoice currency.",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "reliable_min_paid": {
      "description": "Invoices a debtor must have paid in full to count as reliable.",
      "type": "integer",
      "minimum": 0,
      "maximum": 4294967295,
      "default": 3
    },
    "reliable_min_on_time": {
      "description": "Share (0 to 1) of paid invoices a reliable debtor paid on or before the due date.",
      "type": "number",
      "minimum": 0,
      "maximum": 1,
      "default": 0.8
    },
    "large_invoice": {
      "description": "Open amount in minor units from which an invoice also gets a task to call the debtor, at its first overdue reminder.",
      "type": "integer",
      "minimum": 1,
      "default": 500000
    },
    "plan_above": {
      "description": "Overdue open amount in one currency, in minor units, from which a payment plan is offered with the reminders (until a final notice has gone out).",
      "type": "integer",
      "minimum": 1,
      "default": 200000
    },
    "plan_installments": {
      "description": "Number of installments of an offered payment plan.",
      "type": "integer",
      "minimum": 2,
      "maximum": 60,
      "default": 3
    },
    "plan_every_days": {
      "description": "Days between installments of an offered payment plan; the first is due 7 days after the offer.",
      "type": "integer",
      "minimum": 1,
      "maximum": 366,
      "default": 30
    },
    "escalate_after_days": {
      "description": "Days overdue from which an invoice whose final notice went out is handed to a collection agency.",
      "type": "integer",
      "minimum": 1,
      "maximum": 2147483647,
      "default": 60
    },
    "final_notice_days": {
      "description": "Days the debtor has after a final notice before the invoice may be handed to a collection agency.",
      "type": "integer",
      "minimum": 0,
      "maximum": 2147483647,
      "default": 14
    },
    "cadence": {
      "description": "The reminder cadences: one for reliable debtors, one for everyone else.",
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "standard": {
          "description": "The cadence for debtors that are not reliable.",
          "$ref": "#/$defs/cadence",
          "default": [
            { "day": 1, "tone": "gentle", "channels": ["email"] },
            { "day": 8, "tone": "firm", "channels": ["email", "sms"] },
            { "day": 21, "tone": "final", "channels": ["email", "letter"] }
          ]
        },
        "reliable": {
          "description": "The cadence for reliable debtors.",
          "$ref": "#/$defs/cadence",
          "default": [
            { "day": 5, "tone": "gentle", "channels": ["email"] },
            { "day": 15, "tone": "gentle", "channels": ["email"] },
            { "day": 30, "tone": "firm", "channels": ["email"] },
            { "day": 45, "tone": "final", "channels": ["letter"] }
          ]
        }
      },
      "default": {
        "standard": [
          { "day": 1, "tone": "gentle", "channels": ["email"] },
          { "day": 8, "tone": "firm", "channels": ["email", "sms"] },
          { "day": 21, "tone": "final", "channels": ["email", "letter"] }
        ],
        "reliable": [
          { "day": 5, "tone": "gentle", "channels": ["email"] },
          { "day": 15, "tone": "gentle", "channels": ["email"] },
          { "day": 30, "tone": "firm", "channels": ["email"] },
          { "day": 45, "tone": "final", "channels": ["letter"] }
        ]
      }
    }
  },
  "$defs": {
    "cadence": {
      "description": "Reminder steps with strictly increasing days. An invoice is on the last step whose day has come; each step is sent once per invoice.",
      "type": "array",
      "minItems": 1,
      "items": { "$ref": "#/$defs/step" }
    },
    "step": {
      "description": "One reminder of a cadence.",
      "type": "object",
      "additionalProperties": false,
      "required": ["day", "tone", "channels"],
      "properties": {
        "day": {
          "description": "Days after the due date (negative: before it) from which the step applies.",
          "type": "integer",
          "minimum": -2147483648,
          "maximum": 2147483647
        },
        "tone": {
          "description": "The tone of the reminder.",
          "enum": ["courtesy", "gentle", "firm", "final"]
        },
        "channels": {
          "description": "Channels to send on. Those the debtor cannot be reached on are dropped; when none is left, email is used if possible.",
          "type": "array",
          "minItems": 1,
          "uniqueItems": true,
          "items": { "enum": ["email", "sms", "call", "letter"] }
        }
      }
    }
  }
}"##;

/// What the strategy says about itself.
pub fn describe() -> Info {
    Info::new(
        "segmented",
        env!("CARGO_PKG_VERSION"),
        "Segmented dunning: debtors with a good payment record get fewer, softer and later \
         reminders (gentle emails at 5 and 15 days, firm at 30, a final letter at 45) than \
         everyone else (gentle email at 1 day, firm email and SMS at 8, final email and letter \
         at 21). Large invoices also get a call from the team at their first reminder, a \
         payment plan is offered when the overdue amount is high, and an invoice still unpaid \
         60 days after its due date and at least 14 days after a final notice goes to a \
         collection agency. Disputes, payment plans and promises to pay are respected. All \
         thresholds and both cadences are configurable per segment.",
    )
    .with_config_schema(CONFIG_SCHEMA)
}

/// The strategy's plan for one debtor. `Err` when the segment's config is
/// invalid: guessing what the operator meant could chase a debtor wrongly.
pub fn decide(case: &Case) -> Result<Plan, String> {
    // serde also reads a struct from a JSON array (fields by position), which
    // no operator means and the schema forbids.
    let text = case.config.trim();
    if !text.is_empty() && !text.starts_with('{') {
        return Err("invalid config: expected a JSON object".into());
    }
    let config: Config = case.config()?;
    config
        .validate()
        .map_err(|e| format!("invalid config: {e}"))?;

    let today = case.today();
    let zone = case.debtor.time_zone.as_str();
    let morning = |date: Date| local_time(date, REVIEW_HOUR, 0, zone);
    let reliable = is_reliable(case, &config);
    let cadence = if reliable {
        &config.cadence.reliable
    } else {
        &config.cadence.standard
    };

    let mut plan = Plan::nothing("");
    let review =
        |plan: Plan, at: Timestamp| plan.review_at(at.min(case.now + MAX_REVIEW_DAYS * DAY));
    // (channel, tone) -> invoice ids, in first-seen order.
    let mut reminders: Vec<(Channel, Tone, Vec<String>)> = Vec::new();
    let mut reminded: Vec<&str> = Vec::new();
    let mut calls: Vec<&Invoice> = Vec::new();
    let mut escalated: Vec<&str> = Vec::new();
    let mut awaiting_promise = 0;
    let escalate_days = i64::from(config.escalate_after_days);
    let notice_days = i64::from(config.final_notice_days);

    for invoice in &case.invoices {
        if !invoice.is_actionable(today) {
            if invoice.status == InvoiceStatus::Promised
                && let Some(promised) = invoice.promised_on
            {
                plan = review(plan, morning(promised.add_days(1)));
                awaiting_promise += 1;
            }
            continue;
        }

        let final_on = first_final_notice(case, invoice, zone);
        if let Some(final_on) = final_on {
            let escalate_on = invoice
                .due_on
                .add_days(escalate_days)
                .max(final_on.add_days(notice_days));
            if today >= escalate_on {
                escalated.push(&invoice.id);
                continue;
            }
            plan = review(plan, morning(escalate_on));
        }

        if let Some(next) = cadence.iter().find(|s| s.day > invoice.days_overdue) {
            plan = review(plan, morning(invoice.due_on.add_days(next.day.into())));
        }
        let Some(step) = cadence.iter().rev().find(|s| s.day <= invoice.days_overdue) else {
            continue;
        };
        if step_done(case, invoice, step, zone) {
            continue;
        }
        let tone = Tone::from(step.tone);
        let channels = usable_channels(case, step);
        if channels.is_empty() {
            dun_strategy::warn(&format!(
                "invoice {}: skipping the {} reminder of day {}: the debtor cannot be reached \
                 on {} nor by email",
                invoice.number,
                tone.label(),
                step.day,
                step.channels
                    .iter()
                    .map(|c| Channel::from(*c).label())
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
            continue;
        }
        for channel in channels {
            match reminders
                .iter_mut()
                .find(|(c, t, _)| *c == channel && *t == tone)
            {
                Some((_, _, ids)) => ids.push(invoice.id.clone()),
                None => reminders.push((channel, tone, vec![invoice.id.clone()])),
            }
        }
        reminded.push(&invoice.id);
        if tone == Tone::Final && final_on.is_none() {
            // Escalation waits for the notice this reminder starts.
            let escalate_on = invoice
                .due_on
                .add_days(escalate_days)
                .max(today.add_days(notice_days));
            plan = review(plan, morning(escalate_on));
        }
        if invoice.is_overdue()
            && invoice.open_amount >= config.large_invoice
            && !ever_reminded(case, invoice)
        {
            calls.push(invoice);
        }
    }

    let reminder_count = reminders.len();
    for (channel, tone, ids) in reminders {
        plan.push(Action::remind(channel, tone, ids, case.now));
    }

    let plans_offered = offer_plans(case, &config, &reminded, &escalated, &mut plan);

    for invoice in &calls {
        plan.push(Action::task(
            TaskKind::CallDebtor,
            &format!(
                "Call {} about invoice {} ({})",
                case.debtor.name,
                invoice.number,
                format_amount(invoice.open_amount, &invoice.currency),
            ),
            [invoice.id.as_str()],
            case.now + DAY,
        ));
    }

    if !escalated.is_empty() {
        plan.push(Action::escalate(
            EscalationTarget::CollectionAgency,
            escalated.iter().copied(),
            &format!(
                "Unpaid {} days or more after the due date, and at least {} days after a final \
                 notice.",
                config.escalate_after_days, config.final_notice_days
            ),
        ));
    }

    let mut done = Vec::new();
    if reminder_count > 0 {
        done.push(count(reminder_count, "reminder", "reminders"));
    }
    if !calls.is_empty() {
        done.push(count(calls.len(), "call task", "call tasks"));
    }
    match plans_offered {
        0 => {}
        1 => done.push("plan offered".into()),
        n => done.push(format!("{n} plans offered")),
    }
    if !escalated.is_empty() {
        done.push(format!(
            "{} escalated",
            count(escalated.len(), "invoice", "invoices")
        ));
    }
    if awaiting_promise > 0 {
        done.push(format!(
            "{} awaiting a promise",
            count(awaiting_promise, "invoice", "invoices")
        ));
    }
    if done.is_empty() {
        done.push("nothing due".into());
    }
    let segment = if reliable { "reliable" } else { "standard" };
    Ok(plan.with_note(&format!("{segment} payer; {}", done.join(", "))))
}

/// A debtor whose record says a late payment is most likely an oversight.
fn is_reliable(case: &Case, config: &Config) -> bool {
    let history = &case.debtor.history;
    // No paid invoice means no evidence; a share of 0 only passes a 0 bar.
    let on_time = history.on_time_share().unwrap_or(0.0);
    history.invoices_paid >= config.reliable_min_paid
        && f64::from(on_time) >= config.reliable_min_on_time
}

fn is_about(contact: &Contact, invoice: &Invoice) -> bool {
    contact.invoice_ids.contains(&invoice.id)
}

/// Whether `step` already went out for `invoice`: a contact in its tone that
/// went out on or after the step's day. Matching on the date rather than
/// counting contacts per tone keeps a repeated tone apart (the reliable
/// cadence's two gentle emails), does not count one step sent on two
/// channels twice, and does not resend a step to an invoice first seen late.
/// A sterner tone that went out also counts, at any date: the ladder does not
/// step back down, e.g. when a debtor turns reliable mid-way.
fn step_done(case: &Case, invoice: &Invoice, step: &Step, zone: &str) -> bool {
    let tone = Tone::from(step.tone);
    let step_on = invoice.due_on.add_days(step.day.into());
    case.contacts
        .iter()
        .filter(|c| c.went_out() && is_about(c, invoice))
        .any(|c| {
            c.tone.rank() > tone.rank() || (c.tone == tone && local_date(c.at, zone) >= step_on)
        })
}

/// The local date of the first final notice about `invoice` that went out.
fn first_final_notice(case: &Case, invoice: &Invoice, zone: &str) -> Option<Date> {
    case.contacts
        .iter()
        .filter(|c| c.went_out() && c.tone == Tone::Final && is_about(c, invoice))
        .map(|c| local_date(c.at, zone))
        .min()
}

/// Whether any overdue reminder about `invoice` was ever attempted. Unlike
/// the step rule this counts failed and suppressed contacts too: the call
/// task went into the same plan as that first reminder, so a retried
/// reminder must not create a second task.
fn ever_reminded(case: &Case, invoice: &Invoice) -> bool {
    case.contacts
        .iter()
        .any(|c| c.tone != Tone::Courtesy && is_about(c, invoice))
}

/// The step's channels the debtor can be reached on; email when none is
/// left, as the one channel every template set has.
fn usable_channels(case: &Case, step: &Step) -> Vec<Channel> {
    let mut usable: Vec<Channel> = step
        .channels
        .iter()
        .map(|c| Channel::from(*c))
        .filter(|c| case.can_use(*c))
        .collect();
    if usable.is_empty() && case.can_use(Channel::Email) {
        usable.push(Channel::Email);
    }
    usable
}

/// Offer a payment plan per currency whose overdue amount is high, and
/// return how many were offered. The case does not show past offers, so an
/// offer only goes out with a reminder about one of its invoices: at most
/// once per cadence step, instead of at every decision. After a final notice
/// the next step is collection, not another offer.
fn offer_plans(
    case: &Case,
    config: &Config,
    reminded: &[&str],
    escalated: &[&str],
    plan: &mut Plan,
) -> usize {
    let final_sent = case
        .contacts
        .iter()
        .any(|c| c.went_out() && c.tone == Tone::Final);
    if final_sent {
        return 0;
    }
    let today = case.today();
    let mut currencies: Vec<&str> = Vec::new();
    for invoice in case.invoices.iter().filter(|i| i.is_overdue()) {
        if !currencies.contains(&invoice.currency.as_str()) {
            currencies.push(&invoice.currency);
        }
    }
    let mut offered = 0;
    for currency in currencies {
        let overdue: Vec<&Invoice> = case
            .invoices
            .iter()
            .filter(|i| i.currency == currency && i.is_overdue())
            .collect();
        // One plan at a time: one already running covers this debt.
        if overdue.iter().any(|i| i.status == InvoiceStatus::InPlan) {
            continue;
        }
        let covered: Vec<&Invoice> = overdue
            .into_iter()
            .filter(|i| i.is_actionable(today) && !escalated.contains(&i.id.as_str()))
            .collect();
        let total = covered
            .iter()
            .fold(0i64, |sum, i| sum.saturating_add(i.open_amount));
        if total < config.plan_above || !covered.iter().any(|i| reminded.contains(&i.id.as_str())) {
            continue;
        }
        plan.push(Action::offer_plan(
            covered.iter().map(|i| i.id.as_str()),
            config.plan_installments,
            config.plan_every_days,
            today.add_days(7),
        ));
        offered += 1;
    }
    offered
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Digits after the decimal point of an ISO 4217 currency's minor unit.
fn minor_unit_digits(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    }
}

/// An amount in minor units as a person reads it, e.g. "5000.00 EUR".
fn format_amount(minor: i64, currency: &str) -> String {
    let digits = minor_unit_digits(currency);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if digits == 0 {
        return format!("{sign}{abs} {currency}");
    }
    let scale = 10u64.pow(digits);
    format!(
        "{sign}{}.{:0width$} {currency}",
        abs / scale,
        abs % scale,
        width = digits as usize
    )
}

/// The strategy as a component.
pub struct Segmented;

impl Strategy for Segmented {
    fn describe() -> Info {
        crate::describe()
    }

    fn decide(case: Case) -> Result<Plan, String> {
        crate::decide(&case)
    }
}

#[cfg(target_arch = "wasm32")]
dun_strategy::export!(Segmented);

#[cfg(test)]
mod tests {
    use super::*;
    use dun_strategy::testing::CaseBuilder;
    use dun_strategy::{ContactOutcome, Escalation, HOUR, PaymentPlan, Task};

    const TODAY: Date = Date {
        year: 2026,
        month: 5,
        day: 20,
    };

    type Sent = (Channel, Tone, Vec<String>);

    fn reminders(plan: &Plan) -> Vec<Sent> {
        plan.reminders()
            .map(|r| (r.channel, r.tone, r.invoice_ids.clone()))
            .collect()
    }

    fn sent(channel: Channel, tone: Tone, ids: &[&str]) -> Sent {
        (channel, tone, ids.iter().map(|s| s.to_string()).collect())
    }

    fn plans(plan: &Plan) -> Vec<&PaymentPlan> {
        plan.actions
            .iter()
            .filter_map(|a| match a {
                Action::OfferPlan(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    fn tasks(plan: &Plan) -> Vec<&Task> {
        plan.actions
            .iter()
            .filter_map(|a| match a {
                Action::CreateTask(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    fn escalations(plan: &Plan) -> Vec<&Escalation> {
        plan.actions
            .iter()
            .filter_map(|a| match a {
                Action::Escalate(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    /// 5 of 5 invoices paid on time.
    fn reliable(builder: CaseBuilder) -> CaseBuilder {
        builder.with_debtor(|d| {
            d.history.invoices_paid = 5;
            d.history.paid_on_time = 5;
        })
    }

    fn run(case: &Case) -> Plan {
        match decide(case) {
            Ok(plan) => plan,
            Err(e) => panic!("decide refused the case: {e}"),
        }
    }

    /// The reminders for one 100.00 EUR invoice `age` days overdue.
    fn reminders_at(age: i32, is_reliable: bool) -> Vec<Sent> {
        let mut builder = CaseBuilder::new(TODAY).invoice("a", 100_00, age);
        if is_reliable {
            builder = reliable(builder);
        }
        reminders(&run(&builder.build()))
    }

    #[test]
    fn standard_cadence_step_by_step() {
        let a = &["a"];
        let cases = [
            (0, vec![]),
            (1, vec![sent(Channel::Email, Tone::Gentle, a)]),
            (7, vec![sent(Channel::Email, Tone::Gentle, a)]),
            (
                8,
                vec![
                    sent(Channel::Email, Tone::Firm, a),
                    sent(Channel::Sms, Tone::Firm, a),
                ],
            ),
            (
                21,
                vec![
                    sent(Channel::Email, Tone::Final, a),
                    sent(Channel::Letter, Tone::Final, a),
                ],
            ),
        ];
        for (age, expected) in cases {
            assert_eq!(reminders_at(age, false), expected, "{age} days overdue");
        }
    }

    #[test]
    fn reliable_payers_get_softer_later_reminders() {
        let a = &["a"];
        let cases = [
            (1, vec![]),
            (4, vec![]),
            (5, vec![sent(Channel::Email, Tone::Gentle, a)]),
            (8, vec![sent(Channel::Email, Tone::Gentle, a)]),
            (15, vec![sent(Channel::Email, Tone::Gentle, a)]),
            (21, vec![sent(Channel::Email, Tone::Gentle, a)]),
            (30, vec![sent(Channel::Email, Tone::Firm, a)]),
            (45, vec![sent(Channel::Letter, Tone::Final, a)]),
        ];
        for (age, expected) in cases {
            assert_eq!(reminders_at(age, true), expected, "{age} days overdue");
        }
        // The same debtor with a poor on-time record is standard.
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 100_00, 1)
            .with_debtor(|d| {
                d.history.invoices_paid = 5;
                d.history.paid_on_time = 3;
            })
            .build();
        let plan = run(&case);
        assert_eq!(
            reminders(&plan),
            vec![sent(Channel::Email, Tone::Gentle, a)]
        );
        assert!(plan.note.starts_with("standard payer; "), "{}", plan.note);
    }

    #[test]
    fn reliable_thresholds_come_from_config() {
        let case = reliable(CaseBuilder::new(TODAY))
            .invoice("a", 100_00, 1)
            .config(r#"{"reliable_min_paid": 6}"#)
            .build();
        assert_eq!(
            reminders(&run(&case)),
            vec![sent(Channel::Email, Tone::Gentle, &["a"])]
        );
    }

    #[test]
    fn configured_cadence_replaces_the_default() {
        let config = r#"{"cadence": {"standard": [
            {"day": -3, "tone": "courtesy", "channels": ["email"]},
            {"day": 10, "tone": "final", "channels": ["call", "letter"]}
        ]}}"#;
        let case = CaseBuilder::new(TODAY)
            .invoice("soon", 100_00, -2)
            .invoice("late", 100_00, 12)
            .config(config)
            .build();
        assert_eq!(
            reminders(&run(&case)),
            vec![
                sent(Channel::Email, Tone::Courtesy, &["soon"]),
                sent(Channel::Call, Tone::Final, &["late"]),
                sent(Channel::Letter, Tone::Final, &["late"]),
            ]
        );
        // The reliable cadence keeps its default.
        let case = reliable(CaseBuilder::new(TODAY))
            .invoice("a", 100_00, 5)
            .config(config)
            .build();
        assert_eq!(
            reminders(&run(&case)),
            vec![sent(Channel::Email, Tone::Gentle, &["a"])]
        );
    }

    #[test]
    fn invoices_on_the_same_step_share_one_reminder() {
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 100_00, 2)
            .invoice("b", 50_00, 6)
            .invoice("c", 70_00, 9)
            .build();
        let plan = run(&case);
        assert_eq!(
            reminders(&plan),
            vec![
                sent(Channel::Email, Tone::Gentle, &["a", "b"]),
                sent(Channel::Email, Tone::Firm, &["c"]),
                sent(Channel::Sms, Tone::Firm, &["c"]),
            ]
        );
        assert!(plan.actions.iter().all(|a| match a {
            Action::Remind(r) => r.send_at == case.now,
            _ => true,
        }));
        assert_eq!(plan.note, "standard payer; 3 reminders");
    }

    #[test]
    fn missing_channels_fall_back_to_email_or_skip() {
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 100_00, 21)
            .channels(&[Channel::Email, Channel::Sms])
            .build();
        assert_eq!(
            reminders(&run(&case)),
            vec![sent(Channel::Email, Tone::Final, &["a"])]
        );
        let case = reliable(CaseBuilder::new(TODAY))
            .invoice("a", 100_00, 45)
            .channels(&[Channel::Email])
            .build();
        assert_eq!(
            reminders(&run(&case)),
            vec![sent(Channel::Email, Tone::Final, &["a"])],
            "a final letter becomes an email"
        );
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 100_00, 1)
            .channels(&[Channel::Sms])
            .build();
        let plan = run(&case);
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    }

    #[test]
    fn a_step_already_done_is_not_repeated() {
        // Gentle went out on day 1; on day 5 nothing is due.
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 100_00, 5)
            .contact(4, Channel::Email, Tone::Gentle, &["a"])
            .build();
        assert_eq!(reminders(&run(&case)), vec![]);

        // A firm step on two channels went out: done, not twice-needed.
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 100_00, 10)
            .contact(2, Channel::Email, Tone::Firm, &["a"])
            .contact(2, Channel::Sms, Tone::Firm, &["a"])
            .build();
        assert_eq!(reminders(&run(&case)), vec![]);

        // Reliable: the gentle email of day 5 does not stand in for the one of
        // day 15, but the one of day 15 is not sent again on day 16.
        let case = reliable(CaseBuilder::new(TODAY))
            .invoice("a", 100_00, 15)
            .contact(10, Channel::Email, Tone::Gentle, &["a"])
            .build();
        assert_eq!(
            reminders(&run(&case)),
            vec![sent(Channel::Email, Tone::Gentle, &["a"])]
        );
        let case = reliable(CaseBuilder::new(TODAY))
            .invoice("a", 100_00, 16)
            .contact(11, Channel::Email, Tone::Gentle, &["a"])
            .contact(1, Channel::Email, Tone::Gentle, &["a"])
            .build();
        assert_eq!(reminders(&run(&case)), vec![]);

        // First seen late (day 20) and reminded then: not again on day 21.
        let case = reliable(CaseBuilder::new(TODAY))
            .invoice("a", 100_00, 21)
            .contact(1, Channel::Email, Tone::Gentle, &["a"])
            .build();
        assert_eq!(reminders(&run(&case)), vec![]);

        // A contact about another invoice does not count.
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 100_00, 3)
            .invoice("b", 100_00, 3)
            .contact(2, Channel::Email, Tone::Gentle, &["b"])
            .build();
        assert_eq!(
            reminders(&run(&case)),
            vec![sent(Channel::Email, Tone::Gentle, &["a"])]
        );

        // A suppressed contact never reached the debtor: the step is retried.
        let mut case = CaseBuilder::new(TODAY)
            .invoice("a", 100_00, 3)
            .contact(2, Channel::Email, Tone::Gentle, &["a"])
            .build();
        case.contacts[0].outcome = ContactOutcome::Suppressed;
        assert_eq!(
            reminders(&run(&case)),
            vec![sent(Channel::Email, Tone::Gentle, &["a"])]
        );
    }

    #[test]
    fn the_ladder_does_not_step_back_down() {
        // Firm went out while the debtor was standard; now reliable, the
        // gentle email of day 15 is skipped, the firm one of day 30 is not.
        let case = reliable(CaseBuilder::new(TODAY))
            .invoice("a", 100_00, 15)
            .contact(7, Channel::Email, Tone::Firm, &["a"])
            .build();
        assert_eq!(reminders(&run(&case)), vec![]);
        let case = reliable(CaseBuilder::new(TODAY))
            .invoice("a", 100_00, 30)
            .contact(22, Channel::Email, Tone::Firm, &["a"])
            .build();
        assert_eq!(
            reminders(&run(&case)),
            vec![sent(Channel::Email, Tone::Firm, &["a"])]
        );
    }

    #[test]
    fn a_large_invoice_gets_a_call_task_at_its_first_step() {
        let case = CaseBuilder::new(TODAY)
            .invoice("big", 7_500_00, 1)
            .invoice("small", 100_00, 1)
            .build();
        let plan = run(&case);
        let calls = tasks(&plan);
        assert_eq!(calls.len(), 1, "{:?}", plan.actions);
        assert_eq!(calls[0].kind, TaskKind::CallDebtor);
        assert_eq!(
            calls[0].description,
            "Call Acme Ltd about invoice INV-big (7500.00 EUR)"
        );
        assert_eq!(calls[0].invoice_ids, vec!["big".to_string()]);
        assert_eq!(calls[0].due_at, case.now + DAY);
        assert!(plan.note.contains("1 call task"), "{}", plan.note);

        // At the next step it was already reminded: no second call.
        let case = CaseBuilder::new(TODAY)
            .invoice("big", 7_500_00, 8)
            .contact(7, Channel::Email, Tone::Gentle, &["big"])
            .build();
        let plan = run(&case);
        assert_eq!(reminders(&plan).len(), 2);
        assert!(tasks(&plan).is_empty(), "{:?}", plan.actions);

        // A courtesy notice before the due date is not an overdue step.
        let case = CaseBuilder::new(TODAY)
            .invoice("big", 7_500_00, 1)
            .contact(3, Channel::Email, Tone::Courtesy, &["big"])
            .build();
        assert_eq!(tasks(&run(&case)).len(), 1);

        // Not yet due: no call.
        let config = r#"{"cadence": {"standard": [{"day": -3, "tone": "courtesy", "channels": ["email"]}]}}"#;
        let case = CaseBuilder::new(TODAY)
            .invoice("big", 7_500_00, -1)
            .config(config)
            .build();
        let plan = run(&case);
        assert_eq!(reminders(&plan).len(), 1);
        assert!(tasks(&plan).is_empty());
    }

    #[test]
    fn call_task_is_not_repeated_when_its_reminder_was_suppressed() {
        let mut case = CaseBuilder::new(TODAY)
            .invoice("big", 7_500_00, 2)
            .contact(1, Channel::Email, Tone::Gentle, &["big"])
            .build();
        case.contacts[0].outcome = ContactOutcome::Suppressed;
        let plan = run(&case);
        assert_eq!(reminders(&plan).len(), 1, "the reminder is retried");
        assert!(tasks(&plan).is_empty(), "the call task is not");
    }

    #[test]
    fn amounts_read_in_the_currency_unit() {
        assert_eq!(format_amount(750_000, "EUR"), "7500.00 EUR");
        assert_eq!(format_amount(750_005, "USD"), "7500.05 USD");
        assert_eq!(format_amount(750_000, "JPY"), "750000 JPY");
        assert_eq!(format_amount(750_000, "KWD"), "750.000 KWD");
        assert_eq!(format_amount(-5, "EUR"), "-0.05 EUR");
    }

    #[test]
    fn a_plan_is_offered_above_the_threshold_only() {
        // 1 500.00 + 600.00 = 2 100.00 EUR overdue >= 2 000.00.
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 1_500_00, 3)
            .invoice("b", 600_00, 9)
            .invoice("not-due", 5_000_00, -10)
            .build();
        let plan = run(&case);
        assert_eq!(
            plans(&plan),
            vec![&PaymentPlan {
                invoice_ids: vec!["a".into(), "b".into()],
                installments: 3,
                every_days: 30,
                first_due_on: TODAY.add_days(7),
            }]
        );
        assert_eq!(plan.note, "standard payer; 3 reminders, plan offered");

        // 1 500.00 + 400.00 is below.
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 1_500_00, 3)
            .invoice("b", 400_00, 9)
            .build();
        assert!(plans(&run(&case)).is_empty());

        // Amounts in different currencies do not add up.
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 1_500_00, 3)
            .invoice("b", 600_00, 9)
            .with_last_invoice(|i| i.currency = "USD".into())
            .build();
        assert!(plans(&run(&case)).is_empty());

        // Configured threshold and terms.
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 1_500_00, 3)
            .config(r#"{"plan_above": 100000, "plan_installments": 6, "plan_every_days": 14}"#)
            .build();
        let plan = run(&case);
        let offered = plans(&plan);
        assert_eq!(offered.len(), 1);
        assert_eq!((offered[0].installments, offered[0].every_days), (6, 14));
    }

    #[test]
    fn no_plan_when_one_runs_after_a_final_or_without_a_reminder() {
        // An invoice already in a plan.
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 1_500_00, 3)
            .invoice("b", 600_00, 40)
            .with_last_invoice(|i| i.status = InvoiceStatus::InPlan)
            .build();
        let plan = run(&case);
        assert_eq!(reminders(&plan).len(), 1);
        assert!(plans(&plan).is_empty());

        // A final notice went out (about any invoice).
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 1_500_00, 3)
            .invoice("b", 600_00, 30)
            .contact(9, Channel::Letter, Tone::Final, &["b"])
            .build();
        assert!(plans(&run(&case)).is_empty());

        // Nothing is sent in this decision: no offer either, or it would be
        // repeated at every decision.
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 1_500_00, 3)
            .invoice("b", 600_00, 3)
            .contact(2, Channel::Email, Tone::Gentle, &["a", "b"])
            .build();
        assert!(run(&case).actions.is_empty());
    }

    #[test]
    fn escalates_after_a_final_notice_only() {
        // 60 days overdue, final sent on day 21: escalate, no more reminders.
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 100_00, 60)
            .invoice("b", 100_00, 65)
            .contact(39, Channel::Letter, Tone::Final, &["a", "b"])
            .build();
        let plan = run(&case);
        let handed = escalations(&plan);
        assert_eq!(handed.len(), 1, "{:?}", plan.actions);
        assert_eq!(handed[0].target, EscalationTarget::CollectionAgency);
        assert_eq!(handed[0].invoice_ids, vec!["a".to_string(), "b".into()]);
        assert!(reminders(&plan).is_empty());
        assert_eq!(plan.review_at, None);
        assert_eq!(plan.note, "standard payer; 2 invoices escalated");

        // Day 59: not yet; reviewed the next morning.
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 100_00, 59)
            .contact(38, Channel::Letter, Tone::Final, &["a"])
            .build();
        let plan = run(&case);
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
        assert_eq!(
            plan.review_at,
            Some(local_time(TODAY.add_days(1), 9, 0, "UTC"))
        );

        // Never without a final notice: it goes out now, and escalation
        // waits for its notice period.
        let case = CaseBuilder::new(TODAY).invoice("a", 100_00, 70).build();
        let plan = run(&case);
        assert!(escalations(&plan).is_empty());
        assert_eq!(reminders(&plan).len(), 2);
        assert_eq!(
            plan.review_at,
            Some(local_time(TODAY.add_days(14), 9, 0, "UTC"))
        );

        // A final that went out only 3 days ago is not enough notice.
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 100_00, 70)
            .contact(3, Channel::Letter, Tone::Final, &["a"])
            .build();
        let plan = run(&case);
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
        assert_eq!(
            plan.review_at,
            Some(local_time(TODAY.add_days(11), 9, 0, "UTC"))
        );

        // A suppressed final letter is no notice.
        let mut case = CaseBuilder::new(TODAY)
            .invoice("a", 100_00, 60)
            .contact(39, Channel::Letter, Tone::Final, &["a"])
            .build();
        case.contacts[0].outcome = ContactOutcome::Suppressed;
        assert!(escalations(&run(&case)).is_empty());
    }

    #[test]
    fn invoices_on_hold_are_skipped() {
        for status in [
            InvoiceStatus::Disputed,
            InvoiceStatus::InPlan,
            InvoiceStatus::InCollection,
        ] {
            let case = CaseBuilder::new(TODAY)
                .invoice("held", 9_000_00, 8)
                .with_last_invoice(|i| i.status = status)
                .invoice("a", 100_00, 1)
                .build();
            let plan = run(&case);
            assert_eq!(
                plan.actions,
                vec![Action::remind(
                    Channel::Email,
                    Tone::Gentle,
                    ["a"],
                    case.now
                )],
                "{status:?}"
            );
        }
        let case = CaseBuilder::new(TODAY)
            .invoice("held", 100_00, 70)
            .with_last_invoice(|i| i.status = InvoiceStatus::Disputed)
            .contact(40, Channel::Letter, Tone::Final, &["held"])
            .build();
        let plan = run(&case);
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
        assert_eq!(plan.review_at, None);
    }

    #[test]
    fn a_promise_defers_until_the_morning_after() {
        let promised_on = TODAY.add_days(5);
        let case = CaseBuilder::new(TODAY)
            .zone("Europe/Berlin")
            .invoice("a", 100_00, 10)
            .with_last_invoice(|i| {
                i.status = InvoiceStatus::Promised;
                i.promised_on = Some(promised_on);
            })
            .build();
        let plan = run(&case);
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
        assert_eq!(
            plan.review_at,
            Some(local_time(promised_on.add_days(1), 9, 0, "Europe/Berlin"))
        );
        assert_eq!(plan.note, "standard payer; 1 invoice awaiting a promise");

        // A broken promise is chased again.
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 100_00, 10)
            .with_last_invoice(|i| {
                i.status = InvoiceStatus::Promised;
                i.promised_on = Some(TODAY.add_days(-1));
            })
            .build();
        assert_eq!(reminders(&run(&case)).len(), 2);
    }

    #[test]
    fn review_at_is_the_next_step_at_nine_local() {
        let zone = "America/New_York";
        // Day 3 of the standard cadence: next step (firm) on day 8.
        let case = CaseBuilder::new(TODAY)
            .zone(zone)
            .invoice("a", 100_00, 3)
            .contact(2, Channel::Email, Tone::Gentle, &["a"])
            .build();
        let due_on = case.invoices[0].due_on;
        let plan = run(&case);
        assert_eq!(
            plan.review_at,
            Some(local_time(due_on.add_days(8), 9, 0, zone))
        );
        assert_eq!(local_time(due_on.add_days(8), 9, 0, zone), {
            // 2026-05-25 09:00 EDT is 13:00 UTC.
            Date::new(2026, 5, 25).midnight_utc() + 13 * HOUR
        });

        // The earliest over all invoices; reliable debtors later.
        let case = reliable(CaseBuilder::new(TODAY))
            .zone(zone)
            .invoice("a", 100_00, 20)
            .invoice("b", 100_00, -4)
            .build();
        let plan = run(&case);
        let b_due = case.invoices[1].due_on;
        assert_eq!(
            plan.review_at,
            Some(local_time(b_due.add_days(5), 9, 0, zone))
        );

        // After the final step: the escalation date.
        let case = CaseBuilder::new(TODAY)
            .invoice("a", 100_00, 30)
            .contact(9, Channel::Letter, Tone::Final, &["a"])
            .build();
        let due_on = case.invoices[0].due_on;
        assert_eq!(
            run(&case).review_at,
            Some(local_time(due_on.add_days(60), 9, 0, "UTC"))
        );

        // Nothing open: nothing to review.
        let plan = run(&CaseBuilder::new(TODAY).build());
        assert_eq!(plan, Plan::nothing("standard payer; nothing due"));

        // Far in the future: brought within the host's horizon.
        let case = CaseBuilder::new(TODAY).invoice("a", 100_00, -700).build();
        assert_eq!(run(&case).review_at, Some(case.now + MAX_REVIEW_DAYS * DAY));
    }

    #[test]
    fn an_invalid_config_is_refused() {
        let bad = [
            (
                r#"{"reliable_min_paid": 3, "colour": "red"}"#,
                "unknown field",
            ),
            (r#"{"cadence": {"vip": []}}"#, "unknown field"),
            (
                r#"{"cadence": {"standard": [{"day": 1, "tone": "gentle", "channels": ["email"], "x": 1}]}}"#,
                "unknown field",
            ),
            (
                r#"{"cadence": {"standard": [{"day": 1, "tone": "rude", "channels": ["email"]}]}}"#,
                "unknown variant",
            ),
            (
                r#"{"cadence": {"standard": [{"day": 1, "tone": "gentle", "channels": ["fax"]}]}}"#,
                "unknown variant",
            ),
            (
                r#"{"cadence": {"standard": [{"tone": "gentle", "channels": ["email"]}]}}"#,
                "missing field `day`",
            ),
            (r#"{"large_invoice": "lots"}"#, "invalid type"),
            (r#"{"reliable_min_on_time": 80}"#, "between 0 and 1"),
            (r#"{"plan_installments": 1}"#, "between 2 and 60"),
            (r#"{"plan_every_days": 0}"#, "between 1 and 366"),
            (r#"{"plan_above": 0}"#, "at least 1"),
            (r#"{"escalate_after_days": 0}"#, "at least 1"),
            (r#"{"final_notice_days": -1}"#, "negative"),
            (r#"{"cadence": {"reliable": []}}"#, "no steps"),
            (
                r#"{"cadence": {"standard": [{"day": 1, "tone": "gentle", "channels": []}]}}"#,
                "no channel",
            ),
            (
                r#"{"cadence": {"standard": [{"day": 1, "tone": "gentle", "channels": ["sms", "sms"]}]}}"#,
                "twice",
            ),
            (
                r#"{"cadence": {"standard": [
                    {"day": 8, "tone": "firm", "channels": ["email"]},
                    {"day": 1, "tone": "gentle", "channels": ["email"]}
                ]}}"#,
                "strictly increase",
            ),
            ("[1, 2]", "expected a JSON object"),
            ("not json", "expected a JSON object"),
            ("{not json", "key must be a string"),
        ];
        for (config, why) in bad {
            let case = CaseBuilder::new(TODAY)
                .invoice("a", 100_00, 3)
                .config(config)
                .build();
            match decide(&case) {
                Ok(plan) => panic!("{config} was accepted: {plan:?}"),
                Err(e) => {
                    assert!(e.starts_with("invalid config: "), "{config}: {e}");
                    assert!(e.contains(why), "{config}: {e:?} should say {why:?}");
                }
            }
        }
        // Empty and {} both mean the defaults.
        for config in ["", "{}", "  "] {
            let case = CaseBuilder::new(TODAY).config(config).build();
            assert!(decide(&case).is_ok(), "{config:?}");
        }
    }

    #[test]
    fn describe_declares_the_schema() {
        let info = describe();
        assert_eq!(info.name, "segmented");
        assert_eq!(info.version, "0.1.0");
        assert!(!info.description.is_empty());
        assert_eq!(info.config_schema.as_deref(), Some(CONFIG_SCHEMA));
    }

    #[test]
    fn the_schema_is_json_and_matches_the_config() {
        let schema: serde_json::Value = match serde_json::from_str(CONFIG_SCHEMA) {
            Ok(schema) => schema,
            Err(e) => panic!("the schema is not JSON: {e}"),
        };
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false);

        // Every property has a description, and their defaults are exactly
        // Config::default(): same names, same values.
        let Some(properties) = schema["properties"].as_object() else {
            panic!("no properties");
        };
        let mut defaults = serde_json::Map::new();
        for (name, property) in properties {
            assert!(property["description"].is_string(), "{name}");
            defaults.insert(name.clone(), property["default"].clone());
        }
        let expected = match serde_json::to_value(Config::default()) {
            Ok(value) => value,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(serde_json::Value::Object(defaults.clone()), expected);
        let cadence = &schema["properties"]["cadence"];
        for kind in ["standard", "reliable"] {
            assert_eq!(
                cadence["properties"][kind]["default"],
                expected["cadence"][kind]
            );
        }

        // And the defaults, written out, are a config the strategy accepts.
        let text = serde_json::Value::Object(defaults).to_string();
        let case = CaseBuilder::new(TODAY).config(&text).build();
        assert!(decide(&case).is_ok());
        assert_eq!(case.config::<Config>(), Ok(Config::default()));
    }
}
