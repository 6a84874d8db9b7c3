//! The sandbox against strategies written to misbehave, and the runtime's
//! promises: typed errors with the plugin's log, a healthy engine after every
//! fault, determinism, the disk cache, and the reference strategies.
//!
//! One runtime serves every test, as in `dun serve`: each fault must leave it
//! able to run the next evaluation.

use std::sync::{Arc, OnceLock};

use dun::case::Case;
use dun::runtime::{Limits, LoadOrigin, Plugin, PluginError, Runtime, RuntimeConfig};

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("runtime"))
}

fn component(name: &str) -> Vec<u8> {
    let path = format!("{}/{name}.wasm", dun::builtin::PLUGIN_DIR);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn plugin(name: &str) -> Arc<Plugin> {
    runtime().load(&component(name)).expect("loads")
}

fn case(name: &str) -> Case {
    let path = format!(
        "{}/../examples/cases/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("case file")).expect("valid case")
}

/// The firm-stage sample case with the hostile guest's `mode`.
fn hostile_case(mode: &str) -> Case {
    let mut case = case("03-firm-day-7");
    case.config = serde_json::json!({ "mode": mode });
    case
}

fn run_hostile(mode: &str, limits: &Limits) -> Result<dun::runtime::Decision, PluginError> {
    let result = runtime().decide(&plugin("hostile"), &hostile_case(mode), limits);
    assert_engine_healthy();
    result
}

/// The next evaluation on the same engine still works.
fn assert_engine_healthy() {
    let decision = runtime()
        .decide(
            &plugin("ladder"),
            &case("03-firm-day-7"),
            &Limits::default(),
        )
        .expect("ladder still decides after a fault");
    assert_eq!(decision.plan.actions.len(), 2);
}

fn note(result: Result<dun::runtime::Decision, PluginError>) -> String {
    match result {
        Ok(decision) => decision.plan.note,
        Err(error) => panic!("expected a plan, got {error:?}"),
    }
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    let limits = Limits {
        fuel: 5_000_000,
        ..Limits::default()
    };
    match run_hostile("loop", &limits) {
        Err(PluginError::OutOfFuel { used, limit, .. }) => {
            assert_eq!(limit, 5_000_000);
            assert!(used >= limit, "used {used}");
        }
        other => panic!("expected OutOfFuel, got {other:?}"),
    }
}

#[test]
fn an_infinite_loop_with_unlimited_fuel_hits_the_deadline() {
    let limits = Limits {
        fuel: u64::MAX / 2,
        deadline_ms: 50,
        ..Limits::default()
    };
    let started = std::time::Instant::now();
    let result = run_hostile("loop", &limits);
    assert!(
        matches!(result, Err(PluginError::Deadline { limit_ms: 50, .. })),
        "{result:?}"
    );
    // Not a timing test: only a guard that the deadline did not fail open.
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn runaway_recursion_overflows_the_stack() {
    let result = run_hostile("recurse", &Limits::default());
    assert!(
        matches!(result, Err(PluginError::StackOverflow { .. })),
        "{result:?}"
    );
}

#[test]
fn overflowing_the_shadow_stack_is_a_bounded_trap() {
    // A Rust guest keeps large frames on a 1 MiB stack inside its own linear
    // memory; running off its bottom is an out-of-bounds access, caught by
    // the engine like any other.
    match run_hostile("recurse-shadow", &Limits::default()) {
        Err(PluginError::Trap { message, .. }) => {
            assert!(message.contains("out of bounds memory access"), "{message}");
            assert!(
                message.lines().count() <= 16,
                "the backtrace is capped: {message}"
            );
        }
        other => panic!("expected Trap, got {other:?}"),
    }
}

#[test]
fn memory_growth_stops_at_the_cap() {
    let limits = Limits {
        memory_bytes: 32 << 20,
        ..Limits::default()
    };
    let result = run_hostile("grow", &limits);
    assert!(
        matches!(result, Err(PluginError::MemoryLimit { limit, .. }) if limit == 32 << 20),
        "{result:?}"
    );
}

#[test]
fn a_trap_is_reported_as_a_trap() {
    match run_hostile("trap", &Limits::default()) {
        Err(PluginError::Trap { message, .. }) => {
            assert!(message.contains("unreachable"), "{message}")
        }
        other => panic!("expected Trap, got {other:?}"),
    }
}

#[test]
fn a_panic_is_a_trap_with_the_panic_message_in_the_log() {
    match run_hostile("panic", &Limits::default()) {
        Err(PluginError::Trap { log_tail, .. }) => {
            let log = log_tail.to_string();
            assert!(log.contains("about to panic"), "{log}");
            assert!(log.contains("hostile: deliberate panic"), "{log}");
        }
        other => panic!("expected Trap, got {other:?}"),
    }
}

#[test]
fn a_100_mb_string_cannot_be_built_within_the_memory_cap() {
    let result = run_hostile("huge-string", &Limits::default());
    assert!(
        matches!(result, Err(PluginError::MemoryLimit { .. })),
        "{result:?}"
    );
}

#[test]
fn a_million_actions_are_refused() {
    // Building it costs more than the default fuel (or memory) allows.
    let result = run_hostile("million-actions", &Limits::default());
    assert!(
        matches!(
            result,
            Err(PluginError::OutOfFuel { .. }
                | PluginError::MemoryLimit { .. }
                | PluginError::PlanTooLarge { .. })
        ),
        "{result:?}"
    );
    // With room to build it, the plan is refused by count, before conversion.
    let roomy = Limits {
        memory_bytes: 512 << 20,
        fuel: 5_000_000_000,
        deadline_ms: 20_000,
        ..Limits::default()
    };
    let result = run_hostile("million-actions", &roomy);
    assert!(
        matches!(
            result,
            Err(PluginError::PlanTooLarge {
                actions: 1_000_000,
                limit: 200,
                ..
            })
        ),
        "{result:?}"
    );
}

#[test]
fn a_plan_over_the_size_limit_is_refused() {
    let result = run_hostile("big-plan", &Limits::default());
    assert!(
        matches!(
            result,
            Err(PluginError::PlanTooLarge {
                actions: 20_000,
                ..
            })
        ),
        "{result:?}"
    );
}

#[test]
fn an_invalid_plan_is_refused_with_every_problem_named() {
    match run_hostile("invalid-plan", &Limits::default()) {
        Err(PluginError::InvalidPlan { problems, .. }) => {
            let fields: Vec<_> = problems
                .iter()
                .map(|p| (p.action, p.field.as_str()))
                .collect();
            assert_eq!(fields, [(Some(0), "invoice_ids[0]"), (Some(0), "send_at")]);
            assert!(
                problems[0].message.contains("no-such-invoice"),
                "{problems:?}"
            );
        }
        other => panic!("expected InvalidPlan, got {other:?}"),
    }
    match run_hostile("impossible-date", &Limits::default()) {
        Err(PluginError::InvalidPlan { problems, .. }) => {
            assert_eq!(problems.len(), 1);
            assert_eq!(
                (problems[0].action, problems[0].field.as_str()),
                (Some(0), "first_due_on")
            );
            assert!(
                problems[0]
                    .message
                    .contains("2026-13-40 is not a calendar date"),
                "{problems:?}"
            );
        }
        other => panic!("expected InvalidPlan, got {other:?}"),
    }
}

#[test]
fn the_file_system_is_not_there() {
    match run_hostile("open-file", &Limits::default()) {
        Err(PluginError::Refused { reason, .. }) => {
            assert!(reason.starts_with("fs: read=Err("), "{reason}");
            assert!(reason.contains("create=Err("), "{reason}");
        }
        other => panic!("expected the guest to report both failures, got {other:?}"),
    }
}

#[test]
fn the_environment_and_arguments_are_empty() {
    assert_eq!(note(run_hostile("env", &Limits::default())), "env=0 args=0");
}

#[test]
fn sockets_are_denied() {
    match run_hostile("socket", &Limits::default()) {
        Err(PluginError::Refused { reason, .. }) => {
            assert!(reason.starts_with("net: tcp=Err("), "{reason}");
            assert!(reason.contains("udp=Err("), "{reason}");
        }
        other => panic!("expected the guest to report denied sockets, got {other:?}"),
    }
}

#[test]
fn the_clock_reads_the_case_time() {
    let now = hostile_case("clock").now.timestamp();
    assert_eq!(
        note(run_hostile("clock", &Limits::default())),
        format!("clock={now}")
    );
}

#[test]
fn random_numbers_are_a_function_of_the_case() {
    let first = note(run_hostile("random", &Limits::default()));
    let second = note(run_hostile("random", &Limits::default()));
    assert!(first.starts_with("random="), "{first}");
    assert_eq!(first, second, "same case, same random numbers");

    let mut other_debtor = hostile_case("random");
    other_debtor.debtor.id = "someone-else".into();
    let third = note(runtime().decide(&plugin("hostile"), &other_debtor, &Limits::default()));
    assert_ne!(first, third, "another case, other random numbers");
}

#[test]
fn the_same_case_gives_the_same_plan() {
    for name in ["ladder", "segmented", "send-time"] {
        let case = case("09-several-invoices");
        let a = runtime()
            .decide(&plugin(name), &case, &Limits::default())
            .expect("decides");
        let b = runtime()
            .decide(&plugin(name), &case, &Limits::default())
            .expect("decides");
        assert_eq!(a.plan, b.plan, "{name}");
        assert_eq!(
            a.fuel_used, b.fuel_used,
            "{name}: fuel is deterministic too"
        );
    }
}

#[test]
fn the_reference_strategies_describe_themselves() {
    for (name, has_schema) in [("ladder", false), ("segmented", true), ("send-time", false)] {
        let (info, _) = runtime()
            .describe(&plugin(name), &Limits::default())
            .expect("describes");
        assert_eq!(info.name, name);
        assert_eq!(info.config_schema.is_some(), has_schema, "{name}");
        if let Some(schema) = info.config_schema {
            serde_json::from_str::<serde_json::Value>(&schema).expect("the schema is JSON");
        }
    }
}

#[test]
fn segmented_reads_its_config_and_refuses_a_bad_one() {
    let mut large = case("09-several-invoices");
    large.config = serde_json::json!({ "large_invoice": 50_000 });
    let decision = runtime()
        .decide(&plugin("segmented"), &large, &Limits::default())
        .expect("decides");
    assert!(
        decision
            .plan
            .actions
            .iter()
            .any(|a| a.kind() == "create-task"),
        "an invoice above large_invoice gets a call task: {:?}",
        decision.plan.actions
    );

    let mut bad = case("09-several-invoices");
    bad.config = serde_json::json!({ "no_such_setting": true });
    let result = runtime().decide(&plugin("segmented"), &bad, &Limits::default());
    assert!(
        matches!(result, Err(PluginError::Refused { .. })),
        "{result:?}"
    );
}

#[test]
fn not_a_component_and_too_large_are_refused_before_compiling() {
    let core_module = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    let result = runtime().load(&core_module);
    assert!(
        matches!(&result, Err(PluginError::NotAComponent { message }) if message.contains("core WebAssembly module")),
        "{result:?}"
    );
    assert!(matches!(
        runtime().load(b"MZ\x90\x00"),
        Err(PluginError::NotAComponent { .. })
    ));

    let small = Runtime::new(RuntimeConfig {
        max_component_bytes: 1_000,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let result = small.load(&component("ladder"));
    assert!(
        matches!(result, Err(PluginError::TooLarge { limit: 1_000, .. })),
        "{result:?}"
    );
}

#[test]
fn an_import_dun_does_not_provide_is_refused() {
    let evil =
        wat::parse_str(r#"(component (import "evil:net/socket@1.0.0" (instance)))"#).expect("wat");
    let result = runtime().load(&evil);
    assert!(
        matches!(&result, Err(PluginError::ForbiddenImport { import }) if import == "evil:net/socket@1.0.0"),
        "{result:?}"
    );
}

#[test]
fn a_component_of_another_shape_is_refused() {
    let empty = wat::parse_str("(component)").expect("wat");
    let result = runtime().load(&empty);
    assert!(
        matches!(result, Err(PluginError::WrongContract { .. })),
        "{result:?}"
    );
}

#[test]
fn compiled_code_is_cached_on_disk_and_checked_before_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = RuntimeConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    let bytes = component("ladder");
    let sample = case("03-firm-day-7");

    let first = Runtime::new(config.clone()).expect("runtime");
    let loaded = first.load(&bytes).expect("loads");
    assert_eq!(loaded.origin, LoadOrigin::Compiled);
    let expected = first
        .decide(&loaded, &sample, &Limits::default())
        .expect("decides")
        .plan;
    drop(first);

    // A restart loads the machine code instead of compiling again.
    let second = Runtime::new(config.clone()).expect("runtime");
    let loaded = second.load(&bytes).expect("loads");
    assert_eq!(loaded.origin, LoadOrigin::DiskCache);
    assert_eq!(
        second
            .decide(&loaded, &sample, &Limits::default())
            .expect("decides")
            .plan,
        expected
    );
    drop(second);

    // A tampered artifact is not trusted: it is compiled again.
    let artifact = std::fs::read_dir(dir.path())
        .expect("cache dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("an artifact was written");
    let mut machine_code = std::fs::read(&artifact).expect("read artifact");
    let middle = machine_code.len() / 2;
    machine_code[middle] ^= 0xff;
    std::fs::write(&artifact, machine_code).expect("tamper");
    let third = Runtime::new(config).expect("runtime");
    let loaded = third.load(&bytes).expect("loads");
    assert_eq!(loaded.origin, LoadOrigin::Compiled);
    assert_eq!(
        third
            .decide(&loaded, &sample, &Limits::default())
            .expect("decides")
            .plan,
        expected
    );
}

#[test]
fn the_same_bytes_load_once() {
    let a = plugin("ladder");
    let b = plugin("ladder");
    assert!(Arc::ptr_eq(&a, &b));
}
