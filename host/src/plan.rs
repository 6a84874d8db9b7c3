//! The plan: what a strategy wants done for one debtor, and the checks it
//! must pass before anything acts on it.
//!
//! A plan comes from untrusted code. [`Plan::validate`] is the gate between
//! the sandbox and the rest of the host: it refuses references to invoices
//! that are not in the case, times before the decision or absurdly far
//! after it, and values no accountant would accept. It reports every
//! problem at once, each with the action and field at fault, so a strategy
//! author can fix them in one go. Host policy (quiet hours, caps) is not
//! checked here: that is the guardrails' job, which *moves or suppresses*
//! valid actions rather than refusing the plan.

use std::collections::HashSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::case::{Case, Channel, Tone};

/// A reminder to send.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reminder {
    pub channel: Channel,
    pub tone: Tone,
    pub invoice_ids: Vec<String>,
    pub send_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// A payment plan offer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentPlan {
    pub invoice_ids: Vec<String>,
    pub installments: u8,
    pub every_days: u16,
    pub first_due_on: NaiveDate,
}

/// An early-payment discount offer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Discount {
    pub invoice_ids: Vec<String>,
    pub percent_bp: u16,
    pub until: NaiveDate,
}

/// More time: no contact until a date.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deferral {
    pub invoice_ids: Vec<String>,
    pub until: NaiveDate,
    pub reason: String,
}

/// The kinds of charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeeKind {
    LateFee,
    Interest,
    CollectionCost,
}

/// A fee charged on one invoice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fee {
    pub invoice_id: String,
    /// `fee` in JSON: `kind` names the action.
    #[serde(rename = "fee")]
    pub kind: FeeKind,
    /// Minor units of the invoice's currency.
    pub amount: i64,
    pub reason: String,
}

/// Who receives an escalation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EscalationTarget {
    CollectionAgency,
    Legal,
    InternalTeam,
}

/// A hand-over to collection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    pub target: EscalationTarget,
    pub invoice_ids: Vec<String>,
    pub note: String,
}

/// A write-off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteOff {
    pub invoice_ids: Vec<String>,
    pub reason: String,
}

/// The kinds of human task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskKind {
    CallDebtor,
    ReviewAccount,
    Other,
}

/// Work for a human.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub kind: TaskKind,
    pub description: String,
    pub invoice_ids: Vec<String>,
    pub due_at: DateTime<Utc>,
}

/// One thing a strategy wants done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Action {
    Remind(Reminder),
    OfferPlan(PaymentPlan),
    OfferDiscount(Discount),
    Defer(Deferral),
    ChargeFee(Fee),
    Escalate(Escalation),
    WriteOff(WriteOff),
    CreateTask(Task),
}

impl Action {
    /// The action's kind as it appears in JSON, e.g. "remind".
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Remind(_) => "remind",
            Action::OfferPlan(_) => "offer-plan",
            Action::OfferDiscount(_) => "offer-discount",
            Action::Defer(_) => "defer",
            Action::ChargeFee(_) => "charge-fee",
            Action::Escalate(_) => "escalate",
            Action::WriteOff(_) => "write-off",
            Action::CreateTask(_) => "create-task",
        }
    }

    /// The invoices the action is about.
    pub fn invoice_ids(&self) -> &[String] {
        match self {
            Action::Remind(r) => &r.invoice_ids,
            Action::OfferPlan(p) => &p.invoice_ids,
            Action::OfferDiscount(d) => &d.invoice_ids,
            Action::Defer(d) => &d.invoice_ids,
            Action::ChargeFee(f) => std::slice::from_ref(&f.invoice_id),
            Action::Escalate(e) => &e.invoice_ids,
            Action::WriteOff(w) => &w.invoice_ids,
            Action::CreateTask(t) => &t.invoice_ids,
        }
    }
}

/// A strategy's answer for one case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub actions: Vec<Action>,
    #[serde(default)]
    pub review_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub note: String,
}

/// Bounds a plan must stay within; set per plugin by the runtime's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanLimits {
    /// At most this many actions in one plan.
    pub max_actions: usize,
    /// At most this many bytes in any one text field (note, reason, ...).
    pub max_text_bytes: usize,
    /// Nothing may be scheduled further than this many days after `now`.
    pub horizon_days: i64,
}

impl Default for PlanLimits {
    fn default() -> Self {
        PlanLimits {
            max_actions: 200,
            max_text_bytes: 4_096,
            horizon_days: 400,
        }
    }
}

/// One reason a plan was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanProblem {
    /// Index of the action at fault; `None` for the plan itself.
    pub action: Option<usize>,
    /// The field at fault, e.g. "send_at" or "invoice_ids[1]".
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.action {
            Some(i) => write!(f, "actions[{i}].{}: {}", self.field, self.message),
            None => write!(f, "{}: {}", self.field, self.message),
        }
    }
}

