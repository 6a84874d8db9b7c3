//! The runtime's limits hold for the whole life of an instance, not only
//! inside `decide`: while the component is instantiated (a core `start`
//! function) and after the call returned (the canonical ABI's `post-return`).
//!
//! Rust guests cannot express these, so the guests are components written by
//! hand in WebAssembly text (`tests/guests/wat/`), typed exactly as world
//! `strategy` of dun:strategy@0.1.0. Each fault must come back as its typed
//! [`PluginError`], in bounded time, and leave the engine able to run the
//! next evaluation.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dun::case::Case;
use dun::runtime::{Decision, Limits, PluginError, Runtime, RuntimeConfig};

/// No call may take longer than this, whatever the guest does. The deadline
/// under test is 200 ms; this only tells a slow run from a hang.
const HANG: Duration = Duration::from_secs(5);

/// The limits of every evaluation here, unless a test says otherwise.
fn limits() -> Limits {
    Limits {
        deadline_ms: 200,
        fuel: 10_000_000,
        ..Limits::default()
    }
}

/// Fuel that never runs out before the deadline does.
fn unlimited_fuel() -> Limits {
    Limits {
        fuel: u64::MAX / 2,
        ..limits()
    }
}

fn runtime() -> Arc<Runtime> {
    Arc::new(Runtime::new(RuntimeConfig::default()).expect("runtime"))
}

fn wat_path(name: &str) -> String {
    format!(
        "{}/../tests/guests/wat/{name}.wat",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A hand-written component from `tests/guests/wat/`, as binary.
fn wat_component(name: &str) -> Vec<u8> {
    let path = wat_path(name);
    wat::parse_file(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The component `name` with `from` (which it has exactly once) replaced by
/// `to`: a variant of a guest that differs from it in one place.
fn wat_component_with(name: &str, from: &str, to: &str) -> Vec<u8> {
    let path = wat_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(text.matches(from).count(), 1, "{path} has {from:?} once");
    wat::parse_str(text.replace(from, to))
        .unwrap_or_else(|e| panic!("{path} with {from:?} as {to:?}: {e}"))
}

/// The component with `line` taken out: the control showing that this line
/// alone causes the fault.
fn wat_component_without(name: &str, line: &str) -> Vec<u8> {
    wat_component_with(name, line, "")
}

fn case() -> Case {
    serde_json::from_str(
        r#"{
            "now": "2026-05-20T09:00:00Z",
            "debtor": {
                "id": "d1",
                "name": "Acme",
                "time_zone": "UTC",
                "channels": ["email"]
            },
            "invoices": []
        }"#,
    )
    .expect("valid case")
}

/// Run `call` on another thread and fail, rather than hang, when it takes
/// longer than [`HANG`]. (A hung guest keeps its thread; the test fails.)
fn within_hang_bound<T: Send + 'static>(
    what: &str,
    call: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let _ = tx.send(call());
    });
    match rx.recv_timeout(HANG) {
        Ok(value) => {
            let elapsed = started.elapsed();
            assert!(elapsed < HANG, "{what} took {elapsed:?}");
            value
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what} did not come back within {HANG:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what} panicked"),
    }
}

/// Load the WAT guest `name` and decide the test case with it under `limits`.
fn decide_with(
    runtime: &Arc<Runtime>,
    name: &str,
    limits: Limits,
) -> Result<Decision, PluginError> {
    let plugin = runtime
        .load(&wat_component(name))
        .unwrap_or_else(|e| panic!("{name} loads: {e}"));
    let runtime = runtime.clone();
    within_hang_bound(&format!("decide with {name}"), move || {
        runtime.decide(&plugin, &case(), &limits)
    })
}

/// Load the WAT guest `name` and ask it to describe itself under `limits`.
fn describe_with(
    runtime: &Arc<Runtime>,
    name: &str,
    limits: Limits,
) -> Result<dun::runtime::Info, PluginError> {
    let plugin = runtime
        .load(&wat_component(name))
        .unwrap_or_else(|e| panic!("{name} loads: {e}"));
    let runtime = runtime.clone();
    within_hang_bound(&format!("describe with {name}"), move || {
        runtime.describe(&plugin, &limits).map(|(info, _log)| info)
    })
}

/// The engine survived: the real ladder still decides on the same runtime.
fn assert_engine_survives(runtime: &Arc<Runtime>) {
    let ladder = dun::builtin::find("ladder").expect("the ladder is built in");
    let plugin = runtime.load(ladder.wasm).expect("the ladder loads");
    let runtime = runtime.clone();
    let decision = within_hang_bound("decide with the ladder", move || {
        runtime.decide(&plugin, &case(), &limits())
    });
    if let Err(error) = decision {
        panic!("the ladder no longer decides after a fault: {error:?}");
    }
}

fn expect_out_of_fuel(result: Result<impl std::fmt::Debug, PluginError>, limits: &Limits) {
    match result {
        Err(PluginError::OutOfFuel { used, limit, .. }) => {
            assert_eq!(limit, limits.fuel);
            assert!(used >= limit, "used {used} of {limit}");
        }
        other => panic!("expected OutOfFuel, got {other:?}"),
    }
}

fn expect_deadline(result: Result<impl std::fmt::Debug, PluginError>, limits: &Limits) {
    match result {
        Err(PluginError::Deadline { limit_ms, .. }) => assert_eq!(limit_ms, limits.deadline_ms),
        other => panic!("expected Deadline, got {other:?}"),
    }
}

