//! The engine: runs a strategy on a debtor's case and puts each planned
//! action through the guardrails, recording the whole as an evaluation.
//!
//! The strategy is the one of the debtor's segment (the first whose rule
//! matches; see [`crate::segments`]), with the segment's config, under its
//! limits ([`Engine::limits_for`]: a tenant plugin's own over the host-wide
//! ones, see [`crate::limits`]) and the tenant's guardrail policy. The
//! scheduler (`review_due`, run by `dun serve`) and `POST
//! /v1/debtors/{id}/evaluate` both come here; the dispatcher carries the
//! kept reminders out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::builtin;
use crate::case::Case;
use crate::guardrails::{DebtorFacts, InvoiceFacts, Policy};
use crate::plan::Action;
use crate::runtime::Info;
use crate::runtime::{Limits, Plugin, PluginError, Runtime, RuntimeConfig, RuntimeError};
use crate::segments::{self, DEFAULT, Segment};
use crate::store::debtors::{self, Debtor};
use crate::store::evaluations::{self, ActionVerdict, Evaluation, NewEvaluation};
use crate::store::segments as store_segments;
use crate::store::{Result, Store, StoreError, cases, policies};

/// The strategy every debtor runs until segments choose another.
pub const DEFAULT_STRATEGY: &str = "ladder";

/// A tenant's strategy version is quarantined when, within this window of
/// decision times, it faulted at least [`QUARANTINE_FAULTS`] times and in at
/// least half of its evaluations.
pub const QUARANTINE_WINDOW: chrono::Duration = chrono::Duration::hours(1);
pub const QUARANTINE_FAULTS: usize = 5;

pub struct Engine {
    runtime: Runtime,
    /// Built-in strategies by name, compiled on first use, with what they
    /// say about themselves.
    strategies: Mutex<HashMap<String, Arc<Loaded>>>,
    /// Where operator-deployed strategies live (`NAME.wasm`), if anywhere.
    strategies_dir: Option<std::path::PathBuf>,
    /// The configured limits (`[limits]`, else the runtime's defaults)
    /// and the host-wide ones in force (an operator's over those).
    configured: Limits,
    limits: std::sync::RwLock<Limits>,
    /// Tenant plugins' own limits (`tenant/name`), read once then kept
    /// (`set_plugin_limits` replaces them); `None`: the host-wide ones.
    own_limits: Mutex<HashMap<String, Option<crate::store::limits::Stored>>>,
    stats: EngineStats,
    /// Tenant strategy versions (`tenant/name@version`) in quarantine.
    quarantined: Mutex<std::collections::HashSet<String>>,
    /// Recent outcomes of each tenant strategy version: (decided at, ok).
    health: Mutex<HashMap<String, Outcomes>>,
}

/// A strategy version's recent evaluations: (decided at, ok), oldest first.
type Outcomes = std::collections::VecDeque<(DateTime<Utc>, bool)>;

/// A compiled strategy and its `describe()`.
pub struct Loaded {
    pub plugin: Arc<Plugin>,
    pub info: Info,
}

/// Figures for `/metrics`: evaluations by outcome, fuel and time in the sandbox.
#[derive(Debug, Default)]
pub struct EngineStats {
    by_outcome: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    pub fuel: std::sync::atomic::AtomicU64,
    pub sandbox_micros: std::sync::atomic::AtomicU64,
    /// Time building cases from the store (reads).
    pub case_micros: std::sync::atomic::AtomicU64,
    /// Time recording evaluations and their actions (writes, waiting on
    /// the writer and the disk included).
    pub record_micros: std::sync::atomic::AtomicU64,
    /// Tenant strategy versions quarantined since start.
    pub quarantines: std::sync::atomic::AtomicU64,
    /// Per tenant (row id) and strategy (a built-in's name, a deployed
    /// one's, or a tenant's `name@version`).
    per_strategy: std::sync::Mutex<std::collections::BTreeMap<(i64, String), StrategyStats>>,
}

/// Bounds of the per-strategy histograms: fuel units, and seconds.
pub const FUEL_BOUNDS: [f64; 6] = [1e4, 1e5, 1e6, 1e7, 5e7, 1e8];
pub const SECONDS_BOUNDS: [f64; 7] = [0.0001, 0.0005, 0.001, 0.005, 0.025, 0.1, 0.25];

