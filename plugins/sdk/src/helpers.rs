//! Builders and queries over the contract's types, so a strategy reads as
//! policy rather than plumbing.

use crate::prelude::*;
use crate::{
    Action, Case, Channel, Contact, ContactOutcome, Date, Deferral, Discount, Escalation,
    EscalationTarget, Fee, FeeKind, History, Info, Invoice, InvoiceStatus, PaymentPlan, Plan,
    Reminder, Task, TaskKind, Timestamp, Tone, WriteOff,
};

fn ids<I, S>(invoice_ids: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    invoice_ids.into_iter().map(Into::into).collect()
}

impl Info {
    /// Describe a strategy that reads no config.
    pub fn new(name: &str, version: &str, description: &str) -> Info {
        Info {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            config_schema: None,
        }
    }

    /// Declare the JSON Schema that segment configs must satisfy.
    pub fn with_config_schema(mut self, schema: &str) -> Info {
        self.config_schema = Some(schema.into());
        self
    }
}

impl Tone {
    /// The tone's name as in the contract, e.g. "firm".
    pub fn label(self) -> &'static str {
        match self {
            Tone::Courtesy => "courtesy",
            Tone::Gentle => "gentle",
            Tone::Firm => "firm",
            Tone::Final => "final",
        }
    }

    /// Position on the ladder: courtesy 0, gentle 1, firm 2, final 3.
    pub fn rank(self) -> u8 {
        match self {
            Tone::Courtesy => 0,
            Tone::Gentle => 1,
            Tone::Firm => 2,
            Tone::Final => 3,
        }
    }
}

impl Channel {
    /// The channel's name as in the contract, e.g. "sms".
    pub fn label(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Call => "call",
            Channel::Letter => "letter",
        }
    }
}

impl Action {
    /// A reminder about `invoice_ids` over `channel` in `tone`, sent at `send_at`.
    pub fn remind<I, S>(channel: Channel, tone: Tone, invoice_ids: I, send_at: Timestamp) -> Action
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Action::Remind(Reminder {
            channel,
            tone,
            invoice_ids: ids(invoice_ids),
            send_at,
            template: None,
        })
    }

    /// A payment plan of `installments` payments, `every_days` apart, the
    /// first due on `first_due_on`.
    pub fn offer_plan<I, S>(
        invoice_ids: I,
        installments: u8,
        every_days: u16,
        first_due_on: Date,
    ) -> Action
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Action::OfferPlan(PaymentPlan {
            invoice_ids: ids(invoice_ids),
            installments,
            every_days,
            first_due_on,
        })
    }

    /// A discount of `percent_bp` basis points if paid by `until`.
    pub fn offer_discount<I, S>(invoice_ids: I, percent_bp: u16, until: Date) -> Action
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Action::OfferDiscount(Discount {
            invoice_ids: ids(invoice_ids),
            percent_bp,
            until,
        })
    }

    /// No contact about `invoice_ids` until `until`.
    pub fn defer<I, S>(invoice_ids: I, until: Date, reason: &str) -> Action
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Action::Defer(Deferral {
            invoice_ids: ids(invoice_ids),
            until,
            reason: reason.into(),
        })
    }

    /// Charge `amount` (minor units) on one invoice.
    pub fn charge_fee(invoice_id: &str, kind: FeeKind, amount: i64, reason: &str) -> Action {
        Action::ChargeFee(Fee {
            invoice_id: invoice_id.into(),
            kind,
            amount,
            reason: reason.into(),
        })
    }

    /// Hand `invoice_ids` over to `target`.
    pub fn escalate<I, S>(target: EscalationTarget, invoice_ids: I, note: &str) -> Action
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Action::Escalate(Escalation {
            target,
            invoice_ids: ids(invoice_ids),
            note: note.into(),
        })
    }

    /// Write `invoice_ids` off.
    pub fn write_off<I, S>(invoice_ids: I, reason: &str) -> Action
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Action::WriteOff(WriteOff {
            invoice_ids: ids(invoice_ids),
            reason: reason.into(),
        })
    }

    /// A task for a human, due at `due_at`.
    pub fn task<I, S>(
        kind: TaskKind,
        description: &str,
        invoice_ids: I,
        due_at: Timestamp,
    ) -> Action
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Action::CreateTask(Task {
            kind,
            description: description.into(),
            invoice_ids: ids(invoice_ids),
            due_at,
        })
    }

    /// The invoices this action is about.
    pub fn invoice_ids(&self) -> Vec<&str> {
        let list = match self {
            Action::Remind(r) => &r.invoice_ids,
            Action::OfferPlan(p) => &p.invoice_ids,
            Action::OfferDiscount(d) => &d.invoice_ids,
            Action::Defer(d) => &d.invoice_ids,
            Action::ChargeFee(f) => return vec![f.invoice_id.as_str()],
            Action::Escalate(e) => &e.invoice_ids,
            Action::WriteOff(w) => &w.invoice_ids,
            Action::CreateTask(t) => &t.invoice_ids,
        };
        list.iter().map(String::as_str).collect()
    }
}