fn expect_memory_limit(result: Result<impl std::fmt::Debug, PluginError>, limits: &Limits) {
    match result {
        Err(PluginError::MemoryLimit { limit, .. }) => assert_eq!(limit, limits.memory_bytes),
        other => panic!("expected MemoryLimit, got {other:?}"),
    }
}

#[test]
fn a_start_function_that_loops_runs_out_of_fuel() {
    let runtime = runtime();
    expect_out_of_fuel(decide_with(&runtime, "start-loop", limits()), &limits());
    assert_engine_survives(&runtime);
    // `describe` instantiates too, under the same limits.
    expect_out_of_fuel(describe_with(&runtime, "start-loop", limits()), &limits());
    assert_engine_survives(&runtime);
}

#[test]
fn a_start_function_that_loops_with_unlimited_fuel_hits_the_deadline() {
    let runtime = runtime();
    expect_deadline(
        decide_with(&runtime, "start-loop", unlimited_fuel()),
        &unlimited_fuel(),
    );
    assert_engine_survives(&runtime);
    expect_deadline(
        describe_with(&runtime, "start-loop", unlimited_fuel()),
        &unlimited_fuel(),
    );
    assert_engine_survives(&runtime);
}

#[test]
fn a_start_function_cannot_grow_memory_past_the_cap() {
    let runtime = runtime();
    expect_memory_limit(decide_with(&runtime, "start-grow", limits()), &limits());
    assert_engine_survives(&runtime);
    // The cap is the evaluation's, not the engine's: a smaller one holds too,
    // and fuel has nothing to do with it.
    let small = Limits {
        memory_bytes: 1 << 20,
        ..unlimited_fuel()
    };
    expect_memory_limit(decide_with(&runtime, "start-grow", small), &small);
    assert_engine_survives(&runtime);
    expect_memory_limit(describe_with(&runtime, "start-grow", limits()), &limits());
    assert_engine_survives(&runtime);
}

#[test]
fn a_post_return_that_loops_runs_out_of_fuel() {
    let runtime = runtime();
    // The guest is sound up to `decide`'s post-return: it instantiates and
    // describes itself (`describe` has no post-return).
    let info = describe_with(&runtime, "post-return-loop", limits()).expect("describes itself");
    assert_eq!(info.name, "post-return-loop");
    assert_eq!(info.version, "0.1.0");
    expect_out_of_fuel(
        decide_with(&runtime, "post-return-loop", limits()),
        &limits(),
    );
    assert_engine_survives(&runtime);
}

#[test]
fn a_post_return_that_loops_with_unlimited_fuel_hits_the_deadline() {
    let runtime = runtime();
    expect_deadline(
        decide_with(&runtime, "post-return-loop", unlimited_fuel()),
        &unlimited_fuel(),
    );
    assert_engine_survives(&runtime);
}

/// Without the part under test, each guest is a sound strategy: the faults
/// above come from the start function or the post-return and nothing else.
#[test]
fn without_the_faulty_part_the_guests_decide() {
    let runtime = runtime();
    for (name, line) in [
        ("start-loop", "(start $spin)"),
        ("start-grow", "(start $grow)"),
        ("post-return-loop", "(post-return $post-decide)"),
    ] {
        let plugin = runtime
            .load(&wat_component_without(name, line))
            .unwrap_or_else(|e| panic!("{name} without {line} loads: {e}"));
        let decision = runtime
            .decide(&plugin, &case(), &limits())
            .unwrap_or_else(|e| panic!("{name} without {line} decides: {e:?}"));
        assert!(decision.plan.actions.is_empty());
        assert_eq!(decision.plan.review_at, None);
        assert_eq!(decision.plan.note, "");
    }
}

/// A fault while instantiating or in post-return gives the instance's pool
/// slots back: with room for two instances, many faults in a row leave the
/// runtime able to run the ladder.
#[test]
fn faults_in_every_phase_give_their_instance_back() {
    let runtime = Arc::new(
        Runtime::new(RuntimeConfig {
            max_instances: 2,
            ..RuntimeConfig::default()
        })
        .expect("runtime"),
    );
    let quick = Limits {
        fuel: 100_000,
        ..limits()
    };
    for round in 0..10 {
        expect_out_of_fuel(decide_with(&runtime, "start-loop", quick), &quick);
        expect_memory_limit(decide_with(&runtime, "start-grow", quick), &quick);
        expect_out_of_fuel(decide_with(&runtime, "post-return-loop", quick), &quick);
        if round % 5 == 4 {
            assert_engine_survives(&runtime);
        }
    }
}

/// The host lowers the case into the guest through the guest's own
/// `cabi_realloc`, before `decide` runs: that is guest code too, under the
/// same fuel and deadline.
#[test]
fn a_realloc_that_loops_is_stopped_too() {
    let runtime = runtime();
    let looping_realloc = wat_component_with(
        "post-return-loop",
        "(local $ptr i32)",
        "(local $ptr i32) (loop $forever (br $forever))",
    );
    let plugin = runtime.load(&looping_realloc).expect("loads");
    for (limits, fuel) in [(limits(), true), (unlimited_fuel(), false)] {
        let call = {
            let runtime = runtime.clone();
            let plugin = plugin.clone();
            move || runtime.decide(&plugin, &case(), &limits)
        };
        let result = within_hang_bound("decide with a looping realloc", call);
        if fuel {
            expect_out_of_fuel(result, &limits);
        } else {
            expect_deadline(result, &limits);
        }
        assert_engine_survives(&runtime);
    }
}
