//! `dun simulate`: a back-test. A history of invoices and their settlements
//! (the CSV `dun import invoices` reads) is replayed on a simulated clock
//! through a strategy, with the host's guardrails and the scheduler's and
//! dispatcher's rules, and what the strategy would have done comes out as a
//! timeline ([`Entry`]) and a [`Summary`]. Nothing is stored, nothing is sent.
//!
//! The model, in the words of docs/writing-strategies.md ("Back-testing
//! with dun simulate"):
//! - The data has days, not times: an invoice arrives at 12:00 in the
//!   debtor's zone on its issue date, and a settlement is a payment of the
//!   whole invoice (fees included) at 12:00 on its settlement date.
//! - A debtor is decided about when the store would wake them (an invoice
//!   arrives, a payment, a message sent after the decision that planned it)
//!   and when their last decision asked (`review_at`, clamped to between a
//!   minute and a day ahead; after a fault, 5 minutes doubling to a day):
//!   the scheduler's rules, [`crate::store::evaluations::next_review`].
//! - Each decision: the case as [`crate::store::cases`] builds it, the
//!   strategy in a fresh sandbox under the host's fuel and memory limits
//!   (the deadline is longer, [`DEADLINE_MS`]), then
//!   [`crate::guardrails::Policy::guard`]; what the plan keeps replaces what
//!   the last decision scheduled, as the outbox does, and its other actions
//!   change what `store::actions` changes (fees, deferrals, offers,
//!   escalations put invoices in collection).
//! - A scheduled message goes at its time with the invoices still chased
//!   then; one with none left is cancelled, as the dispatcher does.
//!
//! Debtors are independent, so each is replayed on its own, on every core,
//! and the results are merged in debtor order: the same input gives the
//! same timeline and summary (all but `timing`) on any machine.

mod replay;
mod report;
mod summary;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::case::{Channel, Tone};
use crate::guardrails::Policy;
use crate::import::Row;
use crate::runtime::{Info, Limits, Plugin, PluginError, Runtime};
use crate::store::FieldError;

pub use report::{table, timeline_csv};
pub use summary::Summary;

/// How to replay.
#[derive(Clone, Debug)]
pub struct Options {
    /// First day replayed; default: the first invoice date.
    pub from: Option<NaiveDate>,
    /// Last day replayed; default: the last invoice or settlement date.
    pub to: Option<NaiveDate>,
    /// Every debtor's zone.
    pub time_zone: Tz,
    /// The channels every debtor can be reached on.
    pub channels: Vec<Channel>,
    pub policy: Policy,
    /// An overdue invoice counts as contacted in time when a message about
    /// it went out within this many days after its due date.
    pub within_days: u32,
    /// Per-decision limits: the host's, but for a longer wall-clock
    /// deadline ([`DEADLINE_MS`]).
    pub limits: Limits,
}

/// The wall-clock deadline of a decision in a simulation. The host's 250 ms
/// guards a live service; in a back-test a decision cut short because the
/// machine was busy would make two runs of the same history differ. Fuel
/// and memory, which do not depend on the machine, stay the host's.
pub const DEADLINE_MS: u64 = 5_000;

impl Default for Options {
    fn default() -> Self {
        Options {
            from: None,
            to: None,
            time_zone: chrono_tz::UTC,
            channels: Channel::ALL.to_vec(),
            policy: Policy::default(),
            within_days: 7,
            limits: Limits {
                deadline_ms: DEADLINE_MS,
                ..Limits::default()
            },
        }
    }
}

/// A strategy ready to replay: loaded, described, its config checked.
pub struct Strategy {
    /// What the user called it (a built-in's name, or the file's stem).
    pub name: String,
    pub info: Info,
    pub plugin: Arc<Plugin>,
    pub config: serde_json::Value,
}

/// Why a simulation could not run. A strategy's fault on one debtor is not
/// one of these: it is counted, reported and the replay goes on.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("strategy {strategy}: {source}")]
    Plugin {
        strategy: String,
        source: PluginError,
    },
    #[error("config for {strategy}: {}", problems.iter().map(|p| format!("{}: {}", p.field, p.detail)).collect::<Vec<_>>().join("; "))]
    Config {
        strategy: String,
        problems: Vec<FieldError>,
    },
    #[error("the file has no invoices")]
    NoInvoices,
    #[error("nothing to replay: --from {from} is after --to {to}")]
    EmptyPeriod { from: NaiveDate, to: NaiveDate },
}

impl Strategy {
    /// Loads a component, asks it to describe itself and checks `config`
    /// against the schema it declares (as `PUT /v1/segments` does).
    pub fn load(
        runtime: &Runtime,
        name: &str,
        bytes: &[u8],
        config: serde_json::Value,
        limits: &Limits,
    ) -> Result<Strategy, SimulateError> {
        let fault = |source| SimulateError::Plugin {
            strategy: name.to_owned(),
            source,
        };
        let plugin = runtime.load(bytes).map_err(fault)?;
        let (info, _log) = runtime.describe(&plugin, limits).map_err(fault)?;
        crate::engine::check_config(name, &info, &config).map_err(|problems| {
            SimulateError::Config {
                strategy: name.to_owned(),
                problems,
            }
        })?;
        Ok(Strategy {
            name: name.to_owned(),
            info,
            plugin,
            config,
        })
    }
}

