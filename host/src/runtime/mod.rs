//! The sandbox that runs strategies: wasmtime, the contract, and the limits.
//!
//! One [`Runtime`] owns one wasmtime `Engine` (component model, Cranelift,
//! pooling allocator, fuel and epoch interruption, deterministic floats, no
//! threads) and a cache of loaded plugins keyed by the SHA-256 of their bytes.
//! [`Runtime::load`] compiles (or loads precompiled machine code from the
//! disk cache), type-checks against the contract version the component
//! imports and prepares an `InstancePre`. [`Runtime::decide`] then runs one
//! evaluation in a **fresh instance**: nothing survives from one debtor to the
//! next, so every decision is replayable from its case alone.
//!
//! Invariants:
//! - [`Limits`] hold for the whole life of an instance: instantiation (start
//!   functions), the call, the guest's own allocations and post-return
//!   cleanup all run under the same fuel, memory cap and deadline.
//! - A plugin fault is a [`PluginError`] value carrying the plugin's log
//!   tail, never a panic or a hang of the host; the engine stays usable.
//! - A plan leaves this module only after [`crate::plan::Plan::validate`].

mod cache;
pub mod contract;
pub mod sandbox;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, types::ComponentItem};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap,
};

use crate::case::Case;
use crate::plan::{Plan, PlanLimits, PlanProblem};
use cache::DiskCache;
use contract::ContractVersion;
use sandbox::{LogTail, Sandbox};

/// How often the epoch advances; the wall-clock deadline's granularity.
const EPOCH_TICK: Duration = Duration::from_millis(1);

/// What one component instance may hold, and so what the pool keeps for
/// each of the `max_instances` instances that can be live at once. A
/// component that needs more is refused when it is loaded (a `compile`
/// fault naming the limit) rather than failing under load when the pool
/// runs dry, so `max_instances` instances of any accepted component fit.
///
/// - Core instances: a Rust guest has 3; a Python guest built with
///   componentize-py has 14 (libc, libpython, its runtime, the WASI
///   adapter, shims), 38 with `--stub-wasi` (one per stubbed function).
///   The pool only counts them: the memory behind them (their `VMContext`s)
///   is capped per component by wasmtime's component instance size (1 MiB;
///   the Python guest uses about 400 KiB), whatever their number.
/// - Memories and tables: Rust and Python guests alike have one memory and
///   two tables (the function table and the shims' table). Each is a slot
///   reserved in the pool.
const CORE_INSTANCES_PER_COMPONENT: u32 = 64;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 4;

/// Per-evaluation limits. Defaults suit a real strategy with a large margin
/// (the ladder uses about 35,000 units of fuel and 1-2 MiB of memory).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Wasm instructions (roughly) one evaluation may execute.
    pub fuel: u64,
    /// Linear memory one instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock time one evaluation may take, in milliseconds.
    pub deadline_ms: u64,
    /// Bytes of log kept per evaluation (the newest lines win).
    pub log_bytes: usize,
    /// Bounds on the returned plan.
    pub plan: PlanLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 50_000_000,
            memory_bytes: 64 << 20,
            deadline_ms: 250,
            log_bytes: 16 << 10,
            plan: PlanLimits::default(),
        }
    }
}

/// Host-wide settings of the runtime.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Largest component accepted, in bytes.
    pub max_component_bytes: usize,
    /// The most memory any plugin may be allowed (sizes the pool's slots).
    pub max_memory_bytes: usize,
    /// Instances that can be live at once (evaluations in parallel).
    pub max_instances: u32,
    /// Where compiled components are kept across restarts; `None` keeps
    /// them in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Limits applied when a plugin has none of its own.
    pub limits: Limits,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            max_component_bytes: 64 << 20,
            max_memory_bytes: 1 << 30,
            max_instances: 128,
            cache_dir: None,
            limits: Limits::default(),
        }
    }
}

/// What a strategy says about itself (`describe`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    pub name: String,
    pub version: String,
    pub description: String,
    pub config_schema: Option<String>,
}