impl Reminder {
    /// Use the tenant's template `name` instead of the default one.
    pub fn with_template(mut self, name: &str) -> Reminder {
        self.template = Some(name.into());
        self
    }
}

impl Plan {
    /// A plan with these actions, no review time and no note.
    pub fn new(actions: Vec<Action>) -> Plan {
        Plan {
            actions,
            review_at: None,
            note: String::new(),
        }
    }

    /// A plan that does nothing now, with a note saying why.
    pub fn nothing(note: &str) -> Plan {
        Plan::new(Vec::new()).with_note(note)
    }

    /// Ask to be called again at `at` (keeps the earlier time when called twice).
    pub fn review_at(mut self, at: Timestamp) -> Plan {
        self.review_at = Some(self.review_at.map_or(at, |t| t.min(at)));
        self
    }

    /// Set the note recorded with the evaluation.
    pub fn with_note(mut self, note: &str) -> Plan {
        self.note = note.into();
        self
    }

    /// Append an action.
    pub fn push(&mut self, action: Action) {
        self.actions.push(action);
    }

    /// The reminders among the actions, in order.
    pub fn reminders(&self) -> impl Iterator<Item = &Reminder> {
        self.actions.iter().filter_map(|a| match a {
            Action::Remind(r) => Some(r),
            _ => None,
        })
    }
}

impl History {
    /// The local hour (0-23) in which this debtor most often paid, counting
    /// the neighbouring hours at half weight so one stray payment does not
    /// decide; ties go to the earlier hour. `None` without any payment.
    pub fn best_hour(&self) -> Option<u8> {
        self.best_hour_between(0, 23)
    }

    /// Like [`History::best_hour`] but only hours `from..=to` qualify, e.g.
    /// `8..=20` for a channel with quiet hours.
    pub fn best_hour_between(&self, from: u8, to: u8) -> Option<u8> {
        let count = |h: i32| -> u64 {
            usize::try_from(h)
                .ok()
                .and_then(|h| self.payments_by_hour.get(h))
                .map_or(0, |&c| u64::from(c))
        };
        let mut best: Option<(u64, u8)> = None;
        for hour in from..=to.min(23) {
            let h = i32::from(hour);
            let score = 2 * count(h) + count(h - 1) + count(h + 1);
            if score > 0 && best.is_none_or(|(s, _)| score > s) {
                best = Some((score, hour));
            }
        }
        best.map(|(_, hour)| hour)
    }

    /// Share of paid invoices that were paid on time, `None` before any.
    pub fn on_time_share(&self) -> Option<f32> {
        (self.invoices_paid > 0).then(|| self.paid_on_time as f32 / self.invoices_paid as f32)
    }
}

impl Invoice {
    /// Past its due date.
    pub fn is_overdue(&self) -> bool {
        self.days_overdue > 0
    }

    /// Still to be chased: not disputed, not in a plan or in collection, and
    /// not under a promise that has yet to fall due on `today`.
    pub fn is_actionable(&self, today: Date) -> bool {
        match self.status {
            InvoiceStatus::Open | InvoiceStatus::PartiallyPaid => true,
            InvoiceStatus::Promised => self.promised_on.is_none_or(|d| d < today),
            InvoiceStatus::Disputed | InvoiceStatus::InPlan | InvoiceStatus::InCollection => false,
        }
    }
}

