//! The figures of a replay, computed from its timeline and the data (and,
//! for what the timeline does not show, the replay's counters). Every
//! figure is defined in docs/writing-strategies.md, "Back-testing with dun
//! simulate"; the definitions are repeated on each field.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use chrono::Duration as Days;
use serde::Serialize;

use super::replay::{DebtorRun, EVENT_HOUR};
use super::{Entry, Fault, Options, Period, Strategy};
use crate::case::{Channel, Tone};
use crate::guardrails::Policy;
use crate::import::Row;

/// Faults shown with their log in a summary.
const FAULTS_SHOWN: usize = 5;

/// What a strategy would have done over the period, in figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub strategy: StrategyInfo,
    pub period: Period,
    pub assumptions: Assumptions,
    /// Debtors with an invoice owed at some time in the period.
    pub debtors: usize,
    /// Invoices owed at some time in the period: issued by its last day
    /// and not settled before its first.
    pub invoices: usize,
    /// Of those, flagged disputed: never chased (see `assumptions`).
    pub invoices_disputed: usize,
    /// Times the strategy was asked, faults included.
    pub decisions: u64,
    /// Fuel the decisions used, in all.
    pub fuel: u64,
    pub faults: Faults,
    pub messages: Messages,
    /// Debtors who were sent at least one message.
    pub debtors_reached: usize,
    pub reminders_to_paid: RemindersToPaid,
    pub escalations: Escalations,
    pub overdue_contacted: OverdueContacted,
    pub guardrails: Guardrails,
    /// Other kept actions on the timeline, by kind (`charge-fee`,
    /// `offer-plan`, `offer-discount`, `defer`, `write-off`, `create-task`).
    pub other_actions: BTreeMap<&'static str, u64>,
    /// How long it took; the one part that differs from run to run.
    pub timing: Timing,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StrategyInfo {
    /// As named on the command line.
    pub name: String,
    /// As it describes itself.
    pub describes_itself_as: String,
    pub version: String,
    pub sha256: String,
    pub config: serde_json::Value,
}

/// What the data does not say, and what the replay takes instead.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assumptions {
    /// Every debtor's zone.
    pub time_zone: String,
    /// Every debtor can be reached on these (the data has no contact details).
    pub channels: Vec<Channel>,
    /// Local time of the data's dated events: invoices arrive, settlements
    /// are paid.
    pub events_at: String,
    /// An invoice flagged disputed is disputed from its issue date until it
    /// is settled: reminders and plans leave it alone.
    pub disputed: String,
    /// The guardrails applied.
    pub policy: Policy,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Faults {
    pub total: u64,
    pub by_kind: BTreeMap<&'static str, u64>,
    /// The first few, in time order, with the strategy's log.
    pub first: Vec<Fault>,
}

/// Reminders, by what became of them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Messages {
    pub sent: u64,
    pub by_channel: BTreeMap<Channel, u64>,
    pub by_tone: BTreeMap<Tone, u64>,
    /// Keys `channel/tone`, e.g. `email/gentle`.
    pub by_channel_and_tone: BTreeMap<String, u64>,
    /// Due with nothing left to chase: the invoices were settled (the host
    /// knew it by then), disputed or handed to collection.
    pub cancelled: u64,
    /// Replaced by a later decision before they were due.
    pub replaced: u64,
    /// Due after the period.
    pub pending: u64,
}

/// Sent reminders about an invoice the data shows settled on or before
/// the local day the message went out: paid before the message would have
/// gone, at the data's granularity of a day.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RemindersToPaid {
    /// Messages naming at least one such invoice.
    pub messages: u64,
    /// (message, invoice) pairs.
    pub invoices: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Escalations {
    /// Kept `escalate` actions.
    pub actions: u64,
    /// Invoices handed to collection.
    pub invoices: u64,
    /// Their open amount then, per currency, minor units.
    pub value: BTreeMap<String, i64>,
    /// Of those invoices, how many the data shows settled anyway, later.
    pub settled_later: u64,
}