/// Why a plugin could not be loaded or did not produce a usable plan.
/// Faults during an evaluation carry the plugin's log tail.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("component is {size} bytes; the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("not a WebAssembly component: {message}")]
    NotAComponent { message: String },
    #[error("component does not compile: {message}")]
    Compile { message: String },
    #[error("component imports {import:?}, which dun does not provide")]
    ForbiddenImport { import: String },
    #[error("component does not match contract dun:strategy@{contract}: {message}")]
    WrongContract { contract: String, message: String },
    #[error("ran out of fuel after {used} units (limit {limit})")]
    OutOfFuel {
        used: u64,
        limit: u64,
        log_tail: LogTail,
    },
    #[error("tried to grow memory past the limit of {limit} bytes")]
    MemoryLimit { limit: usize, log_tail: LogTail },
    #[error("did not finish within the deadline of {limit_ms} ms")]
    Deadline { limit_ms: u64, log_tail: LogTail },
    #[error("overflowed its stack")]
    StackOverflow { log_tail: LogTail },
    #[error("trapped: {message}")]
    Trap { message: String, log_tail: LogTail },
    #[error("refused the case: {reason}")]
    Refused { reason: String, log_tail: LogTail },
    #[error("returned a plan of {actions} actions; the limit is {limit}")]
    PlanTooLarge {
        actions: usize,
        limit: usize,
        log_tail: LogTail,
    },
    #[error("returned an invalid plan: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidPlan {
        problems: Vec<PlanProblem>,
        log_tail: LogTail,
    },
}

impl PluginError {
    /// A short, stable name for metrics and the API, e.g. "out-of-fuel".
    pub fn kind(&self) -> &'static str {
        match self {
            PluginError::TooLarge { .. } => "too-large",
            PluginError::NotAComponent { .. } => "not-a-component",
            PluginError::Compile { .. } => "compile",
            PluginError::ForbiddenImport { .. } => "forbidden-import",
            PluginError::WrongContract { .. } => "wrong-contract",
            PluginError::OutOfFuel { .. } => "out-of-fuel",
            PluginError::MemoryLimit { .. } => "memory-limit",
            PluginError::Deadline { .. } => "deadline",
            PluginError::StackOverflow { .. } => "stack-overflow",
            PluginError::Trap { .. } => "trap",
            PluginError::Refused { .. } => "refused",
            PluginError::PlanTooLarge { .. } => "plan-too-large",
            PluginError::InvalidPlan { .. } => "invalid-plan",
        }
    }

    /// The plugin's log up to the fault, when the fault happened while running.
    pub fn log_tail(&self) -> Option<&LogTail> {
        match self {
            PluginError::OutOfFuel { log_tail, .. }
            | PluginError::MemoryLimit { log_tail, .. }
            | PluginError::Deadline { log_tail, .. }
            | PluginError::StackOverflow { log_tail }
            | PluginError::Trap { log_tail, .. }
            | PluginError::Refused { log_tail, .. }
            | PluginError::PlanTooLarge { log_tail, .. }
            | PluginError::InvalidPlan { log_tail, .. } => Some(log_tail),
            _ => None,
        }
    }
}

/// The version-specific prepared instance.
enum Prepared {
    V0_1_0(contract::v0_1_0::StrategyPre<Sandbox>),
}

/// Where a loaded plugin's machine code came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadOrigin {
    /// Compiled from the component's bytes.
    Compiled,
    /// Precompiled code from the disk cache, checked against its digest.
    DiskCache,
}

/// A component loaded, type-checked and ready to instantiate.
pub struct Plugin {
    /// SHA-256 of the component's bytes, hex.
    pub digest: String,
    pub size: usize,
    pub contract: ContractVersion,
    /// Everything the component imports, e.g. `wasi:cli/stderr@0.2.6`.
    pub imports: Vec<String>,
    pub origin: LoadOrigin,
    prepared: Prepared,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("digest", &self.digest)
            .field("contract", &self.contract)
            .finish_non_exhaustive()
    }
}