/// Accumulates problems while walking a plan.
struct Checker<'a> {
    case: &'a Case,
    limits: &'a PlanLimits,
    known_ids: HashSet<&'a str>,
    today: NaiveDate,
    problems: Vec<PlanProblem>,
    action: Option<usize>,
}

impl Checker<'_> {
    fn fail(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(PlanProblem {
            action: self.action,
            field: field.into(),
            message: message.into(),
        });
    }

    fn text(&mut self, field: &str, value: &str, required: bool) {
        if required && value.trim().is_empty() {
            self.fail(field, "must not be empty");
        }
        if value.len() > self.limits.max_text_bytes {
            self.fail(
                field,
                format!(
                    "is {} bytes; at most {} allowed",
                    value.len(),
                    self.limits.max_text_bytes
                ),
            );
        }
    }

    fn invoice_ids(&mut self, ids: &[String]) {
        if ids.is_empty() {
            self.fail("invoice_ids", "must name at least one invoice");
        }
        let mut seen = HashSet::new();
        for (i, id) in ids.iter().enumerate() {
            if !self.known_ids.contains(id.as_str()) {
                self.fail(
                    format!("invoice_ids[{i}]"),
                    format!("unknown invoice id {id:?}"),
                );
            } else if !seen.insert(id) {
                self.fail(
                    format!("invoice_ids[{i}]"),
                    format!("invoice {id:?} named twice"),
                );
            }
        }
    }

    fn instant(&mut self, field: &str, at: DateTime<Utc>) {
        // The contract counts whole seconds: "now" in the guest is the
        // case's instant without its fraction.
        if at
            < chrono::DurationRound::duration_trunc(self.case.now, Duration::seconds(1))
                .unwrap_or(self.case.now)
        {
            self.fail(
                field,
                format!("{at} is before the decision time {}", self.case.now),
            );
        } else if at > self.case.now + Duration::days(self.limits.horizon_days) {
            self.fail(
                field,
                format!("{at} is more than {} days ahead", self.limits.horizon_days),
            );
        }
    }

    fn date(&mut self, field: &str, on: NaiveDate, allow_today: bool) {
        let earliest = if allow_today {
            self.today
        } else {
            self.today + Duration::days(1)
        };
        if on < earliest {
            self.fail(
                field,
                format!("{on} is in the past (today is {})", self.today),
            );
        } else if on > self.today + Duration::days(self.limits.horizon_days) {
            self.fail(
                field,
                format!("{on} is more than {} days ahead", self.limits.horizon_days),
            );
        }
    }

    fn action(&mut self, action: &Action) {
        match action {
            Action::Remind(r) => {
                self.invoice_ids(&r.invoice_ids);
                self.instant("send_at", r.send_at);
                if let Some(t) = &r.template
                    && (t.is_empty()
                        || t.len() > 64
                        || !t
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                {
                    self.fail("template", "must be 1-64 characters of [A-Za-z0-9_-]");
                }
            }
            Action::OfferPlan(p) => {
                self.invoice_ids(&p.invoice_ids);
                if !(2..=60).contains(&p.installments) {
                    self.fail(
                        "installments",
                        format!("{} is not within 2..=60", p.installments),
                    );
                }
                if !(1..=366).contains(&p.every_days) {
                    self.fail(
                        "every_days",
                        format!("{} is not within 1..=366", p.every_days),
                    );
                }
                self.date("first_due_on", p.first_due_on, true);
            }
            Action::OfferDiscount(d) => {
                self.invoice_ids(&d.invoice_ids);
                if !(1..=10_000).contains(&d.percent_bp) {
                    self.fail(
                        "percent_bp",
                        format!("{} is not within 1..=10000", d.percent_bp),
                    );
                }
                self.date("until", d.until, true);
            }
            Action::Defer(d) => {
                self.invoice_ids(&d.invoice_ids);
                self.date("until", d.until, false);
                self.text("reason", &d.reason, true);
            }
            Action::ChargeFee(f) => {
                self.invoice_ids(std::slice::from_ref(&f.invoice_id));
                if let Some(invoice) = self.case.invoices.iter().find(|i| i.id == f.invoice_id) {
                    if f.amount <= 0 {
                        self.fail("amount", "must be positive");
                    } else if f.amount > invoice.amount {
                        self.fail(
                            "amount",
                            format!("{} exceeds the invoice amount {}", f.amount, invoice.amount),
                        );
                    }
                }
                self.text("reason", &f.reason, true);
            }
            Action::Escalate(e) => {
                self.invoice_ids(&e.invoice_ids);
                self.text("note", &e.note, false);
            }
            Action::WriteOff(w) => {
                self.invoice_ids(&w.invoice_ids);
                self.text("reason", &w.reason, true);
            }
            Action::CreateTask(t) => {
                if !t.invoice_ids.is_empty() {
                    self.invoice_ids(&t.invoice_ids);
                }
                self.text("description", &t.description, true);
                self.instant("due_at", t.due_at);
            }
        }
    }
}

