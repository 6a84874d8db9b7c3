//! Sweep benchmark (nightly, not in CI): 100,000 debtors with 1,000,000
//! open invoices in a real SQLite file, one scheduler sweep that evaluates
//! every debtor with the built-in `ladder` in the sandbox, puts each plan
//! through the guardrails and persists the evaluation and every kept
//! action (outbox rows) durably.
//!
//! Run: `cargo bench -p dun --bench sweep` (`DUN_BENCH_DEBTORS=10000` for a
//! smaller run; 10 invoices per debtor). Prints debtors/s, actions
//! persisted/s and the share of worker time spent in the sandbox; asserts
//! nothing about time (target on a 2-core machine: the whole sweep ≤ 30 s).

use std::sync::atomic::Ordering;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use dun::engine::Engine;
use dun::runtime::RuntimeConfig;
use dun::store::invoices::{self, NewInvoice};
use dun::store::{Store, debtors, tenants};

const INVOICES_PER_DEBTOR: usize = 10;

fn main() {
    let count: usize = std::env::var("DUN_BENCH_DEBTORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("sweep.db")).unwrap();
    let now: DateTime<Utc> = "2026-05-04T10:00:00Z".parse().unwrap();
    let today = now.date_naive();

    // Setup (not timed as the sweep): debtors, then invoices in chunks.
    let started = Instant::now();
    let tenant = store
        .write_blocking(move |conn| Ok(tenants::create(conn, "bench", "Bench Ltd", now)?.row_id))
        .unwrap();
    for chunk in (0..count).collect::<Vec<_>>().chunks(20_000) {
        let chunk = chunk.to_vec();
        store
            .write_blocking(move |conn| {
                for d in chunk {
                    let input: debtors::DebtorInput = serde_json::from_value(serde_json::json!({
                        "external_id": format!("d{d}"), "name": format!("Debtor {d}"),
                        "email": format!("ap{d}@example.com"), "phone": "+4915112345678",
                        "time_zone": "Europe/Berlin",
                    }))
                    .unwrap();
                    debtors::upsert(conn, tenant, &input, now)?;
                }
                Ok(())
            })
            .unwrap();
    }
    let all: Vec<(usize, usize)> = (0..count)
        .flat_map(|d| (0..INVOICES_PER_DEBTOR).map(move |i| (d, i)))
        .collect();
    for chunk in all.chunks(50_000) {
        let items = chunk
            .iter()
            .map(|&(d, i)| {
                // Due dates from 60 days ago to 10 days ahead: every rung.
                let due = today - Duration::days(((d * 7 + i * 13) % 70) as i64 - 10);
                Ok(NewInvoice {
                    external_id: format!("inv-{d}-{i}"),
                    debtor_id: format!("d{d}"),
                    number: None,
                    currency: "EUR".into(),
                    amount: 100_00 + (d % 1000) as i64,
                    issued_on: due - Duration::days(30),
                    due_on: due,
                    terms: Default::default(),
                    metadata: None,
                })
            })
            .collect();
        let prepared = invoices::prepare(items);
        store
            .write_blocking(move |conn| invoices::create_many(conn, tenant, prepared, now))
            .unwrap();
    }
    println!(
        "setup: {count} debtors, {} invoices in {:.1} s",
        all.len(),
        started.elapsed().as_secs_f64()
    );

    let engine = Engine::new(RuntimeConfig::default()).unwrap();
    // Compile the ladder before the clock starts, as a running server has.
    engine.strategy("ladder").unwrap();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let finding = Instant::now();
    let due = store
        .read_blocking(move |conn| dun::store::evaluations::due_for_review(conn, now, 4_096))
        .unwrap();
    println!(
        "finding {} debtors due for review: {:.0} ms",
        due.len(),
        finding.elapsed().as_secs_f64() * 1e3
    );
    let started = Instant::now();
    let mut evaluated = 0;
    let mut faults = 0;
    loop {
        let (n, f) = engine.review_due(&store, now, 4_096).unwrap();
        if n == 0 {
            break;
        }
        evaluated += n;
        faults += f;
    }
    let wall = started.elapsed();
    let (actions, messages): (i64, i64) = store
        .read_blocking(|conn| {
            let actions: i64 = conn.query_row(
                "SELECT COALESCE(SUM(json_array_length(verdicts)), 0) FROM evaluations",
                [],
                |r| r.get(0),
            )?;
            let messages: i64 = conn.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
            Ok((actions, messages))
        })
        .unwrap();
    let sandbox =
        std::time::Duration::from_micros(engine.stats().sandbox_micros.load(Ordering::Relaxed));
    let fuel = engine.stats().fuel.load(Ordering::Relaxed);
    let secs = wall.as_secs_f64();
    println!("sweep: {evaluated} debtors evaluated ({faults} faults) in {secs:.2} s");
    println!("  {:.0} debtors/s", evaluated as f64 / secs);
    println!(
        "  {actions} planned actions judged, {messages} outbox rows persisted: {:.0} actions/s",
        messages as f64 / secs
    );
    println!(
        "  sandbox {:.2} s of {:.2} s worker time ({workers} workers): {:.0}% sandbox, {:.0}% store and guardrails",
        sandbox.as_secs_f64(),
        secs * workers as f64,
        100.0 * sandbox.as_secs_f64() / (secs * workers as f64),
        100.0 - 100.0 * sandbox.as_secs_f64() / (secs * workers as f64),
    );
    let share = |micros: u64| 100.0 * micros as f64 / 1e6 / (secs * workers as f64);
    println!(
        "  worker time: {:.0}% building cases (reads), {:.0}% recording (writes), {:.0}% sandbox",
        share(engine.stats().case_micros.load(Ordering::Relaxed)),
        share(engine.stats().record_micros.load(Ordering::Relaxed)),
        share(engine.stats().sandbox_micros.load(Ordering::Relaxed)),
    );
    println!(
        "  fuel {:.0} per decision",
        fuel as f64 / evaluated.max(1) as f64
    );
    println!(
        "  writer: {} transactions for {} writes",
        store.stats().transactions.load(Ordering::Relaxed),
        store.stats().jobs.load(Ordering::Relaxed)
    );
    store.close();
}
