//! One debtor's replay: their invoices arrive and are settled on the days
//! the data says, the scheduler wakes them and asks the strategy, the
//! guardrails judge each planned action, the outbox keeps and replaces
//! reminders, the dispatcher sends them at their time. In memory, in the
//! store's and engine's terms; each step names the host code it mirrors.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};

use super::{Entry, Fault, Options, Period, Strategy};
use crate::case::{self, Case, Contact, ContactOutcome, History, Invoice, InvoiceStatus, Terms};
use crate::guardrails::{DebtorFacts, InvoiceFacts, local_instant};
use crate::import::Row;
use crate::plan::{Action, FeeKind, Reminder};
use crate::runtime::{PluginError, Runtime};
use crate::store::evaluations::next_review;

/// Faults kept with their log per debtor (all are counted).
const FAULTS_KEPT: usize = 3;

/// What every debtor's replay shares.
pub(super) struct Setup<'a> {
    runtime: &'a Runtime,
    strategy: &'a Strategy,
    options: &'a Options,
    period: Period,
    /// 12:00 local on the first day: the history before it is known then,
    /// as if imported, and debtors who owe are first decided about.
    start: DateTime<Utc>,
    /// 00:00 local after the last day: nothing happens from here on.
    end: DateTime<Utc>,
}

impl<'a> Setup<'a> {
    pub(super) fn new(
        runtime: &'a Runtime,
        strategy: &'a Strategy,
        options: &'a Options,
        period: Period,
    ) -> Self {
        let zone = options.time_zone;
        Setup {
            runtime,
            strategy,
            options,
            period,
            start: local_instant(zone, period.from, EVENT_HOUR),
            end: local_instant(zone, period.to + chrono::Duration::days(1), 0),
        }
    }

    /// When the data's events of `date` happen.
    fn event_time(&self, date: NaiveDate) -> DateTime<Utc> {
        local_instant(self.options.time_zone, date, EVENT_HOUR)
    }

    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.options.time_zone).date_naive()
    }
}

/// The local hour at which the data's dated events (an invoice issued, a
/// settlement) happen: the data has days, not times.
pub(super) const EVENT_HOUR: u32 = 12;

/// What one debtor's replay produced.
#[derive(Debug, Default)]
pub(super) struct DebtorRun {
    pub entries: Vec<Entry>,
    pub decisions: u64,
    pub fuel: u64,
    /// Time in the sandbox, decisions that produced a plan.
    pub sandbox: Duration,
    /// Planned actions by the guardrails' verdict (`kept`, `moved`, `suppressed`).
    pub verdicts: BTreeMap<&'static str, u64>,
    /// How often each rule moved or suppressed an action: (verdict, rule).
    pub rules: BTreeMap<(&'static str, String), u64>,
    /// The first few faults, with their logs.
    pub faults: Vec<Fault>,
}

/// An invoice of the debtor and where it stands in the replay.
struct Held<'a> {
    row: &'a Row,
    arrived: bool,
    settled: bool,
    in_collection: bool,
    /// Fees charged, minor units; and each charge's kind and time.
    fees: i64,
    charges: Vec<(FeeKind, DateTime<Utc>)>,
    deferred_until: Option<NaiveDate>,
}

impl Held<'_> {
    /// Not paid: a status other than paid, void or written off.
    fn owed(&self) -> bool {
        self.arrived && !self.settled
    }

    /// The file says an invoice was disputed, not when: it is disputed
    /// until it is settled, as importing the file as it stood on any day
    /// before the settlement shows it (`import::import`).
    fn status(&self) -> InvoiceStatus {
        // The precedence of `invoices::refresh_status`.
        if self.in_collection {
            InvoiceStatus::InCollection
        } else if self.row.disputed {
            InvoiceStatus::Disputed
        } else {
            InvoiceStatus::Open
        }
    }

    /// Reminders may still name it (`InvoiceStatus::is_chased`).
    fn chased(&self) -> bool {
        self.owed() && self.status() == InvoiceStatus::Open
    }

    fn open_amount(&self) -> i64 {
        if self.owed() {
            self.row.amount + self.fees
        } else {
            0
        }
    }
}

