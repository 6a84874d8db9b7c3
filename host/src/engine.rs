//! The engine: runs a strategy on a debtor's case and puts each planned
//! action through the guardrails, recording the whole as an evaluation.
//!
//! Today an evaluation is asked for (`POST /v1/debtors/{id}/evaluate`); the
//! scheduler that finds debtors due for review, and the outbox that carries
//! kept actions out, build on [`Engine::evaluate`] (issue #5). Until segments
//! exist every debtor is decided by the built-in `ladder` with an empty
//! config, under the runtime's default limits and the default guardrail
//! policy.

use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};

use crate::builtin;
use crate::case::Case;
use crate::case::Channel;
use crate::guardrails::{DebtorFacts, InvoiceFacts, Policy, Verdict};
use crate::plan::Action;
use crate::runtime::{Limits, Plugin, PluginError, Runtime, RuntimeConfig, RuntimeError};
use crate::senders::{Message, Sender};
use crate::store::evaluations::{self, ActionVerdict, Evaluation, NewEvaluation};
use crate::store::invoices::InvoiceStatus;
use crate::store::invoices::{self, Invoice};
use crate::store::{Result, Store, StoreError, cases, debtors, outbox};

/// The strategy every debtor runs until segments choose another.
pub const DEFAULT_STRATEGY: &str = "ladder";

pub struct Engine {
    runtime: Runtime,
    /// The default strategy, compiled on first use.
    strategy: OnceLock<std::result::Result<Arc<Plugin>, String>>,
    limits: Limits,
    policy: Policy,
    stats: EngineStats,
}

/// Figures for `/metrics`: evaluations by outcome, fuel and time in the sandbox.
#[derive(Debug, Default)]
pub struct EngineStats {
    by_outcome: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    pub fuel: std::sync::atomic::AtomicU64,
    pub sandbox_micros: std::sync::atomic::AtomicU64,
}

impl EngineStats {
    fn record(&self, outcome: &str, fuel: Option<u64>, micros: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        if let Ok(mut by_outcome) = self.by_outcome.lock() {
            *by_outcome.entry(outcome.to_owned()).or_default() += 1;
        }
        self.fuel.fetch_add(fuel.unwrap_or(0), Relaxed);
        self.sandbox_micros.fetch_add(micros, Relaxed);
    }

    /// Evaluations so far, by outcome (`ok`, `trap`, `out-of-fuel`, …).
    pub fn by_outcome(&self) -> Vec<(String, u64)> {
        self.by_outcome
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }
}

