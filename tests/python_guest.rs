//! A strategy written in Python (`examples/python-strategy`, a port of the
//! Rust `ladder`), built with componentize-py against `wit/v0.1.0` and run
//! by the real host: `dun plugin check` and `dun plugin run` on the binary,
//! the same plan as the built-in ladder on every sample case and on cases
//! made to reach its corners, its log lines, the disk cache, and as many
//! Python decisions at once as the runtime promises instances.
//!
//! The component is built once per run, by the example's own `build.sh`,
//! into this test's target directory; componentize-py must be installed
//! (`scripts/test` installs it). Compiling it takes seconds, so the library
//! tests compile it once into a disk cache and load it from there; the CLI
//! keeps no disk cache, so each `dun plugin` call compiles it again.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use dun::case::Case;
use dun::runtime::sandbox::LogSource;
use dun::runtime::{Decision, Limits, LoadOrigin, Plugin, Runtime, RuntimeConfig};
use serde_json::{Value, json};

/// The sample cases in `examples/cases/`.
const SAMPLES: [&str; 10] = [
    "01-courtesy-before-due",
    "02-gentle-day-1",
    "03-firm-day-7",
    "04-final-day-21",
    "05-escalate-day-45",
    "06-paid-nothing-open",
    "07-disputed",
    "08-promised",
    "09-several-invoices",
    "10-no-sms-no-letter",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python component, built once per test run.
fn component() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-strategy/ladder-python.wasm");
        let started = Instant::now();
        let build = Command::new("bash")
            .arg(root().join("examples/python-strategy/build.sh"))
            .arg(&out)
            .output()
            .expect("run bash");
        assert!(
            build.status.success(),
            "building the Python strategy failed (componentize-py 0.25.1 is needed: \
             scripts/test installs it, or `python3 -m pip install componentize-py==0.25.1`):\n{}{}",
            String::from_utf8_lossy(&build.stdout),
            String::from_utf8_lossy(&build.stderr)
        );
        eprintln!(
            "built {} ({} bytes) in {:.1} s",
            out.display(),
            std::fs::metadata(&out).map_or(0, |m| m.len()),
            started.elapsed().as_secs_f64()
        );
        out
    })
}

fn component_bytes() -> Vec<u8> {
    std::fs::read(component()).expect("read the Python component")
}

/// A disk cache holding the Python component's machine code, compiled once.
struct Cache {
    dir: PathBuf,
    /// How long the first load took: compiling, and writing the cache.
    cold: Duration,
}

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| {
        // Emptied first: the first load below must compile.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-strategy/cache");
        let _ = std::fs::remove_dir_all(&dir);
        let runtime = cached_runtime(&dir, RuntimeConfig::default());
        let bytes = component_bytes();
        let started = Instant::now();
        let plugin = runtime.load(&bytes).expect("the Python component loads");
        let cold = started.elapsed();
        assert_eq!(plugin.origin, LoadOrigin::Compiled);
        Cache { dir, cold }
    })
}

fn cached_runtime(dir: &Path, config: RuntimeConfig) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..config
    })
    .expect("runtime")
}

/// A runtime whose Python component comes from the disk cache.
fn runtime_with_python(config: RuntimeConfig) -> (Runtime, Arc<Plugin>, Duration) {
    let runtime = cached_runtime(&cache().dir, config);
    let bytes = component_bytes();
    let started = Instant::now();
    let python = runtime.load(&bytes).expect("the Python component loads");
    let took = started.elapsed();
    assert_eq!(
        python.origin,
        LoadOrigin::DiskCache,
        "a second load uses the machine code compiled by the first"
    );
    (runtime, python, took)
}