/// One strategy's figures for one tenant, for `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct StrategyStats {
    /// Evaluations by outcome (`ok` or the fault's kind).
    pub by_outcome: std::collections::BTreeMap<String, u64>,
    /// Actions planned, by kind.
    pub actions: std::collections::BTreeMap<String, u64>,
    /// Fuel per evaluation ([`FUEL_BOUNDS`]) and seconds in the sandbox
    /// ([`SECONDS_BOUNDS`]).
    pub fuel: Buckets,
    pub seconds: Buckets,
}

/// A histogram: counts at or under each bound, the count and the sum.
#[derive(Clone, Debug, Default)]
pub struct Buckets {
    pub counts: Vec<u64>,
    pub count: u64,
    pub sum: f64,
}

impl Buckets {
    fn observe(&mut self, bounds: &[f64], value: f64) {
        self.counts.resize(bounds.len(), 0);
        for (count, bound) in self.counts.iter_mut().zip(bounds) {
            if value <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += value;
    }
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

    fn observe_strategy(
        &self,
        tenant_id: i64,
        strategy: &str,
        evaluation: &NewEvaluation,
        actions: &[&str],
    ) {
        let Ok(mut all) = self.per_strategy.lock() else {
            return;
        };
        let stats = all.entry((tenant_id, strategy.to_owned())).or_default();
        *stats
            .by_outcome
            .entry(evaluation.outcome.clone())
            .or_default() += 1;
        for kind in actions {
            *stats.actions.entry((*kind).to_owned()).or_default() += 1;
        }
        if let Some(fuel) = evaluation.fuel_used {
            stats.fuel.observe(&FUEL_BOUNDS, fuel as f64);
        }
        stats
            .seconds
            .observe(&SECONDS_BOUNDS, evaluation.duration_us as f64 / 1e6);
    }

    /// Per tenant (row id) and strategy: evaluations by outcome, actions by
    /// kind, fuel and time.
    pub fn per_strategy(&self) -> Vec<((i64, String), StrategyStats)> {
        self.per_strategy
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
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
            strategies: Mutex::default(),
            strategies_dir: None,
            configured: limits,
            limits: std::sync::RwLock::new(limits),
            own_limits: Mutex::default(),
            stats: EngineStats::default(),
            quarantined: Mutex::default(),
            health: Mutex::default(),
        })
    }

    /// Also offer every `NAME.wasm` in `dir` as strategy `NAME` (after the
    /// built-ins, which cannot be shadowed). Read when first used.
    pub fn with_strategies_dir(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.strategies_dir = dir;
        self
    }

    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// The sandbox, for the registry's checks and replays.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The host-wide per-evaluation limits in force.
    pub fn limits(&self) -> Limits {
        *self.limits.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The configured limits, under what an operator set at run time.
    pub fn configured_limits(&self) -> Limits {
        self.configured
    }

    /// An operator's host-wide limits (over the configured ones) take
    /// effect from the next evaluation.
    pub fn set_host_limits(&self, values: &crate::limits::LimitValues) {
        *self.limits.write().unwrap_or_else(|e| e.into_inner()) =
            crate::limits::apply(&self.configured, values, None);
    }

    /// A tenant plugin's own limits were set (or removed): they take effect
    /// from the next evaluation of any of its versions.
    pub fn set_plugin_limits(
        &self,
        tenant_id: i64,
        name: &str,
        own: Option<crate::store::limits::Stored>,
    ) {
        self.own_limits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(format!("{tenant_id}/{name}"), own);
    }

    /// The limits `strategy` runs under for `tenant_id`: a tenant plugin's
    /// own over the host-wide ones (see [`crate::limits::effective`]); the
    /// host-wide ones for built-in and deployed strategies.
    pub fn limits_for(&self, store: &Store, tenant_id: i64, strategy: &str) -> Limits {
        let host = self.limits();
        let Some((name, _)) = strategy.split_once('@') else {
            return host;
        };
        let key = format!("{tenant_id}/{name}");
        let known = self
            .own_limits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned();
        let own = match known {
            Some(own) => own,
            None => {
                let plugin = name.to_owned();
                let own = store
                    .read_blocking(move |conn| {
                        crate::store::limits::plugin(conn, tenant_id, &plugin)
                    })
                    .unwrap_or_else(|error| {
                        tracing::error!(%error, strategy, "reading a plugin's limits");
                        None
                    });
                self.own_limits
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, own.clone());
                own
            }
        };
        match own {
            Some(own) => crate::limits::effective(&host, &own.values, own.by_operator()),
            None => host,
        }
    }

    /// The strategy a segment of `tenant_id` names: a built-in or deployed
    /// strategy by name, or the tenant's own uploaded version as
    /// `name@version` (read from the registry once, then kept compiled).
    pub fn strategy_for(
        &self,
        store: &Store,
        tenant_id: i64,
        name: &str,
    ) -> std::result::Result<Arc<Loaded>, String> {
        let Some((plugin, version)) = name.split_once('@') else {
            return self.strategy(name);
        };
        let key = format!("{tenant_id}/{name}");
        if let Some(found) = self
            .strategies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(found.clone());
        }
        let (plugin_name, version) = (plugin.to_owned(), version.to_owned());
        let (status, bytes) = store
            .read_blocking(move |conn| {
                crate::store::plugins::component(conn, tenant_id, &plugin_name, &version)
            })
            .map_err(|e| match e {
                StoreError::NotFound { .. } => {
                    format!("no uploaded strategy {name}; see GET /v1/plugins")
                }
                StoreError::Invalid(problems) => problems
                    .into_iter()
                    .map(|p| p.detail)
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            })?;
        let plugin = self.runtime.load(&bytes).map_err(|e| e.to_string())?;
        let (info, _) = self
            .runtime
            // Under the configured limits: what a strategy says about
            // itself does not change with the limits of its decisions.
            .describe(&plugin, &self.configured)
            .map_err(|e| format!("{name}: describe() failed: {e}"))?;
        let loaded = Arc::new(Loaded { plugin, info });
        if status == "quarantined" {
            self.quarantined
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.clone());
        }
        self.strategies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, loaded.clone());
        Ok(loaded)
    }

    /// Whether the tenant's `name@version` is in quarantine (as far as this
    /// process has loaded it).
    fn is_quarantined(&self, tenant_id: i64, name: &str) -> bool {
        name.contains('@')
            && self
                .quarantined
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&format!("{tenant_id}/{name}"))
    }

    /// An operator released the tenant's `name@version`: it runs again,
    /// with a clean record.
    pub fn release(&self, tenant_id: i64, name: &str) {
        let key = format!("{tenant_id}/{name}");
        self.quarantined
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        self.health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }

    /// The strategy (and config) a segment runs: its own, or, while that is
    /// quarantined, the newest one it ran before that can run, else the
    /// built-in ladder with `{}`.
    fn resolve(
        &self,
        store: &Store,
        tenant_id: i64,
        segment: &Segment,
    ) -> std::result::Result<(String, serde_json::Value, Arc<Loaded>), String> {
        let own = self.strategy_for(store, tenant_id, &segment.strategy)?;
        if !self.is_quarantined(tenant_id, &segment.strategy) {
            return Ok((segment.strategy.clone(), segment.config.clone(), own));
        }
        let key = segment.id.clone();
        let history = store
            .read_blocking(move |conn| store_segments::history(conn, tenant_id, &key))
            .unwrap_or_default();
        for (strategy, config) in history {
            if strategy == segment.strategy || self.is_quarantined(tenant_id, &strategy) {
                continue;
            }
            if let Ok(loaded) = self.strategy_for(store, tenant_id, &strategy)
                && !self.is_quarantined(tenant_id, &strategy)
            {
                return Ok((strategy, config, loaded));
            }
        }
        let ladder = self.strategy(DEFAULT_STRATEGY)?;
        Ok((DEFAULT_STRATEGY.to_owned(), serde_json::json!({}), ladder))
    }

    /// Counts an evaluation of a tenant's strategy version; quarantines it
    /// when its faults cross the threshold. Returns the reason when this
    /// evaluation did.
    ///
    /// The window starts from the recorded evaluations the first time a
    /// version is seen (after a restart, or a release), so counts survive
    /// a restart.
    fn watch(
        &self,
        store: &Store,
        tenant_id: i64,
        strategy: &str,
        at: DateTime<Utc>,
        ok: bool,
    ) -> Option<String> {
        if !strategy.contains('@') {
            return None;
        }
        let key = format!("{tenant_id}/{strategy}");
        let known = self
            .health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&key);
        let recorded = if known {
            Vec::new()
        } else {
            let (name, since) = (strategy.to_owned(), at - QUARANTINE_WINDOW);
            store
                .read_blocking(move |conn| {
                    crate::store::plugins::recent_outcomes(conn, tenant_id, &name, since, 1000)
                })
                .unwrap_or_else(|error| {
                    tracing::error!(%error, strategy, "reading recent outcomes");
                    Vec::new()
                })
        };
        let (faults, total) = {
            let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
            let recent = health.entry(key.clone()).or_insert_with(|| recorded.into());
            recent.push_back((at, ok));
            while recent
                .front()
                .is_some_and(|(t, _)| *t < at - QUARANTINE_WINDOW || recent.len() > 1000)
            {
                recent.pop_front();
            }
            let faults = recent.iter().filter(|(_, ok)| !ok).count();
            (faults, recent.len())
        };
        if ok || faults < QUARANTINE_FAULTS || faults * 2 < total {
            return None;
        }
        let newly = self
            .quarantined
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
        newly.then(|| {
            format!(
                "{faults} faults in its last {total} evaluations within {} minutes",
                QUARANTINE_WINDOW.num_minutes()
            )
        })
    }

    /// The built-in strategy `name`, compiled once, and its `describe()`.
    pub fn strategy(&self, name: &str) -> std::result::Result<Arc<Loaded>, String> {
        if let Some(found) = self
            .strategies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(found.clone());
        }
        let plugin = match builtin::find(name) {
            Some(builtin) => self.runtime.load(builtin.wasm),
            None => {
                let deployed = self.strategies_dir.as_ref().filter(|_| {
                    !name.is_empty()
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                });
                let path = deployed.map(|dir| dir.join(format!("{name}.wasm")));
                let Some(bytes) = path.as_ref().and_then(|p| std::fs::read(p).ok()) else {
                    let known: Vec<&str> = builtin::BUILTINS.iter().map(|b| b.name).collect();
                    return Err(format!(
                        "no strategy {name:?}; the built-ins are {}{}",
                        known.join(", "),
                        match &self.strategies_dir {
                            Some(dir) => format!(", plus NAME.wasm in {}", dir.display()),
                            None => String::new(),
                        }
                    ));
                };
                self.runtime.load(&bytes)
            }
        }
        .map_err(|e| e.to_string())?;
        let (info, _) = self
            .runtime
            // Under the configured limits: what a strategy says about
            // itself does not change with the limits of its decisions.
            .describe(&plugin, &self.configured)
            .map_err(|e| format!("{name}: describe() failed: {e}"))?;
        let loaded = Arc::new(Loaded { plugin, info });
        self.strategies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_owned(), loaded.clone());
        Ok(loaded)
    }

    /// Checks a segment's strategy and config: the strategy exists, and the
    /// config satisfies its `config-schema` when it declares one. Every
    /// problem names the field at fault (`config/…` for schema errors).
    pub fn check_segment(
        &self,
        store: &Store,
        tenant_id: i64,
        strategy: &str,
        config: &serde_json::Value,
    ) -> std::result::Result<(), Vec<crate::store::FieldError>> {
        use crate::store::FieldError;
        if let Some((name, version)) = strategy.split_once('@') {
            let (name, version) = (name.to_owned(), version.to_owned());
            let found = store.read_blocking(move |conn| {
                crate::store::plugins::get(conn, tenant_id, &name, &version)
            });
            match found {
                Ok(found) if found.status == "retired" => {
                    return Err(vec![FieldError::new(
                        "strategy",
                        format!("{strategy} is retired"),
                    )]);
                }
                Ok(_) => {}
                Err(StoreError::NotFound { .. }) => {
                    return Err(vec![FieldError::new(
                        "strategy",
                        format!("no uploaded strategy {strategy}; see GET /v1/plugins"),
                    )]);
                }
                Err(other) => return Err(vec![FieldError::new("strategy", other.to_string())]),
            }
        }
        let loaded = self
            .strategy_for(store, tenant_id, strategy)
            .map_err(|e| vec![FieldError::new("strategy", e)])?;
        check_config(strategy, &loaded.info, config)
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
        // A decision whose debtor changed meanwhile is made again.
        let mut attempts = 0;
        loop {
            let new = self.decide(store, tenant_id, debtor, now)?;
            let id = debtor.to_owned();
            let recorded = store.write_blocking(move |conn| {
                let recorded = evaluations::record(conn, tenant_id, &id, &new, Utc::now())?;
                evaluations::get(conn, tenant_id, &recorded)
            });
            attempts += 1;
            match recorded {
                Err(StoreError::Stale) if attempts < 5 => continue,
                other => return other,
            }
        }
    }

    /// Builds the case, runs the segment's strategy and the guardrails:
    /// the evaluation, not yet recorded.
    fn decide(
        &self,
        store: &Store,
        tenant_id: i64,
        debtor: &str,
        now: DateTime<Utc>,
    ) -> Result<NewEvaluation> {
        let id = debtor.to_owned();
        let reading = std::time::Instant::now();
        let ((mut case, debtor_version), (segments, policy), deferrals, debtor) = store
            .read_blocking(move |conn| {
                let version = evaluations::debtor_version(conn, tenant_id, &id)?;
                let case = cases::build(conn, tenant_id, &id, now, DEFAULT, serde_json::json!({}))?;
                Ok((
                    (case, version),
                    (
                        store_segments::list(conn, tenant_id)?,
                        policies::get(conn, tenant_id)?,
                    ),
                    cases::deferrals(conn, tenant_id, &id)?,
                    debtors::get(conn, tenant_id, &id)?,
                ))
            })?;
        self.stats.case_micros.fetch_add(
            reading.elapsed().as_micros() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        let segment = segments::choose(&segments, &case)
            .cloned()
            .unwrap_or_else(Segment::implicit_default);
        case.debtor.segment = segment.id.clone();
        // An A/B split: the debtor's arm decides, with its own config.
        let mut arm = segment.clone();
        if let Some(split) = &segment.split
            && split.takes(tenant_id, &case.debtor.id)
        {
            arm.strategy = split.strategy.clone();
            arm.config = split.config.clone();
        }
        case.config = arm.config.clone();
        let resolved = self.resolve(store, tenant_id, &arm);
        if let Ok((_, config, _)) = &resolved {
            case.config = config.clone();
        }
        let input = evaluations::deflate_input(&case)?;
        let input_hash = hex::encode(case.digest());
        let (strategy_name, loaded) = match resolved {
            Ok((name, _, loaded)) => (name, loaded),
            // A strategy that cannot be loaded (its file gone, say) is a
            // fault of this evaluation: recorded, retried after a backoff.
            Err(error) => {
                let new = NewEvaluation {
                    at: now,
                    debtor_version,
                    segment: segment.id.clone(),
                    strategy: segment.strategy.clone(),
                    plugin_digest: String::new(),
                    contract: String::new(),
                    input_hash,
                    input,
                    outcome: "unavailable".into(),
                    error: Some(format!("segment {}: {error}", segment.id)),
                    plan: None,
                    verdicts: Vec::new(),
                    log: serde_json::Value::Null,
                    fuel_used: None,
                    duration_us: 0,
                    review_at: None,
                    shadow: None,
                };
                self.stats.record(&new.outcome, None, 0);
                return Ok(new);
            }
        };
        let strategy = &loaded.plugin;
        let started = std::time::Instant::now();
        let limits = self.limits_for(store, tenant_id, &strategy_name);
        let decided = self.runtime.decide(strategy, &case, &limits);
        let mut new = NewEvaluation {
            at: now,
            debtor_version,
            segment: segment.id.clone(),
            strategy: strategy_name.clone(),
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
            shadow: None,
        };
        let mut kinds: Vec<&'static str> = Vec::new();
        match decided {
            Ok(decision) => {
                kinds = decision.plan.actions.iter().map(|a| a.kind()).collect();
                new.duration_us = decision.duration.as_micros() as u64;
                new.fuel_used = Some(decision.fuel_used);
                new.log = to_value(&decision.log)?;
                new.verdicts =
                    self.guard(&policy, &case, &debtor, &deferrals, &decision.plan.actions)?;
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
        if let Some(shadow) = segment.shadow.as_ref().filter(|s| **s != strategy_name) {
            case.config = segment.config.clone();
            new.shadow = Some(self.shadow(store, tenant_id, shadow, &case));
        }
        self.stats
            .record(&new.outcome, new.fuel_used, new.duration_us);
        self.stats
            .observe_strategy(tenant_id, &strategy_name, &new, &kinds);
        if let Some(reason) = self.watch(store, tenant_id, &strategy_name, now, new.outcome == "ok")
        {
            self.quarantine(store, tenant_id, &strategy_name, &debtor.id, &reason, now)?;
        }
        Ok(new)
    }

    /// What `strategy` would decide on `case`, for the record only.
    fn shadow(
        &self,
        store: &Store,
        tenant_id: i64,
        strategy: &str,
        case: &crate::case::Case,
    ) -> evaluations::ShadowRun {
        let mut run = evaluations::ShadowRun {
            strategy: strategy.to_owned(),
            outcome: "ok".into(),
            error: None,
            plan: None,
            fuel_used: None,
            duration_us: 0,
        };
        match self.strategy_for(store, tenant_id, strategy) {
            Err(error) => {
                run.outcome = "unavailable".into();
                run.error = Some(error);
            }
            Ok(loaded) => match self.runtime.decide(
                &loaded.plugin,
                case,
                &self.limits_for(store, tenant_id, strategy),
            ) {
                Ok(decision) => {
                    run.fuel_used = Some(decision.fuel_used);
                    run.duration_us = decision.duration.as_micros() as u64;
                    run.plan = serde_json::to_value(&decision.plan).ok();
                }
                Err(fault) => {
                    run.outcome = fault.kind().into();
                    run.error = Some(fault.to_string());
                }
            },
        }
        run
    }

    /// Puts `strategy` (`name@version`) in quarantine: recorded on the
    /// version, on the timeline of the debtor whose evaluation tipped it
    /// (so subscriptions hear of it), and in the metrics.
    fn quarantine(
        &self,
        store: &Store,
        tenant_id: i64,
        strategy: &str,
        debtor: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let Some((name, version)) = strategy.split_once('@') else {
            return Ok(());
        };
        tracing::warn!(tenant_id, strategy, reason, "strategy version quarantined");
        self.stats
            .quarantines
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (name, version, debtor, reason) = (
            name.to_owned(),
            version.to_owned(),
            debtor.to_owned(),
            reason.to_owned(),
        );
        store.write_blocking(move |conn| {
            crate::store::plugins::quarantine(conn, tenant_id, &name, &version, &reason, now)?;
            let debtor_row = debtors::row_id(conn, tenant_id, &debtor)?;
            crate::store::timeline::append(
                conn,
                tenant_id,
                debtor_row,
                now,
                crate::store::timeline::EventKind::PluginQuarantined,
                Some(&format!("{name}@{version}")),
                &serde_json::json!({ "plugin": name, "version": version, "reason": reason,
                                     "fallback": "the segment's previous strategy, else ladder" }),
            )
        })
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
        store.write_blocking(move |conn| evaluations::forget_settled(conn, now))?;
        let due = store.read_blocking(|conn| evaluations::due_for_review(conn, now, batch))?;
        let next = std::sync::atomic::AtomicUsize::new(0);
        let faults = std::sync::atomic::AtomicUsize::new(0);
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(due.len().max(1));
        let fault = |debtor: &str, what: &str| {
            faults.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(
                debtor,
                what,
                "evaluation did not succeed; retried after backoff"
            );
        };
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    // Decisions are recorded RECORD_BATCH at a time, in one
                    // transaction: one disk flush per batch, not per debtor.
                    let mut decided = Vec::with_capacity(RECORD_BATCH);
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if let Some((tenant, debtor)) = due.get(i) {
                            match self.decide(store, *tenant, debtor, now) {
                                Ok(new) => {
                                    if new.outcome != "ok" {
                                        fault(debtor, &new.outcome);
                                    }
                                    decided.push((*tenant, debtor.clone(), new));
                                }
                                Err(error) => fault(debtor, &error.to_string()),
                            }
                        }
                        let done = i >= due.len();
                        if decided.len() >= RECORD_BATCH || (done && !decided.is_empty()) {
                            let batch = std::mem::take(&mut decided);
                            let writing = std::time::Instant::now();
                            let recorded =
                                store.write_blocking(move |conn| record_all(conn, batch));
                            self.stats.record_micros.fetch_add(
                                writing.elapsed().as_micros() as u64,
                                std::sync::atomic::Ordering::Relaxed,
                            );
                            match recorded {
                                Ok(failed) => {
                                    for (debtor, error) in failed {
                                        fault(&debtor, &error);
                                    }
                                }
                                Err(error) => fault("(a batch)", &error.to_string()),
                            }
                        }
                        if done {
                            break;
                        }
                    }
                });
            }
        });
        Ok((due.len(), faults.into_inner()))
    }

    /// Each action after the guardrails ([`Policy::guard`]), as recorded.
    fn guard(
        &self,
        policy: &Policy,
        case: &Case,
        debtor: &Debtor,
        deferrals: &[(String, chrono::NaiveDate)],
        actions: &[Action],
    ) -> Result<Vec<ActionVerdict>> {
        let mut facts = facts(case, debtor);
        for invoice in &mut facts.invoices {
            invoice.deferred_until = deferrals
                .iter()
                .find(|(id, _)| *id == invoice.id)
                .map(|(_, until)| *until);
        }
        policy
            .guard(facts, case.today(), actions)
            .into_iter()
            .map(|guarded| {
                Ok(ActionVerdict {
                    planned: to_value(&guarded.planned)?,
                    verdict: guarded.verdict().into(),
                    action: guarded.kept.as_ref().map(to_value).transpose()?,
                    reasons: guarded
                        .reasons
                        .iter()
                        .map(|reason| {
                            // The rule's facts, and a sentence for people.
                            let mut value = to_value(reason)?;
                            if let Some(fields) = value.as_object_mut() {
                                fields.insert("text".into(), reason.to_string().into());
                            }
                            Ok(value)
                        })
                        .collect::<Result<_>>()?,
                })
            })
            .collect()
    }
}

