//! `dun serve`: opens the store (creating the demo tenant on first start),
//! serves the API, runs the periodic sweep, and shuts down gracefully on
//! SIGTERM or Ctrl-C (in-flight requests finish, the writer drains).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::api::{self, AppState};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::store::{Store, arrangements, idempotency, secrets, tenants};

pub fn run(config: Config) -> anyhow::Result<()> {
    init_tracing();
    let store = Store::open(&config.database)
        .with_context(|| format!("opening {}", config.database.display()))?;
    let test_clock = config
        .test_clock
        .map(|at| Arc::new(crate::clock::ManualClock::new(at)));
    let clock: Arc<dyn Clock> = match &test_clock {
        Some(manual) => {
            tracing::info!(now = %manual.now(), "running on a test clock: time moves only when asked");
            manual.clone()
        }
        None => Arc::new(SystemClock),
    };
    let now = clock.now();
    if let Some((tenant, keys)) =
        store.write_blocking(move |conn| tenants::bootstrap_demo(conn, now))?
    {
        println!(
            "dun: first start: created tenant {:?} and these API keys (shown once, keep them):",
            tenant.id
        );
        for key in keys {
            println!("  {:<9} {}", key.info.role.as_str(), key.key);
        }
    }
    let sender = Arc::new(
        crate::senders::Directory::new(&config.senders, config.outbox_dir.clone())
            .map_err(|e| anyhow::anyhow!("senders: {e}"))?,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("dun-http")
        .build()?;
    let mut runtime_config = crate::runtime::RuntimeConfig {
        cache_dir: Some(config.cache_dir.clone()),
        ..Default::default()
    };
    crate::limits::check_operator(&config.limits, &crate::limits::ceilings(&runtime_config))
        .map_err(|refusal| anyhow::anyhow!("[limits]: {refusal}"))?;
    runtime_config.limits = crate::limits::apply(&runtime_config.limits, &config.limits, None);
    let engine = Arc::new(
        crate::engine::Engine::new(runtime_config)?
            .with_strategies_dir(config.strategies_dir.clone()),
    );
    // What an operator set at run time, over the configured limits.
    if let Some(host) = store.read_blocking(crate::store::limits::host)? {
        engine.set_host_limits(&host.values);
    }
    let mut state = AppState::new(store.clone(), engine.clone(), clock.clone());
    state.test_clock = test_clock;
    let sweeper = store.clone();
    let portal_secret = match &config.portal_secret {
        Some(secret) => secret.as_bytes().to_vec(),
        None => store.write_blocking(move |conn| {
            secrets::get_or_create(conn, "portal", crate::portal::generate_secret, now)
        })?,
    };
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let listening = format!("http://{}", listener.local_addr()?);
        let links = Arc::new(crate::portal::Links::new(
            portal_secret,
            config.public_url.as_deref().unwrap_or(&listening),
            config.portal_link_days,
        ));
        state.portal = Some(links.clone());
        // Tests and scripts read this line to find the port.
        println!("dun listening on {listening}");
        if config.scheduler_interval_secs > 0 {
            tokio::spawn(schedule(
                engine.clone(),
                sweeper.clone(),
                clock.clone(),
                config.scheduler_interval_secs,
            ));
        }
        if config.dispatch_interval_secs > 0 {
            tokio::spawn(dispatch(
                sweeper.clone(),
                sender,
                links,
                clock.clone(),
                config.dispatch_interval_secs,
            ));
        }
        tokio::spawn(sweep(sweeper, clock, config.clone()));
        api::serve(listener, state, shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    runtime.shutdown_timeout(Duration::from_secs(5));
    store.close();
    tracing::info!("stopped");
    Ok(())
}

/// Debtors a scheduler pass takes at a time.
const REVIEW_BATCH: usize = 4_096;

/// The scheduler: every `interval` seconds, evaluates the debtors due for
/// review (see `store::evaluations::due_for_review`), a batch at a time.
async fn schedule(
    engine: Arc<crate::engine::Engine>,
    store: Store,
    clock: Arc<dyn Clock>,
    interval: u64,
) {
    let mut every = tokio::time::interval(Duration::from_secs(interval));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await; // the first tick is immediate; let the server settle
    loop {
        every.tick().await;
        // Batches until nothing is due, so a backlog drains at full speed.
        loop {
            let (engine, store, now) = (engine.clone(), store.clone(), clock.now());
            match tokio::task::spawn_blocking(move || engine.review_due(&store, now, REVIEW_BATCH))
                .await
            {
                Ok(Ok((0, _))) => break,
                Ok(Ok((evaluated, faults))) => {
                    tracing::info!(evaluated, faults, "scheduler pass");
                    if evaluated < REVIEW_BATCH {
                        break;
                    }
                }
                Ok(Err(error)) => {
                    tracing::error!(%error, "scheduler pass failed");
                    break;
                }
                Err(error) => {
                    tracing::error!(%error, "scheduler pass panicked");
                    break;
                }
            }
        }
    }
}

/// The dispatcher: every `interval` seconds, sends what is due.
async fn dispatch(
    store: Store,
    sender: Arc<crate::senders::Directory>,
    links: Arc<crate::portal::Links>,
    clock: Arc<dyn Clock>,
    interval: u64,
) {
    let mut every = tokio::time::interval(Duration::from_secs(interval));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        loop {
            let (store, sender, links, now) =
                (store.clone(), sender.clone(), links.clone(), clock.now());
            match tokio::task::spawn_blocking(move || {
                let (handed_over, _) = crate::dispatcher::hand_over_due(&store, &sender, now)?;
                if handed_over > 0 {
                    tracing::info!(handed_over, "escalations handed over");
                }
                match crate::dispatcher::deliver_events(&store, now) {
                    Ok((0, _)) => {}
                    Ok((events, _)) => tracing::info!(events, "events delivered to subscriptions"),
                    Err(error) => tracing::error!(%error, "event delivery pass failed"),
                }
                crate::dispatcher::dispatch_due(&store, sender.as_ref(), &links, now)
            })
            .await
            {
                Ok(Ok(pass)) if pass.total() == 0 => break,
                Ok(Ok(pass)) => {
                    tracing::info!(pass.sent, pass.suppressed, pass.failed, "dispatcher pass");
                    if pass.total() < crate::dispatcher::BATCH {
                        break;
                    }
                }
                Ok(Err(error)) => {
                    tracing::error!(%error, "dispatcher pass failed");
                    break;
                }
                Err(error) => {
                    tracing::error!(%error, "dispatcher pass panicked");
                    break;
                }
            }
        }
    }
}

/// Evaluation inputs the sweep drops per transaction.
const INPUT_DROP_BATCH: usize = 1_000;
/// Batches per sweep pass: a backlog (the retention shortened, say) is
/// worked off over several passes, never in one long write.
const INPUT_DROP_BATCHES: usize = 20;

/// Closes broken promises and defaulted plans, forgets old idempotency
/// keys, drops evaluation inputs past their retention.
async fn sweep(store: Store, clock: Arc<dyn Clock>, config: Config) {
    let mut every = tokio::time::interval(Duration::from_secs(config.sweep_interval_secs.max(1)));
    loop {
        every.tick().await;
        let now = clock.now();
        let grace = config.plan_grace_days;
        let result = store
            .write(move |conn| {
                let closed = arrangements::sweep(conn, now.date_naive(), grace, now)?;
                let forgotten = idempotency::expire(conn, now)?;
                Ok((closed, forgotten))
            })
            .await;
        match result {
            Ok((closed, forgotten)) if closed + forgotten > 0 => {
                tracing::info!(closed, forgotten, "sweep");
            }
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "sweep failed"),
        }
        let days = config.evaluation_input_retention_days;
        if days == 0 {
            continue;
        }
        let before = now - chrono::Duration::days(i64::from(days));
        for _ in 0..INPUT_DROP_BATCHES {
            let dropped = store
                .write(move |conn| {
                    crate::store::evaluations::drop_inputs(conn, before, INPUT_DROP_BATCH, now)
                })
                .await;
            match dropped {
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(dropped = n, days, "evaluation inputs past retention");
                    }
                    if n < INPUT_DROP_BATCH {
                        break;
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "dropping evaluation inputs failed");
                    break;
                }
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DUN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
