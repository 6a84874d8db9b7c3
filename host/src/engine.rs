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
use sha2::{Digest, Sha256};

use crate::builtin;
use crate::case::{self, Case};
use crate::guardrails::{DebtorFacts, InvoiceFacts, Policy, Verdict};
use crate::plan::Action;
use crate::runtime::{Limits, Plugin, PluginError, Runtime, RuntimeConfig, RuntimeError};
use crate::store::evaluations::{self, ActionVerdict, Evaluation, NewEvaluation};
use crate::store::invoices::InvoiceStatus;
use crate::store::{Result, Store, StoreError, cases};

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
        let input = serde_json::to_value(&case).map_err(|e| StoreError::Internal(e.to_string()))?;
        let input_hash = hex::encode(Sha256::digest(input.to_string().as_bytes()));
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
                status: match i.status {
                    case::InvoiceStatus::Open => InvoiceStatus::Open,
                    case::InvoiceStatus::PartiallyPaid => InvoiceStatus::PartiallyPaid,
                    case::InvoiceStatus::Disputed => InvoiceStatus::Disputed,
                    case::InvoiceStatus::Promised => InvoiceStatus::Promised,
                    case::InvoiceStatus::InPlan => InvoiceStatus::InPlan,
                    case::InvoiceStatus::InCollection => InvoiceStatus::InCollection,
                },
                amount: i.amount,
                fees: i.fees_charged,
                promised_until: i.promised_on,
                deferred_until: None,
            })
            .collect(),
        contacts: case.contacts.iter().map(|c| (c.at, c.channel)).collect(),
    }
}
