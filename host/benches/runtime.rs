//! Decisions per second with a fresh instance per evaluation.
//!
//! `cargo bench --bench runtime` prints, for the built-in `ladder` strategy
//! on a realistic case (5 invoices at different rungs, 10 past contacts):
//! - decisions/s on one thread and on every core, each decision a fresh
//!   instance, end to end as the engine does it (case conversion,
//!   instantiation, call, plan conversion and validation);
//! - per-decision p50 and p99 latency;
//! - the same policy compiled natively, and the Wasm/native ratio;
//! - the same policy written in Python (`examples/python-strategy`, built
//!   with componentize-py by its `build.sh`) on the same case and the same
//!   kind of runtime (pooling allocator, copy-on-write memory images) with a
//!   disk cache: build, compile and cache-load times, instantiation, and
//!   decisions/s beside the Rust figure. Skipped, with a note, when
//!   componentize-py is not installed. `DUN_BENCH_PY_DECISIONS` sets its
//!   decisions per thread (default 1,000: each takes milliseconds; 0 skips).
//!
//! Figures are measured in one run and printed as rates and ratios; this is
//! not a test and asserts nothing about speed.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dun::case::{
    Case, Channel, Contact, ContactOutcome, Debtor, History, Invoice, InvoiceStatus, Terms, Tone,
};
use dun::runtime::{Decision, Limits, LoadOrigin, Plugin, Runtime, RuntimeConfig};

const TODAY: (i32, u32, u32) = (2026, 5, 20);
/// (days overdue, amount) of the five invoices: one per rung and one not yet due.
const INVOICES: [(i32, i64); 5] = [
    (-3, 120_00),
    (2, 480_00),
    (9, 75_50),
    (23, 1_200_00),
    (50, 310_00),
];
/// (days ago, channel, tone, invoice index) of the ten past contacts.
const CONTACTS: [(i64, Channel, Tone, usize); 10] = [
    (1, Channel::Email, Tone::Gentle, 1),
    (2, Channel::Email, Tone::Firm, 2),
    (2, Channel::Sms, Tone::Firm, 2),
    (8, Channel::Email, Tone::Gentle, 2),
    (3, Channel::Letter, Tone::Final, 3),
    (16, Channel::Email, Tone::Firm, 3),
    (22, Channel::Email, Tone::Gentle, 3),
    (20, Channel::Letter, Tone::Final, 4),
    (35, Channel::Email, Tone::Firm, 4),
    (48, Channel::Email, Tone::Gentle, 4),
];

fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(TODAY.0, TODAY.1, TODAY.2).expect("valid date")
}

fn host_case() -> Case {
    let now = today().and_hms_opt(8, 0, 0).expect("valid time").and_utc();
    let invoices = INVOICES
        .iter()
        .enumerate()
        .map(|(i, &(overdue, amount))| {
            let due_on = today() - chrono::Duration::days(overdue.into());
            Invoice {
                id: format!("inv-{i}"),
                number: format!("INV-2026-{i:04}"),
                currency: "EUR".into(),
                amount,
                open_amount: amount,
                fees_charged: 0,
                issued_on: due_on - chrono::Duration::days(30),
                due_on,
                status: InvoiceStatus::Open,
                promised_on: None,
                terms: Terms {
                    late_fee: 40_00,
                    interest_bp_per_year: 800,
                    grace_days: 0,
                },
            }
        })
        .collect();
    let contacts = CONTACTS
        .iter()
        .map(|&(days_ago, channel, tone, invoice)| Contact {
            at: now - chrono::Duration::days(days_ago),
            channel,
            tone,
            invoice_ids: vec![format!("inv-{invoice}")],
            template: None,
            outcome: ContactOutcome::Sent,
        })
        .collect();
    let mut history = History {
        invoices_paid: 12,
        paid_on_time: 9,
        average_days_late: 3.5,
        ..History::default()
    };
    history.payments_by_hour[10] = 4;
    history.payments_by_hour[14] = 6;
    Case {
        now,
        debtor: Debtor {
            id: "cust-0042".into(),
            name: "Bäckerei Krume GmbH".into(),
            segment: "default".into(),
            tags: vec!["smb".into()],
            time_zone: "Europe/Berlin".into(),
            language: "de".into(),
            channels: vec![Channel::Email, Channel::Sms, Channel::Letter],
            history,
        },
        invoices,
        contacts,
        config: serde_json::json!({}),
    }
}