impl Contact {
    /// The contact reached (or may have reached) the debtor.
    pub fn went_out(&self) -> bool {
        !matches!(
            self.outcome,
            ContactOutcome::Suppressed | ContactOutcome::Failed
        )
    }
}

impl Case {
    /// The invoice with this id.
    pub fn invoice(&self, id: &str) -> Option<&Invoice> {
        self.invoices.iter().find(|i| i.id == id)
    }

    /// Today's date in the debtor's zone.
    pub fn today(&self) -> Date {
        crate::local_date(self.now, &self.debtor.time_zone)
    }

    /// The debtor can be reached on `channel`.
    pub fn can_use(&self, channel: Channel) -> bool {
        self.debtor.channels.contains(&channel)
    }

    /// Some contact about `invoice_id` in `tone` or a sterner one went out.
    pub fn was_contacted(&self, invoice_id: &str, tone: Tone) -> bool {
        self.sternest_tone(invoice_id)
            .is_some_and(|t| t.rank() >= tone.rank())
    }

    /// The sternest tone of any contact about `invoice_id` that went out.
    pub fn sternest_tone(&self, invoice_id: &str) -> Option<Tone> {
        self.contacts
            .iter()
            .filter(|c| c.went_out() && c.invoice_ids.iter().any(|i| i == invoice_id))
            .map(|c| c.tone)
            .max_by_key(|t| t.rank())
    }

    /// Total still owed in `currency`, minor units.
    pub fn total_open(&self, currency: &str) -> i64 {
        self.invoices
            .iter()
            .filter(|i| i.currency == currency)
            .map(|i| i.open_amount)
            .sum()
    }

    /// Parse the segment's JSON config, which must be an object; an empty
    /// config reads as `{}`. (serde would otherwise read an array into a
    /// struct field by field.)
    #[cfg(feature = "config")]
    pub fn config<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        let text = if self.config.trim().is_empty() {
            "{}"
        } else {
            &self.config
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("invalid config: {e}"))?;
        if !value.is_object() {
            return Err("invalid config: must be a JSON object".into());
        }
        serde_json::from_value(value).map_err(|e| format!("invalid config: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(by_hour: &[(usize, u32)]) -> History {
        let mut payments_by_hour = vec![0; 24];
        for &(h, n) in by_hour {
            payments_by_hour[h] = n;
        }
        History {
            invoices_paid: 0,
            paid_on_time: 0,
            average_days_late: 0.0,
            last_payment_at: None,
            payments_by_hour,
            payments_by_weekday: vec![0; 7],
        }
    }

    #[test]
    fn best_hour_weighs_neighbours_and_respects_window() {
        assert_eq!(history(&[]).best_hour(), None);
        // A lone payment at 3 loses to a cluster around 14.
        assert_eq!(
            history(&[(3, 2), (13, 1), (14, 2), (15, 1)]).best_hour(),
            Some(14)
        );
        assert_eq!(history(&[(3, 5)]).best_hour_between(8, 20), None);
        assert_eq!(history(&[(7, 5), (9, 1)]).best_hour_between(8, 20), Some(8));
    }

    #[cfg(feature = "config")]
    #[test]
    fn config_must_be_an_object() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Config {
            a: u32,
        }
        let with = |json: &str| {
            crate::testing::CaseBuilder::new(Date::new(2026, 1, 1))
                .config(json)
                .build()
                .config::<Config>()
        };
        assert_eq!(with(r#"{"a": 7}"#), Ok(Config { a: 7 }));
        assert_eq!(
            with("[7]"),
            Err("invalid config: must be a JSON object".into())
        );
        assert!(
            with(r#"{"a": "x"}"#).is_err_and(|e| e.starts_with("invalid config: invalid type"))
        );
    }

    #[test]
    fn review_at_keeps_the_earliest() {
        let plan = Plan::nothing("x").review_at(50).review_at(20).review_at(30);
        assert_eq!(plan.review_at, Some(20));
    }
}
