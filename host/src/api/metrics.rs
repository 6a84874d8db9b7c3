//! Prometheus metrics for `/metrics`: requests by route and status, their
//! latency, invoices ingested, and the store writer's group commits.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// Per tenant and strategy (a tenant's versions as `name@version`):
/// evaluations by outcome, actions by kind, fuel and seconds histograms.
fn render_strategies(
    out: &mut String,
    stats: &[((i64, String), crate::engine::StrategyStats)],
    tenants: &BTreeMap<i64, String>,
) {
    use crate::engine::{FUEL_BOUNDS, SECONDS_BOUNDS};
    let label = |tenant: &i64, strategy: &str| {
        let tenant = tenants.get(tenant).map_or("?", String::as_str);
        format!("tenant=\"{tenant}\",strategy=\"{strategy}\"")
    };
    out.push_str("# HELP dun_strategy_evaluations_total Evaluations per tenant and strategy version, by outcome.\n# TYPE dun_strategy_evaluations_total counter\n");
    for ((tenant, strategy), s) in stats {
        for (outcome, n) in &s.by_outcome {
            let _ = writeln!(
                out,
                "dun_strategy_evaluations_total{{{},outcome=\"{outcome}\"}} {n}",
                label(tenant, strategy)
            );
        }
    }
    out.push_str("# HELP dun_strategy_actions_total Actions planned per tenant and strategy version, by kind.\n# TYPE dun_strategy_actions_total counter\n");
    for ((tenant, strategy), s) in stats {
        for (kind, n) in &s.actions {
            let _ = writeln!(
                out,
                "dun_strategy_actions_total{{{},kind=\"{kind}\"}} {n}",
                label(tenant, strategy)
            );
        }
    }
    for (name, help, bounds, pick) in [
        (
            "dun_strategy_fuel",
            "Fuel per evaluation",
            &FUEL_BOUNDS[..],
            0,
        ),
        (
            "dun_strategy_duration_seconds",
            "Seconds in the sandbox per evaluation",
            &SECONDS_BOUNDS[..],
            1,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}, per tenant and strategy version.\n# TYPE {name} histogram"
        );
        for ((tenant, strategy), s) in stats {
            let h = if pick == 0 { &s.fuel } else { &s.seconds };
            let labels = label(tenant, strategy);
            for (bound, n) in bounds.iter().zip(&h.counts) {
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
        }
    }
}

/// Latency bucket bounds, seconds.
const BOUNDS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BOUNDS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    pub invoices_created: AtomicU64,
    pub invoices_unchanged: AtomicU64,
    pub invoices_rejected: AtomicU64,
}

impl Metrics {
    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests
                .entry((method.to_owned(), route.to_owned(), status))
                .or_default() += 1;
        }
        if let Ok(mut latency) = self.latency.lock() {
            let h = latency.entry(route.to_owned()).or_default();
            for (i, bound) in BOUNDS.iter().enumerate() {
                if seconds <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += seconds;
        }
    }

    /// The text exposition format.
    /// `outbox`: messages by (channel, status), counted by the caller.
    /// `tenants`: each tenant's id by row, for labels.
    pub fn render(
        &self,
        state: &AppState,
        outbox: &[(String, String, i64)],
        tenants: &BTreeMap<i64, String>,
    ) -> String {
        let mut out = String::new();
        out.push_str("# HELP dun_http_requests_total HTTP requests by method, route and status.\n# TYPE dun_http_requests_total counter\n");
        if let Ok(requests) = self.requests.lock() {
            for ((method, route, status), n) in requests.iter() {
                let _ = writeln!(
                    out,
                    "dun_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP dun_http_request_duration_seconds Time to answer, by route.\n# TYPE dun_http_request_duration_seconds histogram\n");
        if let Ok(latency) = self.latency.lock() {
            for (route, h) in latency.iter() {
                for (bound, n) in BOUNDS.iter().zip(h.counts) {
                    let _ = writeln!(
                        out,
                        "dun_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {n}"
                    );
                }
                let _ = writeln!(
                    out,
                    "dun_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "dun_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "dun_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    h.count
                );
            }
        }
        out.push_str("# HELP dun_invoices_ingested_total Invoices received, by outcome.\n# TYPE dun_invoices_ingested_total counter\n");
        for (outcome, n) in [
            ("created", &self.invoices_created),
            ("unchanged", &self.invoices_unchanged),
            ("rejected", &self.invoices_rejected),
        ] {
            let _ = writeln!(
                out,
                "dun_invoices_ingested_total{{outcome=\"{outcome}\"}} {}",
                n.load(Relaxed)
            );
        }
        let stats = state.store.stats();
        let _ = writeln!(
            out,
            "# HELP dun_store_transactions_total Write transactions committed (each holds a batch of writes).\n# TYPE dun_store_transactions_total counter\ndun_store_transactions_total {}",
            stats.transactions.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP dun_store_writes_total Writes applied by the store writer.\n# TYPE dun_store_writes_total counter\ndun_store_writes_total {}",
            stats.jobs.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP dun_store_failed_writes_total Writes rolled back (refused or failed).\n# TYPE dun_store_failed_writes_total counter\ndun_store_failed_writes_total {}",
            stats.failed_jobs.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP dun_store_commit_seconds_total Time spent committing (waiting on the disk).\n# TYPE dun_store_commit_seconds_total counter\ndun_store_commit_seconds_total {}",
            stats.commit_micros.load(Relaxed) as f64 / 1e6
        );
        let engine = state.engine.stats();
        out.push_str("# HELP dun_evaluations_total Strategy evaluations, by outcome (ok or the fault's kind).\n# TYPE dun_evaluations_total counter\n");
        for (outcome, n) in engine.by_outcome() {
            let _ = writeln!(out, "dun_evaluations_total{{outcome=\"{outcome}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP dun_evaluation_fuel_total Fuel used by strategies.\n# TYPE dun_evaluation_fuel_total counter\ndun_evaluation_fuel_total {}",
            engine.fuel.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP dun_evaluation_sandbox_seconds_total Time strategies ran in the sandbox.\n# TYPE dun_evaluation_sandbox_seconds_total counter\ndun_evaluation_sandbox_seconds_total {}",
            engine.sandbox_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "# HELP dun_evaluation_case_seconds_total Time building cases from the store.\n# TYPE dun_evaluation_case_seconds_total counter\ndun_evaluation_case_seconds_total {}",
            engine.case_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "# HELP dun_evaluation_record_seconds_total Time recording evaluations and their actions (scheduler passes).\n# TYPE dun_evaluation_record_seconds_total counter\ndun_evaluation_record_seconds_total {}",
            engine.record_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "# HELP dun_plugin_quarantines_total Tenant strategy versions quarantined after repeated faults.\n# TYPE dun_plugin_quarantines_total counter\ndun_plugin_quarantines_total {}",
            engine.quarantines.load(Relaxed)
        );
        render_strategies(&mut out, &engine.per_strategy(), tenants);
        out.push_str("# HELP dun_outbox_messages Messages in the outbox, by channel and status.\n# TYPE dun_outbox_messages gauge\n");
        for (channel, status, n) in outbox {
            let _ = writeln!(
                out,
                "dun_outbox_messages{{channel=\"{channel}\",status=\"{status}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP dun_uptime_seconds Seconds since the server started.\n# TYPE dun_uptime_seconds gauge\ndun_uptime_seconds {}",
            state.started.elapsed().as_secs_f64()
        );
        out
    }
}

/// Middleware: counts and times every request under its route template.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    state.metrics.observe(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