/// The same case in the SDK's types, for the native run.
fn native_case() -> dun_strategy::Case {
    use dun_strategy::{Channel as C, Tone as T, testing::CaseBuilder};
    let date = dun_strategy::Date::new(TODAY.0, TODAY.1 as u8, TODAY.2 as u8);
    let mut builder = CaseBuilder::new(date)
        .zone("Europe/Berlin")
        .channels(&[C::Email, C::Sms, C::Letter])
        .now(date.midnight_utc() + 8 * dun_strategy::HOUR);
    for (i, &(overdue, amount)) in INVOICES.iter().enumerate() {
        builder = builder.invoice(&format!("inv-{i}"), amount, overdue);
    }
    for &(days_ago, channel, tone, invoice) in &CONTACTS {
        let channel = match channel {
            Channel::Email => C::Email,
            Channel::Sms => C::Sms,
            Channel::Call => C::Call,
            Channel::Letter => C::Letter,
        };
        let tone = match tone {
            Tone::Courtesy => T::Courtesy,
            Tone::Gentle => T::Gentle,
            Tone::Firm => T::Firm,
            Tone::Final => T::Final,
        };
        builder = builder.contact(days_ago, channel, tone, &[&format!("inv-{invoice}")]);
    }
    builder.build()
}

/// Run `n` decisions; per-decision latencies.
fn decide_n(
    runtime: &Runtime,
    plugin: &Plugin,
    case: &Case,
    limits: &Limits,
    n: usize,
) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let decision = runtime
            .decide(plugin, case, limits)
            .expect("ladder decides the bench case");
        black_box(decision);
        latencies.push(started.elapsed());
    }
    latencies
}

/// `n` decisions on each of `threads` threads at once, every decision a
/// fresh instance: decisions/s over all of them, and their latencies sorted.
fn decide_on_threads(
    runtime: &Arc<Runtime>,
    plugin: &Arc<Plugin>,
    case: &Arc<Case>,
    limits: Limits,
    threads: usize,
    n: usize,
) -> (f64, Vec<Duration>) {
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (runtime, plugin, case) = (runtime.clone(), plugin.clone(), case.clone());
            std::thread::spawn(move || decide_n(&runtime, &plugin, &case, &limits, n))
        })
        .collect();
    let mut all: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    let rate = (n * threads) as f64 / started.elapsed().as_secs_f64();
    all.sort();
    (rate, all)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The Python ladder on the same case, beside the Rust figures.
fn python(case: &Arc<Case>, ladder: &Decision, rust_one_thread: f64, threads: usize) {
    let per_thread: usize = std::env::var("DUN_BENCH_PY_DECISIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    if per_thread < 10 {
        println!("python: skipped (DUN_BENCH_PY_DECISIONS={per_thread})");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let wasm = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-strategy/bench.wasm");
    let started = Instant::now();
    let build = Command::new("bash")
        .arg(root.join("examples/python-strategy/build.sh"))
        .arg(&wasm)
        .output();
    match build {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            println!(
                "python: skipped, build.sh failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Err(e) => {
            println!("python: skipped, cannot run build.sh: {e}");
            return;
        }
    }
    let build_time = started.elapsed();
    let bytes = std::fs::read(&wasm).expect("the built component");
    let limits = Limits::default();

    // Compile into an empty disk cache, then load from it as a restart would.
    let cache = tempfile::tempdir().expect("tempdir");
    let config = RuntimeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeConfig::default()
    };
    let cold_runtime = Runtime::new(config.clone()).expect("runtime");
    let started = Instant::now();
    let cold = cold_runtime.load(&bytes).expect("the Python ladder loads");
    let compile_time = started.elapsed();
    assert_eq!(cold.origin, LoadOrigin::Compiled);
    drop((cold, cold_runtime));
    let runtime = Arc::new(Runtime::new(config).expect("runtime"));
    let started = Instant::now();
    let plugin = runtime.load(&bytes).expect("the Python ladder loads");
    let cache_time = started.elapsed();
    assert_eq!(plugin.origin, LoadOrigin::DiskCache);

    let started = Instant::now();
    let first = runtime
        .decide(&plugin, case, &limits)
        .expect("the Python ladder decides the bench case");
    let first_time = started.elapsed();
    assert_eq!(first.plan, ladder.plan, "Python and Rust ladders agree");

    // Instantiation, with the smallest call there is.
    let mut instantiate: Vec<Duration> = (0..per_thread / 4)
        .map(|_| {
            let started = Instant::now();
            black_box(runtime.describe(&plugin, &limits).expect("describes"));
            started.elapsed()
        })
        .collect();
    instantiate.sort();

    decide_n(&runtime, &plugin, case, &limits, per_thread / 10); // warm-up
    let started = Instant::now();
    let mut latencies = decide_n(&runtime, &plugin, case, &limits, per_thread);
    let one_thread = per_thread as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    let (all_threads, all) =
        decide_on_threads(&runtime, &plugin, case, limits, threads, per_thread);

    println!(
        "python ladder ({} bytes, componentize-py): built in {:.1} s, compiled in {:.1} s, \
         loaded from the disk cache in {:.0} ms",
        bytes.len(),
        build_time.as_secs_f64(),
        compile_time.as_secs_f64(),
        cache_time.as_secs_f64() * 1e3
    );
    println!(
        "python: {} fuel, peak memory {} KiB, first decision after load {:.1} ms",
        first.fuel_used,
        first.peak_memory_bytes / 1024,
        first_time.as_secs_f64() * 1e3
    );
    println!(
        "python instantiate + describe(): p50 {:>8.1} us  p99 {:>8.1} us",
        micros(percentile(&instantiate, 0.50)),
        micros(percentile(&instantiate, 0.99))
    );
    println!("python fresh-instance decisions/s, 1 thread:  {one_thread:>10.0}");
    println!("python fresh-instance decisions/s, {threads} threads: {all_threads:>10.0}");
    println!(
        "python latency 1 thread:  p50 {:>8.1} us  p99 {:>8.1} us",
        micros(percentile(&latencies, 0.50)),
        micros(percentile(&latencies, 0.99))
    );
    println!(
        "python latency {threads} threads: p50 {:>8.1} us  p99 {:>8.1} us",
        micros(percentile(&all, 0.50)),
        micros(percentile(&all, 0.99))
    );
    println!(
        "Python/Rust per decision (1 thread): {:.0}x",
        rust_one_thread / one_thread
    );
}

