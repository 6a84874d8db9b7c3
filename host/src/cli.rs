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
    /// Run the HTTP API (defaults: ./dun.db, 127.0.0.1:8080; a demo tenant
    /// and its keys are created and printed on first start).
    Serve {
        /// Listen address [env: DUN_LISTEN; dun.toml: listen].
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Run on a test clock starting at this instant (RFC 3339), moved by
        /// `POST /v1/test-clock` [env: DUN_TEST_CLOCK]. For tests and demos.
        #[arg(long)]
        test_clock: Option<chrono::DateTime<chrono::Utc>>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Import data from files.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Work with strategy components.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Back-test a strategy: replay a history of invoices and settlements
    /// day by day through it, with the host's guardrails, and print what it
    /// would have done (side by side with another one with --vs). Nothing is
    /// stored or sent.
    Simulate(SimulateArgs),
    /// Collection KPIs of a period, per currency, read from the database:
    /// DSO (standard, countback, best possible), ADD, CEI, collection and
    /// on-time rates, aging at each month's end, and the message figures
    /// (docs/kpis.md). The same numbers as `GET /v1/kpis`.
    Kpis(KpisArgs),
}

#[derive(Args)]
struct KpisArgs {
    /// The tenant.
    #[arg(long)]
    tenant: String,
    /// The period's first day (default: the day after the same date a
    /// year before --to).
    #[arg(long)]
    from: Option<chrono::NaiveDate>,
    /// The period's last day, included (default: today, UTC).
    #[arg(long)]
    to: Option<chrono::NaiveDate>,
    /// Only messages scheduled in this segment, and debtors whose latest
    /// evaluation by --to was in it.
    #[arg(long)]
    segment: Option<String>,
    /// The same for a strategy: `ladder`, `net-30@1.0.0`, or `net-30`.
    #[arg(long)]
    plugin_version: Option<String>,
    /// Only this currency.
    #[arg(long)]
    currency: Option<String>,
    /// Print the report as JSON (the shape of GET /v1/kpis).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// Where the store is.
#[derive(Args)]
struct StoreArgs {
    /// The SQLite file [env: DUN_DB; dun.toml: database; default dun.db].
    #[arg(long)]
    db: Option<PathBuf>,
    /// A dun.toml to read instead of ./dun.toml.
    #[arg(long, env = "DUN_CONFIG")]
    config: Option<PathBuf>,
}

impl StoreArgs {
    fn config(&self) -> anyhow::Result<crate::config::Config> {
        let mut config = crate::config::Config::load(self.config.as_deref())?;
        if let Some(db) = &self.db {
            config.database = db.clone();
        }
        Ok(config)
    }

    /// Opens the store, creating the file if there is none.
    fn open(&self) -> anyhow::Result<crate::store::Store> {
        let config = self.config()?;
        crate::store::Store::open(&config.database)
            .with_context(|| format!("opening {}", config.database.display()))
    }