/// Of the invoices that went overdue (not settled by their due date), whose
/// first `within_days` days overdue fall within the period and that were
/// not disputed: those about which a message was sent on one of those days.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OverdueContacted {
    pub within_days: u32,
    pub invoices: u64,
    pub invoices_contacted: u64,
    /// Per currency, minor units: their amounts...
    pub value: BTreeMap<String, i64>,
    /// ...the amounts of those contacted in time...
    pub value_contacted: BTreeMap<String, i64>,
    /// ...and the share, 0 to 1, to 4 decimals.
    pub share_of_value: BTreeMap<String, f64>,
}

/// What the guardrails did to planned actions, over every decision (a
/// reminder planned again at each decision counts each time).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Guardrails {
    pub planned: u64,
    pub kept: u64,
    pub moved: u64,
    pub suppressed: u64,
    /// How often each rule moved or suppressed an action.
    pub moved_by: BTreeMap<String, u64>,
    pub suppressed_by: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Timing {
    pub wall_ms: u64,
    pub decisions_per_second: u64,
    /// Time the decisions that produced a plan spent in the sandbox, added
    /// over every thread.
    pub sandbox_ms: u64,
    /// Debtors replayed at once.
    pub threads: usize,
}

pub(super) fn summarise(
    strategy: &Strategy,
    options: &Options,
    period: Period,
    rows: &[Row],
    timeline: &[Entry],
    runs: &[DebtorRun],
    (wall, threads): (Duration, usize),
) -> Summary {
    let in_play: Vec<&Row> = rows
        .iter()
        .filter(|r| r.issued_on <= period.to && r.settled_on.is_none_or(|s| s >= period.from))
        .collect();
    let by_id: HashMap<&str, &Row> = rows.iter().map(|r| (r.invoice_id.as_str(), r)).collect();
    let settled_on = |id: &str| by_id.get(id).and_then(|r| r.settled_on);

    let mut messages = Messages {
        sent: 0,
        by_channel: Channel::ALL.iter().map(|c| (*c, 0)).collect(),
        by_tone: [Tone::Courtesy, Tone::Gentle, Tone::Firm, Tone::Final]
            .iter()
            .map(|t| (*t, 0))
            .collect(),
        by_channel_and_tone: BTreeMap::new(),
        cancelled: 0,
        replaced: 0,
        pending: 0,
    };
    let mut reached = BTreeSet::new();
    let mut to_paid = RemindersToPaid {
        messages: 0,
        invoices: 0,
    };
    let mut escalations = Escalations {
        actions: 0,
        invoices: 0,
        value: BTreeMap::new(),
        settled_later: 0,
    };
    let mut faults = Faults {
        total: 0,
        by_kind: BTreeMap::new(),
        first: Vec::new(),
    };
    let mut other_actions = BTreeMap::new();
    // Invoice id -> the local days messages about it went out.
    let mut contacted_on: HashMap<&str, Vec<chrono::NaiveDate>> = HashMap::new();
    for entry in timeline {
        match (entry.kind, entry.status) {
            ("remind", "sent") => {
                messages.sent += 1;
                if let (Some(channel), Some(tone)) = (entry.channel, entry.tone) {
                    *messages.by_channel.entry(channel).or_default() += 1;
                    *messages.by_tone.entry(tone).or_default() += 1;
                    let key = format!("{}/{}", channel.as_str(), tone.as_str());
                    *messages.by_channel_and_tone.entry(key).or_default() += 1;
                }
                reached.insert(entry.debtor_id.as_str());
                if !entry.paid_invoice_ids.is_empty() {
                    to_paid.messages += 1;
                    to_paid.invoices += entry.paid_invoice_ids.len() as u64;
                }
                for id in &entry.invoice_ids {
                    contacted_on
                        .entry(id.as_str())
                        .or_default()
                        .push(entry.local_date);
                }
            }
            ("remind", "cancelled") => messages.cancelled += 1,
            ("remind", "replaced") => messages.replaced += 1,
            ("remind", _) => messages.pending += 1,
            ("escalate", _) => {
                escalations.actions += 1;
                escalations.invoices += entry.invoice_ids.len() as u64;
                if let (Some(amount), Some(currency)) = (entry.amount, &entry.currency) {
                    *escalations.value.entry(currency.clone()).or_default() += amount;
                }
                escalations.settled_later += entry
                    .invoice_ids
                    .iter()
                    .filter(|id| settled_on(id).is_some())
                    .count() as u64;
            }
            ("fault", kind) => {
                faults.total += 1;
                *faults.by_kind.entry(kind).or_default() += 1;
            }
            (kind, _) => *other_actions.entry(kind).or_default() += 1,
        }
    }
    let mut first: Vec<&Fault> = runs.iter().flat_map(|r| &r.faults).collect();
    first.sort_by(|a, b| (a.at, &a.debtor_id).cmp(&(b.at, &b.debtor_id)));
    faults.first = first.into_iter().take(FAULTS_SHOWN).cloned().collect();

    let within = i64::from(options.within_days);
    let mut overdue = OverdueContacted {
        within_days: options.within_days,
        invoices: 0,
        invoices_contacted: 0,
        value: BTreeMap::new(),
        value_contacted: BTreeMap::new(),
        share_of_value: BTreeMap::new(),
    };
    for row in &in_play {
        let (first_day, last_day) = (row.due_on + Days::days(1), row.due_on + Days::days(within));
        let went_overdue = row.settled_on.is_none_or(|s| s > row.due_on);
        if !went_overdue || row.disputed || first_day < period.from || last_day > period.to {
            continue;
        }
        let currency = row.currency.code().to_owned();
        overdue.invoices += 1;
        *overdue.value.entry(currency.clone()).or_default() += row.amount;
        let in_time = contacted_on
            .get(row.invoice_id.as_str())
            .is_some_and(|days| days.iter().any(|d| (first_day..=last_day).contains(d)));
        let contacted = overdue.value_contacted.entry(currency).or_default();
        if in_time {
            overdue.invoices_contacted += 1;
            *contacted += row.amount;
        }
    }
    for (currency, value) in &overdue.value {
        let contacted = overdue.value_contacted.get(currency).copied().unwrap_or(0);
        let share = contacted as f64 / (*value).max(1) as f64;
        overdue
            .share_of_value
            .insert(currency.clone(), (share * 10_000.0).round() / 10_000.0);
    }

    let mut guardrails = Guardrails {
        planned: 0,
        kept: 0,
        moved: 0,
        suppressed: 0,
        moved_by: BTreeMap::new(),
        suppressed_by: BTreeMap::new(),
    };
    for run in runs {
        for (verdict, n) in &run.verdicts {
            guardrails.planned += n;
            match *verdict {
                "kept" => guardrails.kept += n,
                "moved" => guardrails.moved += n,
                _ => guardrails.suppressed += n,
            }
        }
        for ((verdict, rule), n) in &run.rules {
            let by = if *verdict == "suppressed" {
                &mut guardrails.suppressed_by
            } else {
                &mut guardrails.moved_by
            };
            *by.entry(rule.clone()).or_default() += n;
        }
    }

    let decisions: u64 = runs.iter().map(|r| r.decisions).sum();
    let wall_ms = wall.as_millis() as u64;
    Summary {
        strategy: StrategyInfo {
            name: strategy.name.clone(),
            describes_itself_as: strategy.info.name.clone(),
            version: strategy.info.version.clone(),
            sha256: strategy.plugin.digest.clone(),
            config: strategy.config.clone(),
        },
        period,
        assumptions: Assumptions {
            time_zone: options.time_zone.name().to_owned(),
            channels: options.channels.clone(),
            events_at: format!("{EVENT_HOUR:02}:00 local"),
            disputed: "from its issue date until it is settled".into(),
            policy: options.policy.clone(),
        },
        debtors: in_play
            .iter()
            .map(|r| r.debtor_id.as_str())
            .collect::<BTreeSet<_>>()
            .len(),
        invoices: in_play.len(),
        invoices_disputed: in_play.iter().filter(|r| r.disputed).count(),
        decisions,
        fuel: runs.iter().map(|r| r.fuel).sum(),
        faults,
        messages,
        debtors_reached: reached.len(),
        reminders_to_paid: to_paid,
        escalations,
        overdue_contacted: overdue,
        guardrails,
        other_actions,
        timing: Timing {
            wall_ms,
            decisions_per_second: (decisions as f64 / wall.as_secs_f64().max(1e-9)) as u64,
            sandbox_ms: runs.iter().map(|r| r.sandbox).sum::<Duration>().as_millis() as u64,
            threads,
        },
    }
}