fn main() {
    let per_thread: usize = std::env::var("DUN_BENCH_DECISIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = Arc::new(Runtime::new(RuntimeConfig::default()).expect("runtime"));
    let builtin = dun::builtin::find("ladder").expect("ladder is built in");
    let plugin = runtime.load(builtin.wasm).expect("ladder loads");
    let case = Arc::new(host_case());
    let limits = Limits::default();

    let first = runtime
        .decide(&plugin, &case, &limits)
        .expect("ladder decides the bench case");
    println!(
        "ladder on 5 invoices / 10 contacts: {} actions, {} fuel, peak memory {} KiB",
        first.plan.actions.len(),
        first.fuel_used,
        first.peak_memory_bytes / 1024
    );
    decide_n(&runtime, &plugin, &case, &limits, per_thread / 10); // warm-up

    // One thread.
    let started = Instant::now();
    let mut latencies = decide_n(&runtime, &plugin, &case, &limits, per_thread);
    let one_thread = per_thread as f64 / started.elapsed().as_secs_f64();
    latencies.sort();

    // Every core, each thread its own stream of fresh instances.
    let (all_threads, all) =
        decide_on_threads(&runtime, &plugin, &case, limits, threads, per_thread);

    // Native: the same policy, the same case, no sandbox.
    let native = native_case();
    let native_plan = ladder::plan(&native);
    assert_eq!(
        native_plan.actions.len(),
        first.plan.actions.len(),
        "native and Wasm agree"
    );
    let rounds = per_thread * 20;
    let started = Instant::now();
    for _ in 0..rounds {
        black_box(ladder::plan(black_box(&native)));
    }
    let native_per = started.elapsed().as_secs_f64() / rounds as f64;
    let wasm_per = 1.0 / one_thread;

    println!("fresh-instance decisions/s, 1 thread:  {one_thread:>10.0}");
    println!(
        "fresh-instance decisions/s, {threads} threads: {all_threads:>10.0}  (target >= 80000)"
    );
    println!(
        "latency 1 thread:  p50 {:>6.1} us  p99 {:>6.1} us",
        percentile(&latencies, 0.50).as_secs_f64() * 1e6,
        percentile(&latencies, 0.99).as_secs_f64() * 1e6
    );
    println!(
        "latency {threads} threads: p50 {:>6.1} us  p99 {:>6.1} us  (target p99 <= 100)",
        percentile(&all, 0.50).as_secs_f64() * 1e6,
        percentile(&all, 0.99).as_secs_f64() * 1e6
    );
    println!(
        "native ladder: {:.2} us/decision ({:.0}/s)",
        native_per * 1e6,
        1.0 / native_per
    );
    println!(
        "Wasm/native per decision: {:.1}x  (target <= 25x)",
        wasm_per / native_per
    );

    python(&case, &first, one_thread, threads);
}