/// The days replayed, both included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// The period `options` asks for, the data's own by default.
    pub fn of(rows: &[Row], options: &Options) -> Result<Period, SimulateError> {
        let first = rows.iter().map(|r| r.issued_on).min();
        let last = rows
            .iter()
            .flat_map(|r| [Some(r.issued_on), r.settled_on])
            .flatten()
            .max();
        let (Some(first), Some(last)) = (first, last) else {
            return Err(SimulateError::NoInvoices);
        };
        let period = Period {
            from: options.from.unwrap_or(first),
            to: options.to.unwrap_or(last),
        };
        if period.from > period.to {
            return Err(SimulateError::EmptyPeriod {
                from: period.from,
                to: period.to,
            });
        }
        Ok(period)
    }
}

/// One thing the strategy would have done (or a decision that failed), as
/// the timeline shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    /// When it happened: a message sent or cancelled, an action decided, a
    /// fault; a message still pending at the end: its scheduled time.
    pub at: DateTime<Utc>,
    /// `at` in the debtor's zone: the day the figures count it on.
    pub local_date: NaiveDate,
    pub debtor_id: String,
    /// `remind`, another action's kind (`escalate`, `charge-fee`,
    /// `offer-plan`, `offer-discount`, `defer`, `write-off`,
    /// `create-task`), or `fault`.
    pub kind: &'static str,
    /// A reminder: `sent`, `cancelled` (nothing left to chase when it was
    /// due), `replaced` (by a later decision before it was due) or
    /// `pending` (due after the period). Another action: `kept`, or `moved`
    /// when a guardrail changed it (a capped fee). A fault: its kind
    /// (`trap`, `out-of-fuel`, …).
    pub status: &'static str,
    pub channel: Option<Channel>,
    pub tone: Option<Tone>,
    /// The invoices it is about; for a sent message, those still chased
    /// when it went (the ones the debtor read about).
    pub invoice_ids: Vec<String>,
    /// Their open amount then, minor units, when they share a currency.
    pub amount: Option<i64>,
    pub currency: Option<String>,
    /// The decision it came from.
    pub decided_at: DateTime<Utc>,
    /// A reminder's send time as the strategy planned it...
    pub planned_at: Option<DateTime<Utc>>,
    /// ...and as the guardrails scheduled it.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// A sent reminder: those of its invoices the data shows settled on or
    /// before `local_date` (paid before the message went, at the data's
    /// granularity of a day).
    pub paid_invoice_ids: Vec<String>,
    /// Why (a cancellation, a fault), or what (an escalation's target, a
    /// task's description).
    pub detail: String,
}

/// A decision that failed, with what the strategy logged.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fault {
    pub debtor_id: String,
    pub at: DateTime<Utc>,
    pub kind: &'static str,
    pub message: String,
    pub log: crate::runtime::sandbox::LogTail,
}

/// What a replay produced.
pub struct Outcome {
    /// Every entry, by time, then debtor.
    pub timeline: Vec<Entry>,
    pub summary: Summary,
}

/// Replays `rows` through `strategy`. Blocking; uses every core.
pub fn run(
    runtime: &Runtime,
    strategy: &Strategy,
    rows: &[Row],
    options: &Options,
) -> Result<Outcome, SimulateError> {
    let started = Instant::now();
    let period = Period::of(rows, options)?;
    // Invoices issued after the period never happen; the rest are the
    // history each debtor starts with or the events of the period.
    let mut by_debtor: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.issued_on <= period.to) {
        by_debtor.entry(&row.debtor_id).or_default().push(row);
    }
    let debtors: Vec<(&str, Vec<&Row>)> = by_debtor.into_iter().collect();
    let setup = replay::Setup::new(runtime, strategy, options, period);
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(debtors.len().max(1));
    let mut runs: Vec<(usize, replay::DebtorRun)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((debtor, rows)) = debtors.get(i) else {
                            break;
                        };
                        done.push((i, replay::replay(&setup, debtor, rows)));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    // Debtor order, whichever worker replayed whom.
    runs.sort_by_key(|(i, _)| *i);
    let mut runs: Vec<replay::DebtorRun> = runs.into_iter().map(|(_, run)| run).collect();
    let mut timeline: Vec<Entry> = Vec::new();
    for run in &mut runs {
        timeline.append(&mut run.entries);
    }
    // Stable: a debtor's entries at one instant keep the order they happened in.
    timeline.sort_by(|a, b| (a.at, &a.debtor_id).cmp(&(b.at, &b.debtor_id)));
    let summary = summary::summarise(
        strategy,
        options,
        period,
        rows,
        &timeline,
        &runs,
        (started.elapsed(), workers),
    );
    Ok(Outcome { timeline, summary })
}