/// A reminder in the outbox, waiting for its time.
struct Scheduled {
    reminder: Reminder,
    planned_at: DateTime<Utc>,
    decided_at: DateTime<Utc>,
}

struct Replay<'s, 'a> {
    setup: &'s Setup<'a>,
    debtor: &'a str,
    /// In the order they arrive (the store's row order).
    invoices: Vec<Held<'a>>,
    outbox: Vec<Scheduled>,
    /// Messages sent, oldest first: the case's contacts.
    contacts: Vec<Contact>,
    /// `debtors.review_at`: when the scheduler decides next, if ever.
    review_at: Option<DateTime<Utc>>,
    /// `debtors.evaluated_at`: only what happens after it wakes the debtor.
    evaluated_at: Option<DateTime<Utc>>,
    /// Faults in a row.
    failures: u32,
    /// The open offer of each kind: (invoice ids, terms, valid until).
    offers: BTreeMap<&'static str, String>,
    run: DebtorRun,
}

/// One of the data's dated events: an invoice arrives or is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Event {
    at: DateTime<Utc>,
    /// At the same instant an invoice arrives before it is settled.
    settles: bool,
    invoice: usize,
}

/// Replays one debtor over the period. `rows` are their invoices issued
/// up to its last day.
pub(super) fn replay(setup: &Setup, debtor: &str, rows: &[&Row]) -> DebtorRun {
    let (mut replay, events) = Replay::new(setup, debtor, rows);
    let mut events = events.into_iter().peekable();
    loop {
        let next = [
            events.peek().map(|e| e.at),
            replay.outbox.iter().map(|m| m.reminder.send_at).min(),
            replay.review_at,
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(now) = next.filter(|t| *t < setup.end) else {
            break;
        };
        while let Some(event) = events.next_if(|e| e.at == now) {
            replay.happen(event);
        }
        replay.dispatch_due(now);
        if replay.review_at.is_some_and(|at| at <= now) {
            // `due_for_review` needs an owed invoice; `forget_settled`
            // drops the others until something happens to them.
            if replay.owes() {
                replay.decide(now);
            } else {
                replay.review_at = None;
            }
        }
    }
    replay.finish()
}

impl<'s, 'a> Replay<'s, 'a> {
    /// The debtor as the period starts (what happened before it is
    /// history), and the events of the period in time order.
    fn new(setup: &'s Setup<'a>, debtor: &'a str, rows: &[&'a Row]) -> (Self, Vec<Event>) {
        let mut rows = rows.to_vec();
        rows.sort_by_key(|r| (r.issued_on, r.line));
        let (from, to) = (setup.period.from, setup.period.to);
        let invoices: Vec<Held> = rows
            .iter()
            .map(|row| Held {
                row,
                arrived: row.issued_on < from,
                settled: row.issued_on < from && row.settled_on.is_some_and(|s| s < from),
                in_collection: false,
                fees: 0,
                charges: Vec::new(),
                deferred_until: None,
            })
            .collect();
        let mut events = Vec::new();
        for (i, held) in invoices.iter().enumerate() {
            let row = held.row;
            if row.issued_on >= from {
                events.push(Event {
                    at: setup.event_time(row.issued_on),
                    settles: false,
                    invoice: i,
                });
            }
            if let Some(settled) = row.settled_on
                && !held.settled
                && settled <= to
            {
                // Paid before it was issued (the data allows it): at arrival.
                let on = settled.max(row.issued_on).max(from);
                events.push(Event {
                    at: setup.event_time(on),
                    settles: true,
                    invoice: i,
                });
            }
        }
        events.sort();
        let mut replay = Replay {
            setup,
            debtor,
            invoices,
            outbox: Vec::new(),
            contacts: Vec::new(),
            review_at: None,
            evaluated_at: None,
            failures: 0,
            offers: BTreeMap::new(),
            run: DebtorRun::default(),
        };
        if replay.owes() {
            replay.review_at = Some(setup.start);
        }
        (replay, events)
    }

    fn happen(&mut self, event: Event) {
        if event.settles {
            self.settle(event.invoice, event.at);
        } else {
            self.arrive(event.invoice, event.at);
        }
    }
}