    /// Opens a store that must exist already: a mistyped `--db` is an
    /// error, not a new empty database.
    fn open_existing(&self) -> anyhow::Result<crate::store::Store> {
        let config = self.config()?;
        anyhow::ensure!(
            config.database.exists(),
            "no database at {} (`dun serve` or `dun tenant create` makes one)",
            config.database.display()
        );
        self.open()
    }
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Lower-case letters, digits and dashes.
        id: String,
        /// Display name (default: the id).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Create an API key and print it (it is shown only this once).
    Create {
        /// The tenant (not for operator keys).
        #[arg(long)]
        tenant: Option<String>,
        /// operator, admin or client.
        #[arg(long)]
        role: String,
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Import a CSV of invoices and their settlements into a tenant: debtors,
    /// invoices, and a payment for each settled invoice. All or nothing.
    Invoices {
        file: PathBuf,
        #[arg(long)]
        tenant: String,
        /// Column layout: `standard` or `ibm-ar`.
        #[arg(long, default_value = "standard")]
        layout: String,
        /// Override one column: FIELD=COLUMN (repeatable), e.g. `--map currency=Curr`.
        #[arg(long = "map")]
        map: Vec<String>,
        /// Currency of rows without a currency column.
        #[arg(long, default_value = "USD")]
        currency: String,
        /// Time zone of new debtors.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        #[command(flatten)]
        store: StoreArgs,
    },
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
    /// Make a new strategy project in ./NAME (or --dir): a sample strategy
    /// with unit tests, golden tests for `dun plugin test`, the contract and
    /// the SDK. Build it with `cargo build --release --target wasm32-wasip2`.
    New {
        /// The strategy's name: lower-case letters, digits and dashes.
        name: String,
        /// The language to write it in.
        #[arg(long, value_enum, default_value = "rust")]
        lang: crate::kit::scaffold::Lang,
        /// Where to make it (default: ./NAME); must not exist.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Upload a component as a version of the tenant's plugin NAME to a
    /// running dun, which checks it first; prints the checks, or what failed
    /// with the plugin's log (status 1).
    Push {
        /// The component (.wasm).
        file: PathBuf,
        #[arg(long)]
        name: String,
        /// Semver, e.g. 1.2.0.
        #[arg(long)]
        version: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Run an evaluation's exact input again against another version of its
    /// plugin (--version) or any strategy (--strategy) on a running dun, and
    /// show how the plans differ.
    Replay {
        /// The evaluation (evl_…).
        evaluation: String,
        #[arg(
            long,
            conflicts_with = "strategy",
            required_unless_present = "strategy"
        )]
        version: Option<String>,
        /// A built-in strategy or name@version.
        #[arg(long)]
        strategy: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the tenant's plugins (or NAME's versions) on a running dun:
    /// status, where each is active, its limits.
    List {
        name: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show a plugin's limits on a running dun, or set them (every version
    /// of NAME) with any of --fuel, --memory-bytes, --deadline-ms,
    /// --max-actions (the plugin's other limits are kept): an admin key may
    /// only tighten; an operator key (with --tenant) may loosen. --clear
    /// removes the plugin's own.
    Limits {
        name: String,
        #[arg(long)]
        fuel: Option<u64>,
        #[arg(long)]
        memory_bytes: Option<u64>,
        #[arg(long)]
        deadline_ms: Option<u64>,
        #[arg(long)]
        max_actions: Option<u64>,
        #[arg(long, conflicts_with_all = ["fuel", "memory_bytes", "deadline_ms", "max_actions"])]
        clear: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Release a quarantined version (an operator key, with --tenant).
    Release {
        name: String,
        version: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Put back what segment SEGMENT ran before its last change.
    Rollback {
        segment: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// The KPIs of each arm of segment SEGMENT (its strategy and its A/B
    /// split's) side by side.
    Arms {
        segment: String,
        /// The period's first day (YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// The period's last day (YYYY-MM-DD).
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Run golden tests: each *.json under TESTS holds a case (or a script
    /// of steps) and the plan expected. Prints fuel and time per test and a
    /// diff for each failure; exit status 1 when any fails.
    Test {
        /// The component (.wasm), or the name of a built-in strategy.
        plugin: String,
        /// A test file, or a directory of them (cases/ folders are skipped).
        tests: PathBuf,
        #[command(flatten)]
        limits: LimitArgs,
    },
}

/// Where a running dun is, and the key to use.
#[derive(Args)]
struct ServerArgs {
    /// The service's base URL.
    #[arg(long, env = "DUN_URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// An API key of the tenant (an admin key to upload).
    #[arg(long, env = "DUN_API_KEY", hide_env_values = true)]
    key: String,
    /// With an operator key: the tenant to act in (`Dun-Tenant`).
    #[arg(long, env = "DUN_TENANT")]
    tenant: Option<String>,
}

#[derive(Args)]
struct SimulateArgs {
    /// The strategy: a component (.wasm), or the name of a built-in one.
    plugin: String,
    /// The history: a CSV of invoices and their settlements, as `dun import
    /// invoices` reads it.
    #[arg(long)]
    invoices: PathBuf,
    /// A second strategy replayed on the same history, shown side by side.
    #[arg(long)]
    vs: Option<String>,
    /// The strategy's config, as JSON (default `{}`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The second strategy's config, as JSON (default `{}`).
    #[arg(long)]
    vs_config: Option<PathBuf>,
    /// A guardrail policy, as JSON in the shape of `PUT /v1/policy`
    /// (default: the host's).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// The first day replayed (default: the first invoice date).
    #[arg(long)]
    from: Option<chrono::NaiveDate>,
    /// The last day replayed (default: the last invoice or settlement date).
    #[arg(long)]
    to: Option<chrono::NaiveDate>,
    /// An overdue invoice counts as contacted in time when a message about
    /// it went out within this many days after its due date.
    #[arg(long, default_value_t = 7)]
    within: u32,
    /// The channels every debtor can be reached on (the data has no
    /// contact details), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "email,sms,call,letter")]
    channels: Vec<String>,
    /// Write timeline.csv, timeline.json and summary.json here (in a
    /// folder per strategy with --vs).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Column layout: `standard` or `ibm-ar`.
    #[arg(long, default_value = "standard")]
    layout: String,
    /// Override one column: FIELD=COLUMN (repeatable), e.g. `--map disputed=`
    /// to ignore the disputed column.
    #[arg(long = "map")]
    map: Vec<String>,
    /// Currency of rows without a currency column.
    #[arg(long, default_value = "USD")]
    currency: String,
    /// Every debtor's time zone.
    #[arg(long, visible_alias = "zone", default_value = "UTC")]
    time_zone: String,
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
        Command::Serve {
            listen,
            test_clock,
            store,
        } => {
            let mut config = store.config()?;
            if let Some(listen) = listen {
                config.listen = listen;
            }
            if test_clock.is_some() {
                config.test_clock = test_clock;
            }
            crate::server::run(config)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tenant(TenantCommand::Create { id, name, store }) => {
            let store = store.open()?;
            let name = name.unwrap_or_else(|| id.clone());
            let now = chrono::Utc::now();
            let tenant = store
                .write_blocking(move |conn| crate::store::tenants::create(conn, &id, &name, now))?;
            println!("{}", tenant.id);
            store.close();
            Ok(ExitCode::SUCCESS)
        }
        Command::Tenant(TenantCommand::List { store }) => {
            let store = store.open_existing()?;
            for tenant in store.read_blocking(crate::store::tenants::list)? {
                println!(
                    "{}\t{}\t{}",
                    tenant.id,
                    tenant.name,
                    tenant.created_at.to_rfc3339()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Key(KeyCommand::Create {
            tenant,
            role,
            label,
            store,
        }) => {
            use crate::store::tenants::{self, Role};
            let role = Role::parse(&role)
                .with_context(|| format!("{role:?} is not a role (operator, admin, client)"))?;
            let store = store.open()?;
            let now = chrono::Utc::now();
            let created = store.write_blocking(move |conn| {
                let tenant = tenant.map(|t| tenants::get(conn, &t)).transpose()?;
                tenants::create_key(conn, tenant.as_ref(), role, label.as_deref(), now)
            })?;
            println!("{}", created.key);
            eprintln!(
                "key {} ({}); it is not shown again",
                created.info.id,
                role.as_str()
            );
            store.close();
            Ok(ExitCode::SUCCESS)
        }
        Command::Import(ImportCommand::Invoices {
            file,
            tenant,
            layout,
            map,
            currency,
            time_zone,
            store,
        }) => import_invoices(&file, &tenant, &layout, &map, &currency, &time_zone, &store),
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
        Command::Plugin(PluginCommand::New { name, lang, dir }) => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            let written = crate::kit::scaffold::create(&dir, &name, lang)?;
            println!("made {} ({} files):", dir.display(), written.len());
            let crate_name = name.replace('-', "_");
            println!("  cd {}", dir.display());
            match lang {
                crate::kit::scaffold::Lang::Rust => {
                    println!("  cargo test                                   # unit tests");
                    println!("  cargo build --release --target wasm32-wasip2 # the component");
                    println!(
                        "  dun plugin test target/wasm32-wasip2/release/{crate_name}.wasm tests/"
                    );
                }
                crate::kit::scaffold::Lang::Python => {
                    println!(
                        "  ./build.sh                                   # the component (componentize-py)"
                    );
                    println!("  dun plugin test {crate_name}.wasm tests/");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin(PluginCommand::Push {
            file,
            name,
            version,
            server,
        }) => push(&file, &name, &version, &server),
        Command::Plugin(PluginCommand::Replay {
            evaluation,
            version,
            strategy,
            server,
        }) => replay(&evaluation, version, strategy, &server),
        Command::Plugin(PluginCommand::List { name, server }) => {
            let path = match name {
                Some(name) => format!("/v1/plugins/{name}/versions"),
                None => "/v1/plugins".to_owned(),
            };
            show(&server, "GET", &path, None)
        }
        Command::Plugin(PluginCommand::Limits {
            name,
            fuel,
            memory_bytes,
            deadline_ms,
            max_actions,
            clear,
            server,
        }) => {
            let given = crate::limits::LimitValues {
                fuel,
                memory_bytes,
                deadline_ms,
                max_actions,
            };
            let path = format!("/v1/plugins/{name}/limits");
            if clear {
                show(&server, "PUT", &path, Some(b"{}".to_vec()))
            } else if given != Default::default() {
                // The route replaces the plugin's own limits: keep the ones
                // not named on the command line.
                let (status, current) = request(&server, "GET", &path, None)?;
                if status != 200 {
                    return show(&server, "GET", &path, None);
                }
                let own = |field: &str| current["own"][field].as_u64();
                let values = crate::limits::LimitValues {
                    fuel: given.fuel.or(own("fuel")),
                    memory_bytes: given.memory_bytes.or(own("memory_bytes")),
                    deadline_ms: given.deadline_ms.or(own("deadline_ms")),
                    max_actions: given.max_actions.or(own("max_actions")),
                };
                show(&server, "PUT", &path, Some(serde_json::to_vec(&values)?))
            } else {
                show(&server, "GET", &path, None)
            }
        }
        Command::Plugin(PluginCommand::Release {
            name,
            version,
            server,
        }) => show(
            &server,
            "POST",
            &format!("/v1/plugins/{name}/versions/{version}/release"),
            Some(b"{}".to_vec()),
        ),
        Command::Plugin(PluginCommand::Rollback { segment, server }) => show(
            &server,
            "POST",
            &format!("/v1/segments/{segment}/rollback"),
            Some(b"{}".to_vec()),
        ),
        Command::Plugin(PluginCommand::Arms {
            segment,
            from,
            to,
            server,
        }) => {
            let query: Vec<String> = [("from", from), ("to", to)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
                .collect();
            let mut path = format!("/v1/segments/{segment}/arms");
            if !query.is_empty() {
                path = format!("{path}?{}", query.join("&"));
            }
            show(&server, "GET", &path, None)
        }
        Command::Plugin(PluginCommand::Test {
            plugin,
            tests,
            limits,
        }) => golden_tests(&plugin, &tests, &limits.limits()),
        Command::Simulate(args) => simulate(&args),
        Command::Kpis(args) => kpis(&args),
    }
}

fn kpis(args: &KpisArgs) -> anyhow::Result<ExitCode> {
    let query = crate::kpi::Query::new(
        args.from,
        args.to,
        args.segment.clone(),
        args.plugin_version.clone(),
        args.currency.clone(),
        chrono::Utc::now().date_naive(),
    );
    let query = match query {
        Ok(query) => query,
        Err(problems) => {
            for problem in problems {
                let flag = problem.field.replace('_', "-");
                eprintln!("error: --{flag}: {}", problem.detail);
            }
            return Ok(ExitCode::from(2));
        }
    };
    let store = args.store.open_existing()?;
    let tenant = args.tenant.clone();
    let report = store.read_blocking(|conn| {
        let tenant = crate::store::tenants::get(conn, &tenant)?;
        crate::store::kpis::report(conn, tenant.row_id, &query)
    });
    store.close();
    let report = report.with_context(|| format!("tenant {}", args.tenant))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", crate::kpi::table(&args.tenant, &report));
    }
    Ok(ExitCode::SUCCESS)
}

/// A POST to a running dun: (status, JSON body).
fn call(
    server: &ServerArgs,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> anyhow::Result<(u16, serde_json::Value)> {
    request(server, "POST", path, Some((content_type, body)))
}

/// A request to a running dun: (status, JSON body).
fn request(
    server: &ServerArgs,
    method: &str,
    path: &str,
    body: Option<(&str, Vec<u8>)>,
) -> anyhow::Result<(u16, serde_json::Value)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}{path}", server.server.trim_end_matches('/'));
    let built = ureq::http::Request::builder()
        .method(method)
        .uri(&url)
        .header("Authorization", format!("Bearer {}", server.key));
    let built = match &server.tenant {
        Some(tenant) => built.header("Dun-Tenant", tenant),
        None => built,
    };
    let mut response = match body {
        Some((content_type, body)) => agent.run(
            built
                .header("Content-Type", content_type)
                .body(body)
                .with_context(|| format!("{method} {url}"))?,
        ),
        None => agent.run(built.body(()).with_context(|| format!("{method} {url}"))?),
    }
    .with_context(|| format!("{method} {url}"))?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    Ok((status, json))
}

/// Makes a request and prints the answer as JSON; a refusal's detail on
/// stderr with status 1.
fn show(
    server: &ServerArgs,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
) -> anyhow::Result<ExitCode> {
    let (status, body) = request(server, method, path, body.map(|b| ("application/json", b)))?;
    if (200..300).contains(&status) {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "refused ({status}): {}",
        body["detail"].as_str().unwrap_or(&body.to_string())
    );
    Ok(ExitCode::from(1))
}

fn push(file: &Path, name: &str, version: &str, server: &ServerArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let path = format!("/v1/plugins/{name}/versions?version={version}");
    let (status, body) = call(server, &path, "application/wasm", bytes)?;
    match status {
        200 | 201 => {
            let verb = if status == 201 {
                "uploaded"
            } else {
                "already there:"
            };
            println!(
                "{verb} {name}@{version} (sha256 {})",
                body["sha256"].as_str().unwrap_or("?")
            );
            for check in body["checks"].as_array().into_iter().flatten() {
                println!(
                    "  ok  {:<34} {}",
                    check["check"].as_str().unwrap_or_default(),
                    check["detail"].as_str().unwrap_or_default()
                );
            }
            println!(
                "activate it: PUT /v1/segments/{{id}} with \"strategy\": \"{name}@{version}\""
            );
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            eprintln!(
                "refused ({status}): {}",
                body["detail"].as_str().unwrap_or(&body.to_string())
            );
            for line in body["plugin"]["log"].as_array().into_iter().flatten() {
                eprintln!("  log: {}", line.as_str().unwrap_or_default());
            }
            Ok(ExitCode::from(1))
        }
    }
}

fn replay(
    evaluation: &str,
    version: Option<String>,
    strategy: Option<String>,
    server: &ServerArgs,
) -> anyhow::Result<ExitCode> {
    let query = match (version, strategy) {
        (Some(v), _) => format!("version={v}"),
        (None, Some(s)) => format!("strategy={s}"),
        (None, None) => anyhow::bail!("give --version or --strategy"),
    };
    let path = format!("/v1/evaluations/{evaluation}/replay?{query}");
    let (status, body) = call(server, &path, "application/json", b"{}".to_vec())?;
    if status != 200 {
        eprintln!(
            "replay refused ({status}): {}",
            body["detail"].as_str().unwrap_or(&body.to_string())
        );
        return Ok(ExitCode::from(1));
    }
    println!(
        "{} -> {}: {}",
        body["original_strategy"].as_str().unwrap_or_default(),
        body["strategy"].as_str().unwrap_or_default(),
        match (body["outcome"].as_str(), body["same"].as_bool()) {
            (Some("ok"), Some(true)) => "the same plan".to_owned(),
            (Some("ok"), _) => "another plan".to_owned(),
            (Some(fault), _) => format!("{fault}: {}", body["error"].as_str().unwrap_or_default()),
            _ => "?".to_owned(),
        }
    );
    print!("{}", body["diff"].as_str().unwrap_or_default());
    for line in body["log"].as_array().into_iter().flatten() {
        println!("log: {}", line.as_str().unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}

fn golden_tests(plugin: &str, tests: &Path, limits: &Limits) -> anyhow::Result<ExitCode> {
    use crate::kit::golden;
    let files = if tests.is_dir() {
        golden::find(tests).with_context(|| format!("reading {}", tests.display()))?
    } else {
        vec![tests.to_path_buf()]
    };
    anyhow::ensure!(
        !files.is_empty(),
        "no *.json tests under {}",
        tests.display()
    );
    let runtime = runtime()?;
    let loaded = match runtime.load(&component_bytes(plugin)?) {
        Ok(loaded) => loaded,
        Err(error) => return Ok(report(&error)),
    };
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let outcome = golden::run(&runtime, &loaded, file, limits);
        let shown = file
            .strip_prefix(tests)
            .unwrap_or(file)
            .display()
            .to_string();
        let figures = format!(
            "{} decision(s), fuel {}, {:.2} ms",
            outcome.decisions,
            outcome.fuel,
            outcome.duration.as_secs_f64() * 1000.0
        );
        match &outcome.failure {
            None => {
                passed += 1;
                println!("PASS  {shown}: {}  ({figures})", outcome.name);
            }
            Some(failure) => {
                failed += 1;
                println!("FAIL  {shown}: {}  ({figures})", outcome.name);
                for line in failure.lines() {
                    println!("      {line}");
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn import_invoices(
    file: &Path,
    tenant: &str,
    layout: &str,
    overrides: &[String],
    currency: &str,
    time_zone: &str,
    store: &StoreArgs,
) -> anyhow::Result<ExitCode> {
    use crate::import;
    let map = column_map(layout, overrides)?;
    let currency = crate::money::Currency::from_code(currency)
        .with_context(|| format!("{currency:?} is not an ISO 4217 code"))?;
    anyhow::ensure!(
        time_zone.parse::<chrono_tz::Tz>().is_ok(),
        "{time_zone:?} is not an IANA time zone"
    );
    let rows = match import::read(file, &map, currency, chrono::Utc::now().date_naive()) {
        Ok(rows) => rows,
        Err(problems) => return Ok(nothing_imported(file, &problems)),
    };
    let store = store.open_existing()?;
    let report = import::import(&store, tenant, rows, time_zone, chrono::Utc::now());
    store.close();
    match report {
        Ok(report) => {
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(crate::store::StoreError::Invalid(problems)) => Ok(nothing_imported(file, &problems)),
        Err(error) => Err(error.into()),
    }
}

/// A layout preset with its overrides applied.
fn column_map(layout: &str, overrides: &[String]) -> anyhow::Result<crate::import::ColumnMap> {
    let mut map = crate::import::ColumnMap::preset(layout)
        .with_context(|| format!("{layout:?} is not a layout (standard, ibm-ar)"))?;
    for assignment in overrides {
        map.set(assignment).map_err(anyhow::Error::msg)?;
    }
    Ok(map)
}

/// Prints why a file was not imported (the first 50 problems); status 1.
fn nothing_imported(file: &Path, problems: &[crate::store::FieldError]) -> ExitCode {
    eprintln!(
        "{}: nothing imported; {} problem(s):",
        file.display(),
        problems.len()
    );
    for problem in problems.iter().take(50) {
        eprintln!("  {}: {}", problem.field, problem.detail);
    }
    ExitCode::from(1)
}

/// The bytes of a component file, or of the built-in strategy of that name.
fn component_bytes(plugin: &str) -> anyhow::Result<Vec<u8>> {
    let path = Path::new(plugin);
    if !path.exists()
        && let Some(builtin) = crate::builtin::find(plugin)
    {
        return Ok(builtin.wasm.to_vec());
    }
    if !path.exists() {
        let builtins: Vec<&str> = crate::builtin::BUILTINS.iter().map(|b| b.name).collect();
        anyhow::bail!(
            "{plugin}: no such file, nor a built-in strategy ({})",
            builtins.join(", ")
        );
    }
    std::fs::read(path).with_context(|| format!("reading {plugin}"))
}

fn runtime() -> anyhow::Result<Runtime> {
    // DUN_CACHE_DIR: keep compiled components between runs, as the service
    // does (a large component, such as a Python one, compiles for seconds).
    Ok(Runtime::new(RuntimeConfig {
        cache_dir: std::env::var_os("DUN_CACHE_DIR").map(PathBuf::from),
        ..Default::default()
    })?)
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

/// A JSON file as `T`; an error names the file and, for a bad field, its path.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut reader = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let at = e.path().to_string();
        if e.inner().is_syntax() || e.inner().is_eof() {
            anyhow::anyhow!("{} is not valid JSON: {}", path.display(), e.inner())
        } else if at == "." {
            anyhow::anyhow!("{}: {}", path.display(), e.inner())
        } else {
            anyhow::anyhow!("{}: {at}: {}", path.display(), e.inner())
        }
    })
}

fn simulate(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    use crate::simulate::{self, Options, SimulateError, Strategy};
    let map = column_map(&args.layout, &args.map)?;
    let currency = crate::money::Currency::from_code(&args.currency)
        .with_context(|| format!("{:?} is not an ISO 4217 code", args.currency))?;
    let time_zone: chrono_tz::Tz = args
        .time_zone
        .parse()
        .map_err(|_| anyhow::anyhow!("{:?} is not an IANA time zone", args.time_zone))?;
    let mut channels = Vec::new();
    for name in &args.channels {
        let channel = crate::case::Channel::parse(name.trim())
            .with_context(|| format!("{name:?} is not a channel (email, sms, call, letter)"))?;
        if !channels.contains(&channel) {
            channels.push(channel);
        }
    }
    anyhow::ensure!(args.within >= 1, "--within is a number of days, at least 1");
    let policy: crate::guardrails::Policy = match &args.policy {
        Some(path) => {
            let policy: crate::guardrails::Policy = read_json(path)?;
            let problems = policy.problems();
            if let Some(problem) = problems.first() {
                anyhow::bail!("{}: {}: {}", path.display(), problem.field, problem.detail);
            }
            policy
        }
        None => Default::default(),
    };
    let config = |path: &Option<PathBuf>| -> anyhow::Result<serde_json::Value> {
        match path {
            Some(path) => read_json(path),
            None => Ok(serde_json::json!({})),
        }
    };
    let mut wanted = vec![(args.plugin.as_str(), config(&args.config)?)];
    if let Some(vs) = &args.vs {
        wanted.push((vs.as_str(), config(&args.vs_config)?));
    }
    let rows = match crate::import::read(
        &args.invoices,
        &map,
        currency,
        chrono::Utc::now().date_naive(),
    ) {
        Ok(rows) => rows,
        Err(problems) => {
            eprintln!(
                "{}: nothing simulated; {} problem(s):",
                args.invoices.display(),
                problems.len()
            );
            for problem in problems.iter().take(50) {
                eprintln!("  {}: {}", problem.field, problem.detail);
            }
            // A header that fits another layout: say so.
            for layout in ["standard", "ibm-ar"]
                .into_iter()
                .filter(|l| *l != args.layout)
            {
                let other = column_map(layout, &[])?;
                let today = chrono::Utc::now().date_naive();
                if crate::import::read(&args.invoices, &other, currency, today).is_ok() {
                    eprintln!("hint: the file reads with --layout {layout}");
                }
            }
            return Ok(ExitCode::from(2));
        }
    };
    let options = Options {
        from: args.from,
        to: args.to,
        time_zone,
        channels,
        policy,
        within_days: args.within,
        ..Options::default()
    };

    let runtime = runtime()?;
    let mut strategies = Vec::new();
    for (plugin, config) in wanted {
        // A built-in's name, or the file's stem; the second of two alike
        // gets a suffix, for the columns and the output folders.
        let mut name = Path::new(plugin)
            .file_stem()
            .map_or(plugin.to_owned(), |s| s.to_string_lossy().into_owned());
        if strategies.iter().any(|s: &Strategy| s.name == name) {
            name.push_str("-vs");
        }
        let bytes = component_bytes(plugin)?;
        match Strategy::load(&runtime, &name, &bytes, config, &options.limits) {
            Ok(strategy) => strategies.push(strategy),
            Err(SimulateError::Plugin { strategy, source }) => {
                eprintln!("strategy {strategy} ({plugin}) cannot be used:");
                return Ok(report(&source));
            }
            Err(SimulateError::Config { strategy, problems }) => {
                eprintln!("config for {strategy}: {} problem(s):", problems.len());
                for problem in &problems {
                    eprintln!("  {}: {}", problem.field, problem.detail);
                }
                return Ok(ExitCode::from(2));
            }
            Err(other) => return Err(other.into()),
        }
    }
    let mut outcomes = Vec::new();
    for strategy in &strategies {
        outcomes.push(simulate::run(&runtime, strategy, &rows, &options)?);
    }
    let summaries: Vec<&simulate::Summary> = outcomes.iter().map(|o| &o.summary).collect();
    print!("{}", simulate::table(&summaries));
    for summary in &summaries {
        let faults = &summary.faults;
        if let Some(first) = faults.first.first() {
            eprintln!(
                "warning: {} faulted in {} of {} decisions; the first, about debtor {} at {}: [{}] {}",
                summary.strategy.name,
                faults.total,
                summary.decisions,
                first.debtor_id,
                first.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                first.kind,
                first.message
            );
            if !first.log.lines.is_empty() {
                eprintln!("plugin log:\n{}", first.log);
            }
        }
    }
    if let Some(dir) = &args.out {
        for outcome in &outcomes {
            let dir = match args.vs {
                Some(_) => dir.join(&outcome.summary.strategy.name),
                None => dir.clone(),
            };
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let files = [
                ("timeline.csv", simulate::timeline_csv(&outcome.timeline)?),
                (
                    "timeline.json",
                    serde_json::to_vec_pretty(&outcome.timeline)?,
                ),
                ("summary.json", serde_json::to_vec_pretty(&outcome.summary)?),
            ];
            for (name, bytes) in files {
                let path = dir.join(name);
                std::fs::write(&path, bytes)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            eprintln!(
                "wrote {}/{{timeline.csv,timeline.json,summary.json}}",
                dir.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
