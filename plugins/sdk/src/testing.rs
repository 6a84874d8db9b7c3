//! Build realistic cases in a strategy's native unit tests.
//!
//! ```
//! use dun_strategy::{testing::CaseBuilder, Channel, Date, Tone};
//! let case = CaseBuilder::new(Date::new(2026, 5, 20))
//!     .invoice("inv-1", 120_00, 8)                       // 8 days overdue
//!     .contact(2, Channel::Email, Tone::Gentle, &["inv-1"]) // reminded 2 days ago
//!     .build();
//! assert_eq!(case.invoices[0].due_on, Date::new(2026, 5, 12));
//! ```

use crate::prelude::*;
use crate::{
    Case, Channel, Contact, ContactOutcome, DAY, Date, Debtor, HOUR, History, Invoice,
    InvoiceStatus, Terms, Tone,
};

/// A [`Case`] under construction. Defaults: the debtor "Acme Ltd" in UTC,
/// English, reachable on every channel, with no payment history; `now` is
/// 10:00 UTC on the given day; config `{}`.
#[derive(Clone, Debug)]
pub struct CaseBuilder {
    case: Case,
    today: Date,
}

impl CaseBuilder {
    /// A case decided at 10:00 UTC on `today`.
    pub fn new(today: Date) -> CaseBuilder {
        let history = History {
            invoices_paid: 0,
            paid_on_time: 0,
            average_days_late: 0.0,
            last_payment_at: None,
            payments_by_hour: vec![0; 24],
            payments_by_weekday: vec![0; 7],
        };
        let debtor = Debtor {
            id: "debtor-1".into(),
            name: "Acme Ltd".into(),
            segment: "default".into(),
            tags: Vec::new(),
            time_zone: "UTC".into(),
            language: "en".into(),
            channels: vec![Channel::Email, Channel::Sms, Channel::Call, Channel::Letter],
            history,
        };
        CaseBuilder {
            case: Case {
                now: today.midnight_utc() + 10 * HOUR,
                debtor,
                invoices: Vec::new(),
                contacts: Vec::new(),
                config: "{}".into(),
            },
            today,
        }
    }

    /// An open EUR invoice of `amount` minor units, `days_overdue` days past
    /// its due date (negative: not yet due), issued 30 days before it was due.
    pub fn invoice(mut self, id: &str, amount: i64, days_overdue: i32) -> CaseBuilder {
        let due_on = self.today.add_days(-i64::from(days_overdue));
        self.case.invoices.push(Invoice {
            id: id.into(),
            number: format!("INV-{id}"),
            currency: "EUR".into(),
            amount,
            open_amount: amount,
            fees_charged: 0,
            issued_on: due_on.add_days(-30),
            due_on,
            days_overdue,
            status: InvoiceStatus::Open,
            promised_on: None,
            terms: Terms {
                late_fee: 0,
                interest_bp_per_year: 0,
                grace_days: 0,
            },
        });
        self
    }

    /// Change the invoice added last.
    pub fn with_last_invoice(mut self, change: impl FnOnce(&mut Invoice)) -> CaseBuilder {
        if let Some(invoice) = self.case.invoices.last_mut() {
            change(invoice);
        }
        self
    }

    /// A contact that went out `days_ago` days before `now`.
    pub fn contact(
        mut self,
        days_ago: i64,
        channel: Channel,
        tone: Tone,
        invoice_ids: &[&str],
    ) -> CaseBuilder {
        self.case.contacts.push(Contact {
            at: self.case.now - days_ago * DAY,
            channel,
            tone,
            invoice_ids: invoice_ids.iter().map(|s| s.to_string()).collect(),
            template: None,
            outcome: ContactOutcome::Sent,
        });
        self.case.contacts.sort_by_key(|c| core::cmp::Reverse(c.at));
        self
    }

    /// Set the debtor's IANA time zone. `now` stays the same instant.
    pub fn zone(mut self, time_zone: &str) -> CaseBuilder {
        self.case.debtor.time_zone = time_zone.into();
        self
    }

    /// Set the channels the debtor can be reached on.
    pub fn channels(mut self, channels: &[Channel]) -> CaseBuilder {
        self.case.debtor.channels = channels.to_vec();
        self
    }

    /// Change the debtor (history, tags, ...).
    pub fn with_debtor(mut self, change: impl FnOnce(&mut Debtor)) -> CaseBuilder {
        change(&mut self.case.debtor);
        self
    }

    /// Set the segment's JSON config.
    pub fn config(mut self, json: &str) -> CaseBuilder {
        self.case.config = json.into();
        self
    }

    /// Move `now` to another instant (same day or not: invoice ages are not
    /// recomputed).
    pub fn now(mut self, now: i64) -> CaseBuilder {
        self.case.now = now;
        self
    }

    /// The finished case.
    pub fn build(self) -> Case {
        self.case
    }
}