impl Plan {
    /// Check the plan against the case it answers. Returns every problem.
    pub fn validate(&self, case: &Case, limits: &PlanLimits) -> Result<(), Vec<PlanProblem>> {
        let mut checker = Checker {
            case,
            limits,
            known_ids: case.invoices.iter().map(|i| i.id.as_str()).collect(),
            today: case.today(),
            problems: Vec::new(),
            action: None,
        };
        if self.actions.len() > limits.max_actions {
            checker.fail(
                "actions",
                format!(
                    "{} actions; at most {} allowed",
                    self.actions.len(),
                    limits.max_actions
                ),
            );
            return Err(checker.problems);
        }
        checker.text("note", &self.note, false);
        if let Some(at) = self.review_at {
            checker.instant("review_at", at);
        }
        for (i, action) in self.actions.iter().enumerate() {
            checker.action = Some(i);
            checker.action(action);
        }
        if checker.problems.is_empty() {
            Ok(())
        } else {
            Err(checker.problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{Debtor, History, Invoice, InvoiceStatus, Terms};

    fn case() -> Case {
        let invoice = |id: &str| Invoice {
            id: id.into(),
            number: id.to_uppercase(),
            currency: "EUR".into(),
            amount: 100_00,
            open_amount: 100_00,
            fees_charged: 0,
            issued_on: NaiveDate::from_ymd_opt(2026, 4, 1).unwrap(),
            due_on: NaiveDate::from_ymd_opt(2026, 5, 1).unwrap(),
            status: InvoiceStatus::Open,
            promised_on: None,
            terms: Terms::default(),
        };
        Case {
            now: "2026-05-20T10:00:00Z".parse().unwrap(),
            debtor: Debtor {
                id: "d".into(),
                name: "D".into(),
                segment: "default".into(),
                tags: vec![],
                time_zone: "Europe/Berlin".into(),
                language: "en".into(),
                channels: vec![Channel::Email],
                history: History::default(),
            },
            invoices: vec![invoice("a"), invoice("b")],
            contacts: vec![],
            config: serde_json::json!({}),
        }
    }

    fn remind(ids: &[&str], send_at: &str) -> Action {
        Action::Remind(Reminder {
            channel: Channel::Email,
            tone: Tone::Gentle,
            invoice_ids: ids.iter().map(|s| s.to_string()).collect(),
            send_at: send_at.parse().unwrap(),
            template: None,
        })
    }

    fn problems(plan: Plan) -> Vec<String> {
        match plan.validate(&case(), &PlanLimits::default()) {
            Ok(()) => vec![],
            Err(p) => p.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_sound_plan_passes() {
        let plan = Plan {
            actions: vec![remind(&["a", "b"], "2026-05-20T10:00:00Z")],
            review_at: Some("2026-05-27T07:00:00Z".parse().unwrap()),
            note: "ok".into(),
        };
        assert_eq!(problems(plan), Vec::<String>::new());
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let plan = Plan {
            actions: vec![
                remind(&["a", "zzz", "a"], "2026-05-19T10:00:00Z"),
                Action::ChargeFee(Fee {
                    invoice_id: "b".into(),
                    kind: FeeKind::LateFee,
                    amount: 1_000_000,
                    reason: "".into(),
                }),
                Action::OfferPlan(PaymentPlan {
                    invoice_ids: vec!["a".into()],
                    installments: 1,
                    every_days: 30,
                    first_due_on: NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(),
                }),
            ],
            review_at: Some("2026-05-01T00:00:00Z".parse().unwrap()),
            note: String::new(),
        };
        assert_eq!(
            problems(plan),
            vec![
                "review_at: 2026-05-01 00:00:00 UTC is before the decision time 2026-05-20 10:00:00 UTC",
                "actions[0].invoice_ids[1]: unknown invoice id \"zzz\"",
                "actions[0].invoice_ids[2]: invoice \"a\" named twice",
                "actions[0].send_at: 2026-05-19 10:00:00 UTC is before the decision time 2026-05-20 10:00:00 UTC",
                "actions[1].amount: 1000000 exceeds the invoice amount 10000",
                "actions[1].reason: must not be empty",
                "actions[2].installments: 1 is not within 2..=60",
                "actions[2].first_due_on: 2030-01-01 is more than 400 days ahead",
            ]
        );
    }

    #[test]
    fn too_many_actions_is_refused_before_anything_else() {
        let plan = Plan {
            actions: vec![remind(&["nope"], "2020-01-01T00:00:00Z"); 201],
            review_at: None,
            note: String::new(),
        };
        assert_eq!(
            problems(plan),
            vec!["actions: 201 actions; at most 200 allowed"]
        );
    }

    #[test]
    fn plans_read_as_tagged_json() {
        let json = serde_json::to_value(remind(&["a"], "2026-05-20T10:00:00Z")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "remind", "channel": "email", "tone": "gentle",
                "invoice_ids": ["a"], "send_at": "2026-05-20T10:00:00Z"})
        );
    }
}