impl Replay<'_, '_> {
    fn owes(&self) -> bool {
        self.invoices.iter().any(Held::owed)
    }

    fn invoice(&self, id: &str) -> Option<&Held<'_>> {
        self.invoices.iter().find(|h| h.row.invoice_id == id)
    }

    /// An event wakes the debtor, unless their latest decision already saw
    /// it (the `events_wake_debtor` trigger).
    fn wake(&mut self, at: DateTime<Utc>) {
        if self.evaluated_at.is_none_or(|decided| at > decided) {
            self.review_at = Some(self.review_at.map_or(at, |r| r.min(at)));
        }
    }

    fn arrive(&mut self, i: usize, now: DateTime<Utc>) {
        self.invoices[i].arrived = true;
        self.wake(now);
    }

    /// A payment of the whole invoice: it is paid, and what was scheduled
    /// about paid invoices only is cancelled (`outbox::cancel_unneeded`).
    fn settle(&mut self, i: usize, now: DateTime<Utc>) {
        self.invoices[i].settled = true;
        self.cancel_unneeded(now);
        self.wake(now);
    }

    fn cancel_unneeded(&mut self, now: DateTime<Utc>) {
        let (unneeded, kept): (Vec<Scheduled>, Vec<Scheduled>) =
            std::mem::take(&mut self.outbox).into_iter().partition(|m| {
                !m.reminder
                    .invoice_ids
                    .iter()
                    .any(|id| self.invoice(id).is_some_and(Held::chased))
            });
        self.outbox = kept;
        for message in unneeded {
            let detail = "every invoice it names was settled, disputed or handed to collection before it was due";
            self.message_entry(&message, "cancelled", now, detail.into());
        }
    }

    /// Sends what is due at `now`, in the order it was due (the dispatcher).
    fn dispatch_due(&mut self, now: DateTime<Utc>) {
        loop {
            // The earliest; of those due at once, the first scheduled.
            let due = self
                .outbox
                .iter()
                .enumerate()
                .filter(|(_, m)| m.reminder.send_at <= now)
                .min_by_key(|(_, m)| m.reminder.send_at)
                .map(|(i, _)| i);
            let Some(i) = due else { return };
            let message = self.outbox.remove(i);
            self.send(message, now);
        }
    }

    /// The dispatcher's re-check, then the send: the message names the
    /// invoices still chased; with none left it is not sent.
    fn send(&mut self, message: Scheduled, now: DateTime<Utc>) {
        let chased: Vec<&Held> = message
            .reminder
            .invoice_ids
            .iter()
            .filter_map(|id| self.invoice(id))
            .filter(|h| h.chased())
            .collect();
        if chased.is_empty() {
            let detail = "nothing left to chase when it was due".to_owned();
            return self.message_entry(&message, "cancelled", now, detail);
        }
        let today = self.setup.local_date(now);
        let ids: Vec<String> = chased.iter().map(|h| h.row.invoice_id.clone()).collect();
        let paid: Vec<String> = chased
            .iter()
            .filter(|h| h.row.settled_on.is_some_and(|s| s <= today))
            .map(|h| h.row.invoice_id.clone())
            .collect();
        let (amount, currency) = total(&chased);
        let r = &message.reminder;
        self.contacts.push(Contact {
            at: now,
            channel: r.channel,
            tone: r.tone,
            invoice_ids: r.invoice_ids.clone(),
            template: r.template.clone(),
            outcome: ContactOutcome::Sent,
        });
        self.run.entries.push(Entry {
            at: now,
            local_date: today,
            debtor_id: self.debtor.to_owned(),
            kind: "remind",
            status: "sent",
            channel: Some(r.channel),
            tone: Some(r.tone),
            invoice_ids: ids,
            amount,
            currency,
            decided_at: message.decided_at,
            planned_at: Some(message.planned_at),
            scheduled_at: Some(r.send_at),
            paid_invoice_ids: paid,
            detail: String::new(),
        });
        // `message.sent` is an event: it wakes the debtor.
        self.wake(now);
    }

    fn message_entry(
        &mut self,
        message: &Scheduled,
        status: &'static str,
        at: DateTime<Utc>,
        detail: String,
    ) {
        let named: Vec<&Held> = message
            .reminder
            .invoice_ids
            .iter()
            .filter_map(|id| self.invoice(id))
            .collect();
        let (amount, currency) = total(&named);
        let r = &message.reminder;
        self.run.entries.push(Entry {
            at,
            local_date: self.setup.local_date(at),
            debtor_id: self.debtor.to_owned(),
            kind: "remind",
            status,
            channel: Some(r.channel),
            tone: Some(r.tone),
            invoice_ids: r.invoice_ids.clone(),
            amount,
            currency,
            decided_at: message.decided_at,
            planned_at: Some(message.planned_at),
            scheduled_at: Some(r.send_at),
            paid_invoice_ids: Vec::new(),
            detail,
        });
    }

    /// The case at `now`, as `store::cases::build` assembles it.
    fn case(&self, now: DateTime<Utc>) -> Case {
        let setup = self.setup;
        let mut owed: Vec<&Held> = self.invoices.iter().filter(|h| h.owed()).collect();
        // Oldest due first, then in the order they arrived (stable sort).
        owed.sort_by_key(|h| h.row.due_on);
        Case {
            now,
            debtor: case::Debtor {
                id: self.debtor.to_owned(),
                // `dun import` names a debtor by their id.
                name: self.debtor.to_owned(),
                segment: crate::segments::DEFAULT.to_owned(),
                tags: Vec::new(),
                time_zone: setup.options.time_zone.name().to_owned(),
                language: "en".into(),
                channels: setup.options.channels.clone(),
                history: self.history(),
            },
            invoices: owed
                .iter()
                .map(|h| Invoice {
                    id: h.row.invoice_id.clone(),
                    number: h.row.invoice_id.clone(),
                    currency: h.row.currency.code().to_owned(),
                    amount: h.row.amount,
                    open_amount: h.open_amount(),
                    fees_charged: h.fees,
                    issued_on: h.row.issued_on,
                    due_on: h.row.due_on,
                    status: h.status(),
                    promised_on: None,
                    terms: Terms::default(),
                })
                .collect(),
            contacts: self.contacts.clone(),
            config: setup.strategy.config.clone(),
        }
    }

    /// Payment behaviour from the invoices settled so far, each one payment
    /// known by its date (`store::cases::history`).
    fn history(&self) -> History {
        let mut history = History::default();
        let mut late_days: i64 = 0;
        let mut last: Option<NaiveDate> = None;
        for held in self.invoices.iter().filter(|h| h.arrived && h.settled) {
            let Some(paid_on) = held.row.settled_on else {
                continue;
            };
            history.invoices_paid += 1;
            let late = (paid_on - held.row.due_on).num_days();
            if late <= 0 {
                history.paid_on_time += 1;
            } else {
                late_days += late;
            }
            history.payments_by_weekday[paid_on.weekday().num_days_from_monday() as usize] += 1;
            last = last.max(Some(paid_on));
        }
        if history.invoices_paid > 0 {
            history.average_days_late = late_days as f32 / history.invoices_paid as f32;
        }
        // A date alone counts as its noon UTC.
        history.last_payment_at = last.map(|on| {
            on.and_time(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or(NaiveTime::MIN))
                .and_utc()
        });
        history
    }

    /// What the guardrails know (`engine::facts`): every channel of the
    /// options is reachable and none refused.
    fn facts(&self, case: &Case) -> DebtorFacts {
        DebtorFacts {
            time_zone: self.setup.options.time_zone,
            reachable: self.setup.options.channels.clone(),
            opted_out: Vec::new(),
            invoices: case
                .invoices
                .iter()
                .map(|i| InvoiceFacts {
                    id: i.id.clone(),
                    status: i.status.into(),
                    amount: i.amount,
                    fees: i.fees_charged,
                    promised_until: i.promised_on,
                    deferred_until: self.invoice(&i.id).and_then(|h| h.deferred_until),
                })
                .collect(),
            contacts: case.contacts.iter().map(|c| (c.at, c.channel)).collect(),
        }
    }

    /// One decision at `now`, recorded as `evaluations::record` does.
    fn decide(&mut self, now: DateTime<Utc>) {
        let setup = self.setup;
        let case = self.case(now);
        self.run.decisions += 1;
        let decided = setup
            .runtime
            .decide(&setup.strategy.plugin, &case, &setup.options.limits);
        self.evaluated_at = Some(now);
        let decision = match decided {
            Ok(decision) => decision,
            Err(fault) => return self.fault(fault, now),
        };
        self.failures = 0;
        self.run.fuel += decision.fuel_used;
        self.run.sandbox += decision.duration;
        let guarded =
            setup
                .options
                .policy
                .guard(self.facts(&case), case.today(), &decision.plan.actions);
        for g in &guarded {
            *self.run.verdicts.entry(g.verdict()).or_default() += 1;
            for reason in &g.reasons {
                let rule = serde_json::to_value(reason)
                    .ok()
                    .and_then(|v| v["rule"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                *self.run.rules.entry((g.verdict(), rule)).or_default() += 1;
            }
        }
        // The reminders it keeps replace what was scheduled...
        for message in std::mem::take(&mut self.outbox) {
            let detail = format!(
                "replaced by the decision at {}",
                now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            self.message_entry(&message, "replaced", now, detail);
        }
        for g in &guarded {
            if let (Action::Remind(planned), Some(Action::Remind(kept))) = (&g.planned, &g.kept) {
                self.outbox.push(Scheduled {
                    reminder: kept.clone(),
                    planned_at: planned.send_at,
                    decided_at: now,
                });
            }
        }
        // ...and its other actions change what they change.
        let mut escalated = false;
        for g in &guarded {
            match &g.kept {
                Some(Action::Remind(_)) | None => {}
                Some(action) => {
                    escalated |= matches!(action, Action::Escalate(_));
                    self.apply(action, g.verdict(), now);
                }
            }
        }
        if escalated {
            self.cancel_unneeded(now);
        }
        self.review_at = Some(next_review(now, decision.plan.review_at, 0));
    }

    fn fault(&mut self, fault: PluginError, now: DateTime<Utc>) {
        self.failures += 1;
        self.review_at = Some(next_review(now, None, self.failures));
        if let PluginError::OutOfFuel { used, .. } = fault {
            self.run.fuel += used;
        }
        self.run.entries.push(Entry {
            at: now,
            local_date: self.setup.local_date(now),
            debtor_id: self.debtor.to_owned(),
            kind: "fault",
            status: fault.kind(),
            channel: None,
            tone: None,
            invoice_ids: Vec::new(),
            amount: None,
            currency: None,
            decided_at: now,
            planned_at: None,
            scheduled_at: None,
            paid_invoice_ids: Vec::new(),
            detail: fault.to_string(),
        });
        if self.run.faults.len() < FAULTS_KEPT {
            self.run.faults.push(Fault {
                debtor_id: self.debtor.to_owned(),
                at: now,
                kind: fault.kind(),
                message: fault.to_string(),
                log: fault.log_tail().cloned().unwrap_or_default(),
            });
        }
    }

    /// A kept action other than a reminder, as `store::actions::apply`
    /// carries it out; on the timeline when it changed something.
    fn apply(&mut self, action: &Action, verdict: &'static str, now: DateTime<Utc>) {
        let mut amount_override = None;
        let detail = match action {
            Action::ChargeFee(fee) => {
                let Some(held) = self
                    .invoices
                    .iter_mut()
                    .find(|h| h.row.invoice_id == fee.invoice_id)
                else {
                    return;
                };
                // A late fee or collection cost once per invoice, interest
                // at most once per 30 days.
                let since = match fee.kind {
                    FeeKind::Interest => now - chrono::Duration::days(30),
                    FeeKind::LateFee | FeeKind::CollectionCost => DateTime::<Utc>::MIN_UTC,
                };
                let charged_before = held
                    .charges
                    .iter()
                    .any(|(kind, at)| *kind == fee.kind && *at > since);
                if charged_before || fee.amount <= 0 {
                    return;
                }
                held.fees += fee.amount;
                held.charges.push((fee.kind, now));
                amount_override = Some((fee.amount, held.row.currency.code().to_owned()));
                fee.reason.clone()
            }
            Action::Defer(d) => {
                for held in self.invoices.iter_mut() {
                    if d.invoice_ids.contains(&held.row.invoice_id) {
                        held.deferred_until = held.deferred_until.max(Some(d.until));
                    }
                }
                format!("until {}: {}", d.until, d.reason)
            }
            Action::OfferPlan(p) => {
                let open: i64 = p
                    .invoice_ids
                    .iter()
                    .filter_map(|id| self.invoice(id))
                    .map(Held::open_amount)
                    .sum();
                let installments = crate::store::actions::split(
                    open,
                    p.installments.into(),
                    p.first_due_on,
                    p.every_days.into(),
                );
                let terms =
                    serde_json::json!({ "installments": installments, "every_days": p.every_days });
                if !self.offer("payment-plan", &p.invoice_ids, &terms, p.first_due_on) {
                    return;
                }
                format!(
                    "{} installments {} days apart from {}",
                    p.installments, p.every_days, p.first_due_on
                )
            }
            Action::OfferDiscount(d) => {
                let terms = serde_json::json!({ "percent_bp": d.percent_bp });
                if !self.offer("discount", &d.invoice_ids, &terms, d.until) {
                    return;
                }
                format!("{} bp until {}", d.percent_bp, d.until)
            }
            Action::Escalate(e) => {
                let ids = &e.invoice_ids;
                for held in self.invoices.iter_mut() {
                    if ids.contains(&held.row.invoice_id) {
                        held.in_collection = true;
                    }
                }
                let target = serde_json::to_value(e.target)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                format!("{target}: {}", e.note)
            }
            Action::WriteOff(w) => w.reason.clone(),
            Action::CreateTask(t) => t.description.clone(),
            Action::Remind(_) => return,
        };
        let named: Vec<&Held> = action
            .invoice_ids()
            .iter()
            .filter_map(|id| self.invoice(id))
            .collect();
        let (amount, currency) = match amount_override {
            Some((amount, currency)) => (Some(amount), Some(currency)),
            None => total(&named),
        };
        self.run.entries.push(Entry {
            at: now,
            local_date: self.setup.local_date(now),
            debtor_id: self.debtor.to_owned(),
            kind: action.kind(),
            status: verdict,
            channel: None,
            tone: None,
            invoice_ids: action.invoice_ids().to_vec(),
            amount,
            currency,
            decided_at: now,
            planned_at: None,
            scheduled_at: None,
            paid_invoice_ids: Vec::new(),
            detail,
        });
    }

    /// Records an offer unless the same one is open (`actions::offer`); a
    /// new one replaces the open offer of its kind. Whether it is new.
    fn offer(
        &mut self,
        kind: &'static str,
        ids: &[String],
        terms: &serde_json::Value,
        valid_until: NaiveDate,
    ) -> bool {
        let key = format!("{ids:?} {terms} {valid_until}");
        if self.offers.get(kind) == Some(&key) {
            return false;
        }
        self.offers.insert(kind, key);
        true
    }

    /// What is still scheduled when the period ends is pending.
    fn finish(mut self) -> DebtorRun {
        for message in std::mem::take(&mut self.outbox) {
            let at = message.reminder.send_at;
            self.message_entry(&message, "pending", at, String::new());
        }
        self.run
    }
}

/// The open amount of `invoices` and their currency, when they share one.
fn total(invoices: &[&Held]) -> (Option<i64>, Option<String>) {
    let Some(first) = invoices.first() else {
        return (None, None);
    };
    let currency = first.row.currency;
    if invoices.iter().any(|h| h.row.currency != currency) {
        return (None, None);
    }
    (
        Some(invoices.iter().map(|h| h.open_amount()).sum()),
        Some(currency.code().to_owned()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use crate::runtime::{Limits, RuntimeConfig};
    use crate::simulate::Options;
    use crate::store::{Store, cases, tenants};

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[allow(clippy::too_many_arguments)]
    fn row(
        line: usize,
        debtor: &str,
        id: &str,
        issued: &str,
        due: &str,
        amount: i64,
        settled: Option<&str>,
        disputed: bool,
    ) -> Row {
        Row {
            line,
            debtor_id: debtor.into(),
            invoice_id: id.into(),
            currency: Currency::from_code("USD").unwrap(),
            amount,
            issued_on: date(issued),
            due_on: date(due),
            settled_on: settled.map(date),
            disputed,
        }
    }

    /// The replay's case for a debtor on a day equals what the store builds
    /// after importing the file as it stood that day.
    #[test]
    fn the_case_is_the_one_the_store_builds() {
        let rows = vec![
            row(
                2,
                "d1",
                "a",
                "2024-01-01",
                "2024-01-31",
                100_00,
                Some("2024-01-20"),
                false,
            ),
            row(
                3,
                "d1",
                "b",
                "2024-01-05",
                "2024-02-04",
                250_50,
                Some("2024-02-20"),
                false,
            ),
            row(4, "d1", "c", "2024-02-01", "2024-03-02", 70_00, None, true),
            row(
                5,
                "d1",
                "d",
                "2024-02-10",
                "2024-03-02",
                10_00,
                Some("2024-03-10"),
                true,
            ),
            row(
                6,
                "d1",
                "e",
                "2024-02-12",
                "2024-03-13",
                9_99,
                Some("2024-03-29"),
                false,
            ),
            row(
                7,
                "d2",
                "f",
                "2024-02-15",
                "2024-03-16",
                42_00,
                Some("2024-02-16"),
                false,
            ),
            row(8, "d2", "g", "2024-03-01", "2024-03-31", 1_00, None, false),
        ];
        let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
        let ladder = crate::builtin::find("ladder").unwrap();
        let strategy = Strategy::load(
            &runtime,
            "ladder",
            ladder.wasm,
            serde_json::json!({}),
            &Limits::default(),
        )
        .unwrap();
        // The store's imported debtors have no contact details.
        let options = Options {
            channels: Vec::new(),
            time_zone: "Europe/Berlin".parse().unwrap(),
            ..Options::default()
        };
        let period = Period::of(&rows, &options).unwrap();
        let setup = Setup::new(&runtime, &strategy, &options, period);
        for day in [
            "2024-01-01",
            "2024-01-25",
            "2024-02-10",
            "2024-02-21",
            "2024-03-05",
            "2024-03-20",
            "2024-04-02",
        ] {
            let day = date(day);
            let at = setup.event_time(day) + chrono::Duration::hours(3);
            // The file as it stood that day, imported at `at`.
            let known: Vec<Row> = rows
                .iter()
                .filter(|r| r.issued_on <= day)
                .map(|r| Row {
                    settled_on: r.settled_on.filter(|s| *s <= day),
                    ..r.clone()
                })
                .collect();
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(&dir.path().join("dun.db")).unwrap();
            let tenant = store
                .write_blocking(move |c| Ok(tenants::create(c, "t", "T", at)?.row_id))
                .unwrap();
            crate::import::import(&store, "t", known.clone(), "Europe/Berlin", at).unwrap();
            for debtor in ["d1", "d2"] {
                if !known.iter().any(|r| r.debtor_id == debtor) {
                    continue;
                }
                let expected = store
                    .read_blocking(|c| {
                        cases::build(c, tenant, debtor, at, "default", serde_json::json!({}))
                    })
                    .unwrap();
                let mine: Vec<&Row> = rows.iter().filter(|r| r.debtor_id == debtor).collect();
                let (mut replay, events) = Replay::new(&setup, debtor, &mine);
                for event in events.into_iter().filter(|e| e.at <= at) {
                    replay.happen(event);
                }
                assert_eq!(replay.case(at), expected, "{debtor} on {day}");
            }
        }
    }
}