fn sample(name: &str) -> Case {
    let path = root().join(format!("examples/cases/{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("case file")).expect("valid case")
}

fn invoice(id: &str, due_on: &str, status: &str) -> Value {
    json!({
        "id": id, "number": format!("N-{id}"), "currency": "EUR",
        "amount": 100_00, "open_amount": 100_00,
        "issued_on": "2025-01-01", "due_on": due_on, "status": status,
    })
}

fn contact(at: &str, channel: &str, tone: &str, ids: &[&str], outcome: &str) -> Value {
    json!({ "at": at, "channel": channel, "tone": tone, "invoice_ids": ids, "outcome": outcome })
}

fn made(now: &str, zone: &str, channels: &[&str], invoices: Value, contacts: Value) -> Case {
    serde_json::from_value(json!({
        "now": now,
        "debtor": { "id": "d-1", "name": "Test Ltd", "time_zone": zone, "channels": channels },
        "invoices": invoices,
        "contacts": contacts,
    }))
    .expect("valid case")
}

/// Cases for the corners of the ladder the sample cases do not reach.
fn corner_cases() -> Vec<(&'static str, Case)> {
    let all = ["email", "sms", "letter"];
    let none = json!([]);
    vec![
        (
            "one invoice per rung, ten past contacts (the benchmark's case)",
            made(
                "2026-05-20T08:00:00Z",
                "Europe/Berlin",
                &all,
                json!([
                    invoice("a", "2026-05-23", "open"),
                    invoice("b", "2026-05-18", "open"),
                    invoice("c", "2026-05-11", "partially-paid"),
                    invoice("d", "2026-04-27", "open"),
                    invoice("e", "2026-03-31", "open"),
                ]),
                json!([
                    contact("2026-05-19T08:00:00Z", "email", "gentle", &["b"], "sent"),
                    contact("2026-05-18T08:00:00Z", "email", "firm", &["c"], "delivered"),
                    contact("2026-05-18T08:00:00Z", "sms", "firm", &["c"], "sent"),
                    contact("2026-05-17T08:00:00Z", "letter", "final", &["d"], "opened"),
                    contact("2026-04-30T08:00:00Z", "letter", "final", &["e"], "sent"),
                ]),
            ),
        ),
        (
            "45 days late without a final notice: the notice now, escalation later",
            made(
                "2026-05-20T08:00:00Z",
                "Europe/Berlin",
                &all,
                json!([
                    invoice("a", "2026-03-31", "open"),
                    invoice("b", "2026-04-01", "open")
                ]),
                none.clone(),
            ),
        ),
        (
            "suppressed and failed contacts do not count",
            made(
                "2026-05-20T08:00:00Z",
                "UTC",
                &all,
                json!([
                    invoice("a", "2026-05-17", "open"),
                    invoice("b", "2026-05-10", "open")
                ]),
                json!([
                    contact(
                        "2026-05-18T08:00:00Z",
                        "email",
                        "gentle",
                        &["a"],
                        "suppressed"
                    ),
                    contact("2026-05-18T08:00:00Z", "email", "firm", &["b"], "failed"),
                    contact("2026-05-18T08:00:00Z", "email", "courtesy", &["b"], "sent"),
                ]),
            ),
        ),
        (
            "a live promise, a broken one, a dispute, a plan and a hand-over",
            {
                let mut live = invoice("a", "2026-05-01", "promised");
                live["promised_on"] = json!("2026-05-27");
                let mut broken = invoice("b", "2026-05-01", "promised");
                broken["promised_on"] = json!("2026-05-19");
                let mut today = invoice("c", "2026-05-01", "promised");
                today["promised_on"] = json!("2026-05-20");
                made(
                    "2026-05-20T08:00:00Z",
                    "America/New_York",
                    &all,
                    json!([
                        live,
                        broken,
                        today,
                        invoice("d", "2026-05-01", "disputed"),
                        invoice("e", "2026-05-01", "in-plan"),
                        invoice("f", "2026-03-01", "in-collection"),
                    ]),
                    none.clone(),
                )
            },
        ),
        (
            "due in two years: reviewed again in a year",
            made(
                "2026-05-20T08:00:00Z",
                "UTC",
                &all,
                json!([invoice("a", "2028-07-01", "open")]),
                none.clone(),
            ),
        ),
        (
            "review across the spring-forward change in New York",
            made(
                "2026-03-06T15:00:00Z",
                "America/New_York",
                &all,
                json!([
                    invoice("a", "2026-03-12", "open"),
                    invoice("b", "2026-03-05", "open")
                ]),
                none.clone(),
            ),
        ),
        (
            "an unknown zone reads as UTC",
            made(
                "2026-05-20T23:30:00Z",
                "Mars/Olympus_Mons",
                &all,
                json!([invoice("a", "2026-05-13", "open")]),
                none.clone(),
            ),
        ),
        (
            "already tomorrow in Tokyo",
            made(
                "2026-05-20T23:30:00Z",
                "Asia/Tokyo",
                &all,
                json!([
                    invoice("a", "2026-05-20", "open"),
                    invoice("b", "2026-05-14", "open")
                ]),
                none.clone(),
            ),
        ),
        (
            "only a letter reaches the debtor",
            made(
                "2026-05-20T08:00:00Z",
                "UTC",
                &["letter"],
                json!([
                    invoice("a", "2026-05-19", "open"),
                    invoice("b", "2026-05-10", "open"),
                    invoice("c", "2026-04-20", "open"),
                ]),
                none.clone(),
            ),
        ),
        (
            "forty invoices",
            made(
                "2026-05-20T08:00:00Z",
                "Europe/Berlin",
                &all,
                Value::Array(
                    (0..40)
                        .map(|i| {
                            let due = chrono::NaiveDate::from_ymd_opt(2026, 5, 23).expect("date")
                                - chrono::Duration::days(i * 2);
                            invoice(&format!("inv-{i}"), &due.to_string(), "open")
                        })
                        .collect(),
                ),
                json!([contact(
                    "2026-05-01T08:00:00Z",
                    "letter",
                    "final",
                    &["inv-30", "inv-35"],
                    "sent"
                )]),
            ),
        ),
    ]
}

fn decide(runtime: &Runtime, plugin: &Plugin, case: &Case) -> Decision {
    runtime
        .decide(plugin, case, &Limits::default())
        .unwrap_or_else(|e| panic!("decides under the default limits: {e}"))
}

fn assert_logged(decision: &Decision, what: &str) {
    assert!(
        decision
            .log
            .lines
            .iter()
            .any(|l| l.source == LogSource::Info && l.message.starts_with("ladder-python: ")),
        "{what}: the strategy's log line comes through: {:?}",
        decision.log
    );
}

#[test]
fn the_python_ladder_plans_like_the_rust_ladder() {
    let (runtime, python, _) = runtime_with_python(RuntimeConfig::default());
    let ladder = runtime
        .load(dun::builtin::find("ladder").expect("built in").wasm)
        .expect("ladder loads");
    let mut cases: Vec<(String, Case)> = SAMPLES
        .iter()
        .map(|name| (name.to_string(), sample(name)))
        .collect();
    cases.extend(corner_cases().into_iter().map(|(n, c)| (n.to_string(), c)));
    // Every rung, every channel and the hand-over came up along the way.
    let mut seen = std::collections::BTreeSet::new();
    for (name, case) in &cases {
        let expected = decide(&runtime, &ladder, case);
        let got = decide(&runtime, &python, case);
        assert_eq!(got.plan, expected.plan, "{name}");
        assert_logged(&got, name);
        let plan = serde_json::to_value(&got.plan).expect("plan as JSON");
        for action in plan["actions"].as_array().expect("actions") {
            for field in ["kind", "channel", "tone"] {
                if let Some(value) = action[field].as_str() {
                    seen.insert(value.to_string());
                }
            }
        }
    }
    let every = [
        "remind", "escalate", "email", "sms", "letter", "courtesy", "gentle", "firm", "final",
    ];
    assert!(every.iter().all(|s| seen.contains(*s)), "{seen:?}");
}

#[test]
fn the_cli_checks_and_runs_the_python_strategy() {
    let file = component().to_str().expect("utf-8 path");
    let (code, stdout, stderr) = dun(&["plugin", "check", file]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("ladder-python 0.1.0\n"), "{stdout}");
    assert!(
        stdout.contains("contract:   dun:strategy@0.1.0"),
        "{stdout}"
    );
    let imports: Vec<&str> = stdout
        .lines()
        .skip_while(|l| *l != "imports:")
        .skip(1)
        .map(str::trim)
        .collect();
    assert!(imports.contains(&"dun:strategy/log@0.1.0"), "{stdout}");
    assert!(imports.contains(&"dun:strategy/calendar@0.1.0"), "{stdout}");
    assert!(
        imports
            .iter()
            .all(|i| i.starts_with("dun:strategy/") || i.starts_with("wasi:")),
        "{stdout}"
    );

    for name in ["09-several-invoices", "05-escalate-day-45"] {
        let case = format!("examples/cases/{name}.json");
        let (code, stdout, stderr) = dun(&["plugin", "run", file, "--case", &case]);
        assert_eq!(code, 0, "{name}: {stderr}");
        let python: Value = serde_json::from_str(&stdout).expect("JSON on stdout");
        let (code, stdout, stderr) = dun(&["plugin", "run", "ladder", "--case", &case]);
        assert_eq!(code, 0, "{name}: {stderr}");
        let ladder: Value = serde_json::from_str(&stdout).expect("JSON on stdout");

        assert_eq!(python["plan"], ladder["plan"], "{name}");
        assert!(
            !python["plan"]["actions"]
                .as_array()
                .expect("actions")
                .is_empty(),
            "{name}"
        );
        let log = python["log"].as_array().expect("log");
        assert!(
            log.iter().any(|l| l["source"] == "info"
                && l["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("ladder-python: "))),
            "{name}: the log line comes through: {log:?}"
        );
        let fuel = python["fuel_used"].as_u64().expect("fuel reported");
        assert!(fuel > 0 && fuel < Limits::default().fuel, "{name}: {fuel}");
    }
}

#[test]
fn a_second_load_comes_from_the_disk_cache() {
    let cold = cache().cold;
    let (runtime, python, warm) = runtime_with_python(RuntimeConfig::default());
    eprintln!(
        "Python component: compiled in {:.2} s, loaded from the disk cache in {:.0} ms",
        cold.as_secs_f64(),
        warm.as_secs_f64() * 1e3
    );
    let decision = decide(&runtime, &python, &sample("03-firm-day-7"));
    assert_eq!(decision.plan.actions.len(), 2);
    assert_logged(&decision, "from the disk cache");
    // The same runtime keeps what it loaded: no third compile or read.
    let again = runtime.load(&component_bytes()).expect("loads");
    assert!(Arc::ptr_eq(&again, &python));
}

/// `max_instances` Python instances fit in the pool at once, though each
/// has 14 core instances where a Rust guest has 3.
#[test]
fn as_many_python_decisions_at_once_as_the_runtime_has_instances() {
    let threads = 2;
    let (runtime, python, _) = runtime_with_python(RuntimeConfig {
        max_instances: threads,
        ..RuntimeConfig::default()
    });
    let runtime = Arc::new(runtime);
    let case = Arc::new(sample("09-several-invoices"));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (runtime, python, case) = (runtime.clone(), python.clone(), case.clone());
            std::thread::spawn(move || {
                (0..25)
                    .filter_map(|_| runtime.decide(&python, &case, &Limits::default()).err())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for worker in workers {
        let failures = worker.join().expect("worker");
        assert!(failures.is_empty(), "{failures:?}");
    }
}

/// The other side of that promise: a component that needs more of the pool
/// than one instance's share is refused when it is loaded, with the limit
/// named, not when the pool runs dry under load.
#[test]
fn a_component_larger_than_its_share_of_the_pool_is_refused_at_load() {
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let many = |count: usize, module: &str| {
        let instances = "(core instance (instantiate $m))".repeat(count);
        wat::parse_str(format!("(component (core module $m {module}) {instances})")).expect("wat")
    };
    for (component, limit) in [
        (many(65, ""), "65 core module instances"),
        (many(3, "(memory 1)"), "3 Wasm linear memories"),
        (many(5, "(table 1 funcref)"), "5 tables"),
    ] {
        match runtime.load(&component) {
            Err(dun::runtime::PluginError::Compile { message }) => {
                assert!(message.contains(limit), "{message}")
            }
            other => panic!("{limit}: expected a compile error, got {other:?}"),
        }
    }
    // Within its share, the same shape loads as far as the contract check.
    assert!(matches!(
        runtime.load(&many(64, "")),
        Err(dun::runtime::PluginError::WrongContract { .. })
    ));
}

fn dun(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dun"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run dun");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