/// Checks a config for `strategy` (named in messages): a JSON object that
/// satisfies the strategy's `config-schema` when it declares one. Every
/// problem names the field at fault (`config/…` for schema errors).
pub fn check_config(
    strategy: &str,
    info: &Info,
    config: &serde_json::Value,
) -> std::result::Result<(), Vec<crate::store::FieldError>> {
    use crate::store::FieldError;
    if !config.is_object() {
        return Err(vec![FieldError::new("config", "a JSON object")]);
    }
    let Some(schema) = &info.config_schema else {
        return Ok(());
    };
    let schema: serde_json::Value = serde_json::from_str(schema).map_err(|e| {
        vec![FieldError::new(
            "strategy",
            format!("{strategy} declares a config schema that is not JSON: {e}"),
        )]
    })?;
    let validator = jsonschema::validator_for(&schema).map_err(|e| {
        vec![FieldError::new(
            "strategy",
            format!("{strategy} declares an invalid config schema: {e}"),
        )]
    })?;
    let problems: Vec<FieldError> = validator
        .iter_errors(config)
        .map(|e| {
            let at = e.instance_path().to_string();
            FieldError::new(format!("config{at}"), e.to_string())
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Evaluations a scheduler worker records in one transaction.
const RECORD_BATCH: usize = 128;

/// Records decisions, each in its own savepoint so one that cannot be
/// recorded (its debtor deleted meanwhile, say) leaves the others be.
/// Returns the debtors that failed, with why.
fn record_all(
    conn: &rusqlite::Connection,
    decided: Vec<(i64, String, NewEvaluation)>,
) -> Result<Vec<(String, String)>> {
    let mut failed = Vec::new();
    for (tenant, debtor, new) in decided {
        conn.execute_batch("SAVEPOINT evaluation")?;
        match evaluations::record(conn, tenant, &debtor, &new, Utc::now()) {
            Ok(_) => conn.execute_batch("RELEASE evaluation")?,
            // Changed under the decision: still due, decided again next pass.
            Err(StoreError::Stale) => {
                conn.execute_batch("ROLLBACK TO evaluation; RELEASE evaluation")?;
                tracing::debug!(debtor, "stale decision dropped");
            }
            Err(error) => {
                conn.execute_batch("ROLLBACK TO evaluation; RELEASE evaluation")?;
                failed.push((debtor, error.to_string()));
            }
        }
    }
    Ok(failed)
}

fn to_value<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| StoreError::Internal(e.to_string()))
}

/// What the guardrails need: the case's invoices and contacts, and the
/// debtor's own contact details and opt-outs (the case shows only the
/// channels left after both, which cannot tell the two reasons apart).
fn facts(case: &Case, debtor: &Debtor) -> DebtorFacts {
    DebtorFacts {
        time_zone: case.zone(),
        reachable: debtor.channels_with_details(),
        opted_out: debtor.opt_outs.clone(),
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
