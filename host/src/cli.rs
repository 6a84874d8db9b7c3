//! The `dun` command line. Parses arguments, calls the domain, prints.
//!
//! Plugin faults are ordinary outcomes here: they are printed with their kind
//! and the plugin's log tail, and the process exits with status 1. Status 2
//! is for usage and I/O errors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::case::Case;
use crate::runtime::{Limits, PluginError, Runtime, RuntimeConfig};

#[derive(Parser)]
#[command(
    name = "dun",
    version,
    about = "Dunning with strategies as sandboxed WebAssembly components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Work with strategy components.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Load a component, type-check it against the contract, and show what
    /// it says about itself and what it imports.
    Check {
        /// The component (.wasm), or the name of a built-in strategy.
        plugin: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Run a component on one case and print the plan, its log, the fuel it
    /// used and how long it took.
    Run {
        /// The component (.wasm), or the name of a built-in strategy.
        plugin: String,
        /// The case, as JSON (see examples/cases/).
        #[arg(long)]
        case: PathBuf,
        /// A JSON config to use instead of the case's own.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Decide at this instant (RFC 3339) instead of the case's `now`.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        #[command(flatten)]
        limits: LimitArgs,
    },
}

/// Per-evaluation limits; the defaults are the host's.
#[derive(Args)]
struct LimitArgs {
    /// Fuel (roughly, Wasm instructions) per evaluation.
    #[arg(long)]
    fuel: Option<u64>,
    /// Linear-memory cap per instance, in MiB.
    #[arg(long)]
    memory_mib: Option<usize>,
    /// Wall-clock deadline per evaluation, in milliseconds.
    #[arg(long)]
    deadline_ms: Option<u64>,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        let defaults = Limits::default();
        Limits {
            fuel: self.fuel.unwrap_or(defaults.fuel),
            memory_bytes: self.memory_mib.map_or(defaults.memory_bytes, |m| m << 20),
            deadline_ms: self.deadline_ms.unwrap_or(defaults.deadline_ms),
            ..defaults
        }
    }
}

/// Run the CLI; the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Plugin(PluginCommand::Check { plugin, limits }) => {
            check(&plugin, &limits.limits())
        }
        Command::Plugin(PluginCommand::Run {
            plugin,
            case,
            config,
            now,
            limits,
        }) => run_case(&plugin, &case, config.as_deref(), now, &limits.limits()),
    }
}

/// The bytes of a component file, or of the built-in strategy of that name.
fn component_bytes(plugin: &str) -> anyhow::Result<Vec<u8>> {
    let path = Path::new(plugin);
    if !path.exists()
        && let Some(builtin) = crate::builtin::find(plugin)
    {
        return Ok(builtin.wasm.to_vec());
    }
    std::fs::read(path).with_context(|| format!("reading {plugin}"))
}

fn runtime() -> anyhow::Result<Runtime> {
    Ok(Runtime::new(RuntimeConfig::default())?)
}

/// Print a plugin fault and its log tail; status 1.
fn report(error: &PluginError) -> ExitCode {
    eprintln!("plugin error [{}]: {error}", error.kind());
    if let PluginError::InvalidPlan { problems, .. } = error {
        for problem in problems {
            eprintln!("  - {problem}");
        }
    }
    if let Some(tail) = error.log_tail()
        && !tail.lines.is_empty()
    {
        eprintln!("plugin log:\n{tail}");
    }
    ExitCode::from(1)
}

fn check(plugin: &str, limits: &Limits) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let loaded = match runtime.load(&component_bytes(plugin)?) {
        Ok(loaded) => loaded,
        Err(error) => return Ok(report(&error)),
    };
    let (info, _log) = match runtime.describe(&loaded, limits) {
        Ok(described) => described,
        Err(error) => return Ok(report(&error)),
    };
    println!("{} {}", info.name, info.version);
    println!("  {}", info.description);
    println!("contract:   dun:strategy@{}", loaded.contract);
    println!("sha256:     {}", loaded.digest);
    println!("size:       {} bytes", loaded.size);
    match &info.config_schema {
        Some(schema) => println!("config:     JSON Schema, {} bytes", schema.len()),
        None => println!("config:     none"),
    }
    println!("imports:");
    for import in &loaded.imports {
        println!("  {import}");
    }
    Ok(ExitCode::SUCCESS)
}

fn run_case(
    plugin: &str,
    case_path: &Path,
    config: Option<&Path>,
    now: Option<chrono::DateTime<chrono::Utc>>,
    limits: &Limits,
) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(case_path)
        .with_context(|| format!("reading {}", case_path.display()))?;
    let mut case: Case = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid case", case_path.display()))?;
    if let Some(config) = config {
        let text = std::fs::read_to_string(config)
            .with_context(|| format!("reading {}", config.display()))?;
        case.config = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", config.display()))?;
    }
    if let Some(now) = now {
        case.now = now;
    }
    let runtime = runtime()?;
    let loaded = match runtime.load(&component_bytes(plugin)?) {
        Ok(loaded) => loaded,
        Err(error) => return Ok(report(&error)),
    };
    match runtime.decide(&loaded, &case, limits) {
        Ok(decision) => {
            let out = serde_json::json!({
                "plan": decision.plan,
                "log": decision.log.lines,
                "fuel_used": decision.fuel_used,
                "duration_us": decision.duration.as_micros() as u64,
                "peak_memory_bytes": decision.peak_memory_bytes,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => Ok(report(&error)),
    }
}