impl Engine {
    pub fn new(config: RuntimeConfig) -> std::result::Result<Engine, RuntimeError> {
        let limits = config.limits;
        Ok(Engine {
            runtime: Runtime::new(config)?,
            strategy: OnceLock::new(),
            limits,
            policy: Policy::default(),
            stats: EngineStats::default(),
        })
    }

    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    fn strategy(&self) -> Result<&Arc<Plugin>> {
        self.strategy
            .get_or_init(|| {
                let builtin =
                    builtin::find(DEFAULT_STRATEGY).ok_or("the built-in ladder is missing")?;
                self.runtime.load(builtin.wasm).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| {
                StoreError::Internal(format!("cannot load the {DEFAULT_STRATEGY} strategy: {e}"))
            })
    }

    /// Decides about one debtor at `now` and records the evaluation. A
    /// plugin fault is an evaluation too (outcome = the fault's kind, with
    /// the plugin's log tail); only store failures are errors. Blocking: run
    /// it on a blocking thread.
    pub fn evaluate(
        &self,
        store: &Store,
        tenant_id: i64,
        debtor: &str,
        now: DateTime<Utc>,
    ) -> Result<Evaluation> {
        let strategy = self.strategy()?.clone();
        let id = debtor.to_owned();
        let case = store.read_blocking(move |conn| {
            cases::build(conn, tenant_id, &id, now, "default", serde_json::json!({}))
        })?;
        let input = to_value(&case)?;
        let input_hash = hex::encode(case.digest());
        let started = std::time::Instant::now();
        let decided = self.runtime.decide(&strategy, &case, &self.limits);
        let mut new = NewEvaluation {
            at: now,
            strategy: DEFAULT_STRATEGY.into(),
            plugin_digest: strategy.digest.clone(),
            contract: strategy.contract.to_string(),
            input_hash,
            input,
            outcome: "ok".into(),
            error: None,
            plan: None,
            verdicts: Vec::new(),
            log: serde_json::Value::Null,
            fuel_used: None,
            duration_us: started.elapsed().as_micros() as u64,
            review_at: None,
        };
        match decided {
            Ok(decision) => {
                new.duration_us = decision.duration.as_micros() as u64;
                new.fuel_used = Some(decision.fuel_used);
                new.log = to_value(&decision.log)?;
                new.verdicts = self.guard(&case, &decision.plan.actions)?;
                new.review_at = decision.plan.review_at;
                new.plan = Some(to_value(&decision.plan)?);
            }
            Err(fault) => {
                new.outcome = fault.kind().into();
                new.error = Some(fault.to_string());
                new.log = to_value(&fault.log_tail().cloned().unwrap_or_default())?;
                if let PluginError::OutOfFuel { used, .. } = fault {
                    new.fuel_used = Some(used);
                }
            }
        }
        self.stats
            .record(&new.outcome, new.fuel_used, new.duration_us);
        let id = debtor.to_owned();
        store
            .write_blocking(move |conn| evaluations::record(conn, tenant_id, &id, &new, Utc::now()))
    }

    /// One scheduler pass: evaluates up to `batch` debtors due for review
    /// at `now`, on every core. A debtor whose strategy faults is recorded
    /// and retried after a backoff; it never holds up the others. Returns
    /// how many were evaluated and how many of those faulted. Blocking.
    pub fn review_due(
        &self,
        store: &Store,
        now: DateTime<Utc>,
        batch: usize,
    ) -> Result<(usize, usize)> {
        let due = store.read_blocking(|conn| evaluations::due_for_review(conn, now, batch))?;
        let next = std::sync::atomic::AtomicUsize::new(0);
        let faults = std::sync::atomic::AtomicUsize::new(0);
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(due.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((tenant, debtor)) = due.get(i) else { break };
                        match self.evaluate(store, *tenant, debtor, now) {
                            Ok(evaluation) if evaluation.outcome != "ok" => {
                                faults.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                tracing::warn!(debtor, outcome = %evaluation.outcome, "strategy fault; retried after backoff");
                            }
                            Ok(_) => {}
                            Err(error) => {
                                faults.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                tracing::error!(debtor, %error, "evaluation failed");
                            }
                        }
                    }
                });
            }
        });
        Ok((due.len(), faults.into_inner()))
    }

    /// One dispatcher pass: claims the messages due at `now` (leased, so a
    /// crash only delays them), checks each again against the debtor as
    /// they are now (an invoice paid, disputed or voided since the plan
    /// drops out; none left, or the channel gone, suppresses the message),
    /// renders and sends it, and records the outcome. A failed send is
    /// retried with exponential backoff and jitter, and given up after 5
    /// attempts. Returns (sent, suppressed, failed or retried). Blocking.
    pub fn dispatch_due(
        &self,
        store: &Store,
        sender: &dyn Sender,
        now: DateTime<Utc>,
    ) -> Result<(usize, usize, usize)> {
        let claimed = store.write_blocking(move |conn| {
            outbox::claim_due(conn, now, chrono::Duration::minutes(5), 64)
        })?;
        let mut counts = (0, 0, 0);
        for entry in claimed {
            let lookup = entry.clone();
            let (debtor, invoices, tenant) = store.read_blocking(move |conn| {
                let debtor = debtors::get(conn, lookup.tenant_row, &lookup.debtor_id)?;
                let today = now.date_naive();
                let invoices: Vec<Invoice> = lookup
                    .invoice_ids
                    .iter()
                    .filter_map(|id| invoices::get(conn, lookup.tenant_row, id, today).ok())
                    .collect();
                let tenant: (String, String) = conn.query_row(
                    "SELECT slug, name FROM tenants WHERE id = ?1",
                    [lookup.tenant_row],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                Ok((debtor, invoices, tenant))
            })?;
            let owed: Vec<&Invoice> = invoices
                .iter()
                .filter(|i| i.status.is_owed() && i.status != InvoiceStatus::Disputed)
                .collect();
            let to = match entry.channel {
                Channel::Email => debtor.email.clone(),
                Channel::Sms | Channel::Call => debtor.phone.clone(),
                Channel::Letter => debtor.postal_address.as_ref().map(|a| {
                    format!(
                        "{}, {} {}, {}",
                        a.lines.join(", "),
                        a.postal_code,
                        a.city,
                        a.country
                    )
                }),
            };
            let refusal = if owed.is_empty() {
                Some(
                    "every invoice it names was paid, voided or disputed since it was planned"
                        .to_owned(),
                )
            } else if debtor.opt_outs.contains(&entry.channel) {
                Some(format!(
                    "the debtor opted out of {}",
                    entry.channel.as_str()
                ))
            } else if to.is_none() {
                Some(format!(
                    "no {} contact for the debtor",
                    entry.channel.as_str()
                ))
            } else {
                None
            };
            if let Some(reason) = refusal {
                let done = entry.clone();
                store.write_blocking(move |conn| {
                    outbox::finish(conn, &done, "suppressed", Some(&reason), None, now)
                })?;
                counts.1 += 1;
                continue;
            }
            let lines: Vec<String> = owed
                .iter()
                .map(|i| {
                    format!(
                        "{}  {} {}  due {}",
                        i.number,
                        money(i.open_amount, &i.currency),
                        i.currency,
                        i.due_on
                    )
                })
                .collect();
            let currency = &owed[0].currency;
            let total: i64 = owed
                .iter()
                .filter(|i| &i.currency == currency)
                .map(|i| i.open_amount)
                .sum();
            let (subject, text) = crate::senders::wording(
                entry.tone,
                &debtor.name,
                &lines,
                &format!("{} {currency}", money(total, currency)),
            );
            let message = Message {
                idempotency_key: entry.idempotency_key.clone(),
                tenant: tenant.0,
                tenant_name: tenant.1,
                channel: entry.channel,
                tone: entry.tone,
                to: to.unwrap_or_default(),
                subject,
                text,
                at: now,
            };
            let done = entry.clone();
            match sender.send(&message) {
                Ok(()) => {
                    store.write_blocking(move |conn| {
                        outbox::finish(conn, &done, "sent", None, None, now)
                    })?;
                    counts.0 += 1;
                }
                Err(error) => {
                    counts.2 += 1;
                    let (status, retry_at) = if entry.attempts >= 5 {
                        ("failed", None)
                    } else {
                        // 1, 2, 4, 8 minutes, plus up to a quarter more.
                        let base = chrono::Duration::minutes(
                            1 << (entry.attempts.saturating_sub(1)).min(10),
                        );
                        let jitter = base.num_milliseconds()
                            * i64::from(now.timestamp_subsec_millis() % 250)
                            / 1000;
                        (
                            "scheduled",
                            Some(now + base + chrono::Duration::milliseconds(jitter)),
                        )
                    };
                    tracing::warn!(message = %entry.id, %error, status, "send failed");
                    store.write_blocking(move |conn| {
                        outbox::finish(conn, &done, status, Some(&error), retry_at, now)
                    })?;
                }
            }
        }
        Ok(counts)
    }

    /// Each action after the guardrails.
    fn guard(&self, case: &Case, actions: &[Action]) -> Result<Vec<ActionVerdict>> {
        let facts = facts(case);
        actions
            .iter()
            .map(|action| {
                let planned = to_value(action)?;
                let (kept, reasons) = match action {
                    Action::Remind(r) => split(self.policy.reminder(&facts, r), Action::Remind),
                    Action::ChargeFee(f) => split(self.policy.fee(&facts, f), Action::ChargeFee),
                    Action::OfferDiscount(d) => {
                        split(self.policy.discount(&facts, d), Action::OfferDiscount)
                    }
                    other => (Some(other.clone()), Vec::new()),
                };
                let action = kept.as_ref().map(to_value).transpose()?;
                let verdict = match (&action, reasons.is_empty()) {
                    (None, _) => "suppressed",
                    (Some(_), true) => "kept",
                    (Some(_), false) => "moved",
                };
                Ok(ActionVerdict {
                    planned,
                    verdict: verdict.into(),
                    action,
                    reasons: reasons.iter().map(to_value).collect::<Result<_>>()?,
                })
            })
            .collect()
    }
}

fn split<T>(
    verdict: Verdict<T>,
    wrap: fn(T) -> Action,
) -> (Option<Action>, Vec<crate::guardrails::Reason>) {
    (verdict.action.map(wrap), verdict.reasons)
}

/// Minor units in major units for a message, per the currency's exponent.
fn money(minor: i64, currency: &str) -> String {
    match crate::money::Currency::from_code(currency) {
        Some(c) => c.format_minor(minor),
        None => minor.to_string(),
    }
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| StoreError::Internal(e.to_string()))
}

/// What the guardrails need, from the case. The case holds only owed
/// invoices and only reachable, not opted-out channels; contacts come with
/// the outbox.
fn facts(case: &Case) -> DebtorFacts {
    DebtorFacts {
        time_zone: case.zone(),
        reachable: case.debtor.channels.clone(),
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
                deferred_until: None,
            })
            .collect(),
        contacts: case.contacts.iter().map(|c| (c.at, c.channel)).collect(),
    }
}