/// The result of one successful evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    pub plan: Plan,
    pub fuel_used: u64,
    pub duration: Duration,
    pub peak_memory_bytes: usize,
    pub log: LogTail,
}

/// Usage figures of a call that produced a value.
struct Run<T> {
    value: T,
    fuel_used: u64,
    duration: Duration,
    peak_memory_bytes: usize,
    log: LogTail,
}

/// Advances the engine's epoch until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("dun-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .ok();
        EpochTicker { stop, thread }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Failure to set up the runtime itself (not a plugin's fault).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("wasmtime engine: {0}")]
    Engine(String),
    #[error("compiled-component cache at {dir}: {source}")]
    Cache {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// The strategy sandbox. Cheap to share (`Arc`), safe to use from many
/// threads at once: each evaluation has its own store.
pub struct Runtime {
    engine: Engine,
    linker: Linker<Sandbox>,
    config: RuntimeConfig,
    disk: Option<DiskCache>,
    loaded: Mutex<HashMap<String, Arc<Plugin>>>,
    _ticker: EpochTicker,
}

impl Runtime {
    /// A runtime with `config`. Builds the engine and the linker once.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(config.max_instances)
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .total_core_instances(
                config
                    .max_instances
                    .saturating_mul(CORE_INSTANCES_PER_COMPONENT),
            )
            .max_memories_per_component(MEMORIES_PER_COMPONENT)
            .total_memories(config.max_instances.saturating_mul(MEMORIES_PER_COMPONENT))
            .max_tables_per_component(TABLES_PER_COMPONENT)
            .total_tables(config.max_instances.saturating_mul(TABLES_PER_COMPONENT))
            .total_stacks(config.max_instances)
            .max_memory_size(config.max_memory_bytes)
            // Reset memory by scanning for dirty pages and keeping up to
            // 2 MiB resident instead of returning it to the kernel: the
            // fresh-instance-per-decision cost is dominated by that reset.
            .pagemap_scan(Enabled::Auto)
            .linear_memory_keep_resident(2 << 20)
            .table_keep_resident(64 << 10);
        let mut wasm = Config::new();
        wasm.wasm_component_model(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .consume_fuel(true)
            .epoch_interruption(true)
            // Determinism: the same case gives the same plan on any machine.
            // (Threads are off too: the `threads` feature is not compiled in.)
            .cranelift_nan_canonicalization(true)
            .relaxed_simd_deterministic(true)
            .memory_init_cow(true)
            .parallel_compilation(true)
            // Enough frames to locate a fault, few enough to read in a log.
            .wasm_backtrace_max_frames(std::num::NonZeroUsize::new(8));
        let engine = Engine::new(&wasm).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .and_then(|()| contract::v0_1_0::add_to_linker(&mut linker))
            .map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;
        let disk = match &config.cache_dir {
            Some(dir) => {
                Some(
                    DiskCache::open(dir, &engine).map_err(|source| RuntimeError::Cache {
                        dir: dir.clone(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        Ok(Runtime {
            _ticker: EpochTicker::start(engine.clone()),
            engine,
            linker,
            config,
            disk,
            loaded: Mutex::new(HashMap::new()),
        })
    }

    /// The host-wide configuration.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Load a component: check its size, compile it (or reuse the compiled
    /// code cached for these exact bytes), check every import is one dun
    /// provides and that it matches the contract version it was built for.
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<Plugin>, PluginError> {
        if bytes.len() > self.config.max_component_bytes {
            return Err(PluginError::TooLarge {
                size: bytes.len(),
                limit: self.config.max_component_bytes,
            });
        }
        let digest = hex::encode(Sha256::digest(bytes));
        if let Some(plugin) = self.loaded_plugins().get(&digest) {
            return Ok(plugin.clone());
        }
        let (component, origin) = self.compile(bytes, &digest)?;
        let plugin = Arc::new(self.prepare(component, origin, digest.clone(), bytes.len())?);
        self.loaded_plugins().insert(digest, plugin.clone());
        Ok(plugin)
    }

    fn loaded_plugins(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Plugin>>> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn compile(&self, bytes: &[u8], digest: &str) -> Result<(Component, LoadOrigin), PluginError> {
        if let Some(component) = self
            .disk
            .as_ref()
            .and_then(|d| d.load(&self.engine, digest))
        {
            return Ok((component, LoadOrigin::DiskCache));
        }
        if !wasmparser_is_component(bytes) {
            return Err(PluginError::NotAComponent {
                message: if bytes.starts_with(b"\0asm") {
                    "this is a core WebAssembly module; build for wasm32-wasip2 (or run \
                     `wasm-tools component new`) to get a component"
                        .into()
                } else {
                    "the file does not start with the WebAssembly magic bytes".into()
                },
            });
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| PluginError::Compile {
            message: format!("{e:#}"),
        })?;
        if let Some(disk) = &self.disk {
            // Best effort: failing to cache only costs a recompile later.
            let _ = disk.store(digest, &component);
        }
        Ok((component, LoadOrigin::Compiled))
    }

    fn prepare(
        &self,
        component: Component,
        origin: LoadOrigin,
        digest: String,
        size: usize,
    ) -> Result<Plugin, PluginError> {
        // Make the copy-on-write images of the component's initial memories
        // now (on Linux, a memfd per memory) rather than in its first
        // instantiation, which would pay for it within a decision's
        // deadline: a Python guest's image is 12 MiB. Best effort: should it
        // fail here, the first instantiation tries again and reports it.
        let _ = component.initialize_copy_on_write_image();
        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let contract = imports
            .iter()
            .find_map(|name| ContractVersion::of_import(name))
            .unwrap_or(ContractVersion::V0_1_0);
        for (name, item) in ty.imports(&self.engine) {
            let provided = name.starts_with("dun:strategy/") || name.starts_with("wasi:");
            let is_instance = matches!(item.ty, ComponentItem::ComponentInstance(_));
            if !provided || !is_instance {
                return Err(PluginError::ForbiddenImport {
                    import: name.to_string(),
                });
            }
        }
        let pre = self.linker.instantiate_pre(&component).map_err(|e| {
            let message = format!("{e:#}");
            match imports.iter().find(|i| message.contains(i.as_str())) {
                Some(import) if import.starts_with("wasi:") => PluginError::ForbiddenImport {
                    import: import.clone(),
                },
                _ => PluginError::WrongContract {
                    contract: contract.to_string(),
                    message,
                },
            }
        })?;
        let prepared = match contract {
            ContractVersion::V0_1_0 => {
                Prepared::V0_1_0(contract::v0_1_0::StrategyPre::new(pre).map_err(|e| {
                    PluginError::WrongContract {
                        contract: contract.to_string(),
                        message: format!("{e:#}"),
                    }
                })?)
            }
        };
        Ok(Plugin {
            digest,
            size,
            contract,
            imports,
            origin,
            prepared,
        })
    }

    /// A store for one evaluation, with every limit armed.
    fn store(&self, limits: &Limits, now: i64, seed: [u8; 32]) -> Store<Sandbox> {
        let memory = limits.memory_bytes.min(self.config.max_memory_bytes);
        let mut store = Store::new(
            &self.engine,
            Sandbox::new(now, seed, memory, limits.log_bytes),
        );
        store.limiter(|s| &mut s.memory);
        // Fuel is on in the engine config, so this cannot fail.
        let _ = store.set_fuel(limits.fuel);
        let ticks = limits
            .deadline_ms
            .div_ceil(EPOCH_TICK.as_millis() as u64)
            .max(1);
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        store
    }

    /// Run `call` in a fresh instance of `plugin`, measuring it and turning
    /// every way it can go wrong into a [`PluginError`].
    fn run<T>(
        &self,
        plugin: &Plugin,
        limits: &Limits,
        now: i64,
        seed: [u8; 32],
        call: impl FnOnce(&Prepared, &mut Store<Sandbox>) -> wasmtime::Result<T>,
    ) -> Result<Run<T>, PluginError> {
        let started = Instant::now();
        let mut store = self.store(limits, now, seed);
        let result = call(&plugin.prepared, &mut store);
        let duration = started.elapsed();
        let fuel_used = limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let log = store.data().log.take();
        let memory = &store.data().memory;
        match result {
            Ok(value) => Ok(Run {
                value,
                fuel_used,
                duration,
                peak_memory_bytes: memory.peak_bytes,
                log,
            }),
            Err(error) => Err(classify(error, memory.refused, fuel_used, limits, log)),
        }
    }

    /// Ask the plugin to describe itself, under `limits`.
    pub fn describe(
        &self,
        plugin: &Plugin,
        limits: &Limits,
    ) -> Result<(Info, LogTail), PluginError> {
        let run = self.run(
            plugin,
            limits,
            0,
            [0; 32],
            |prepared, store| match prepared {
                Prepared::V0_1_0(pre) => {
                    let instance = pre.instantiate(&mut *store)?;
                    Ok(contract::v0_1_0::info_from_wit(
                        instance.call_describe(&mut *store)?,
                    ))
                }
            },
        )?;
        Ok((run.value, run.log))
    }

    /// Decide one case in a fresh instance of `plugin`, under `limits`.
    pub fn decide(
        &self,
        plugin: &Plugin,
        case: &Case,
        limits: &Limits,
    ) -> Result<Decision, PluginError> {
        let run = self.run(
            plugin,
            limits,
            case.now.timestamp(),
            case.random_seed(),
            |prepared, store| {
                match prepared {
                    Prepared::V0_1_0(pre) => {
                        let instance = pre.instantiate(&mut *store)?;
                        let answer = contract::v0_1_0::with_case(case, |input| {
                            instance.call_decide(&mut *store, input)
                        })?;
                        Ok(answer.map(|plan| {
                            // Count before converting: a huge plan is refused
                            // without building a second copy of it.
                            if plan.actions.len() > limits.plan.max_actions {
                                Err(plan.actions.len())
                            } else {
                                Ok(contract::v0_1_0::plan_from_wit(plan))
                            }
                        }))
                    }
                }
            },
        )?;
        let log_tail = run.log;
        let converted = match run.value {
            Err(reason) => return Err(PluginError::Refused { reason, log_tail }),
            Ok(Err(actions)) => {
                return Err(PluginError::PlanTooLarge {
                    actions,
                    limit: limits.plan.max_actions,
                    log_tail,
                });
            }
            Ok(Ok(converted)) => converted,
        };
        let plan = match converted {
            Ok(plan) => plan,
            Err(bad) => {
                let problems = vec![PlanProblem {
                    action: bad.action,
                    field: bad.field.into(),
                    message: bad.message,
                }];
                return Err(PluginError::InvalidPlan { problems, log_tail });
            }
        };
        if let Err(problems) = plan.validate(case, &limits.plan) {
            return Err(PluginError::InvalidPlan { problems, log_tail });
        }
        Ok(Decision {
            plan,
            fuel_used: run.fuel_used,
            duration: run.duration,
            peak_memory_bytes: run.peak_memory_bytes,
            log: log_tail,
        })
    }
}

/// A quick look at the header: components and core modules share the magic
/// number and differ in the layer field.
fn wasmparser_is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[6..8] == [0x01, 0x00]
}

/// Name what went wrong in a failed call.
fn classify(
    error: wasmtime::Error,
    memory_refused: bool,
    used: u64,
    limits: &Limits,
    log_tail: LogTail,
) -> PluginError {
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => PluginError::OutOfFuel {
            used,
            limit: limits.fuel,
            log_tail,
        },
        Some(Trap::Interrupt) => PluginError::Deadline {
            limit_ms: limits.deadline_ms,
            log_tail,
        },
        Some(Trap::StackOverflow) => PluginError::StackOverflow { log_tail },
        // A guest's allocator aborts (traps) when it cannot grow memory; if
        // we refused a grow, that refusal is the real cause.
        _ if memory_refused => PluginError::MemoryLimit {
            limit: limits.memory_bytes,
            log_tail,
        },
        _ => PluginError::Trap {
            message: format!("{error:#}"),
            log_tail,
        },
    }
}
