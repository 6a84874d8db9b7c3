//! Configuration: built-in defaults, then `dun.toml` (the file named by
//! `--config`, or `./dun.toml` when present), then `DUN_*` environment
//! variables, then command-line flags. `dun serve` needs none of them.
//!
//! ```toml
//! listen = "127.0.0.1:8080"     # DUN_LISTEN
//! database = "dun.db"           # DUN_DB
//! sweep_interval_secs = 60      # DUN_SWEEP_INTERVAL_SECS
//! plan_grace_days = 10          # DUN_PLAN_GRACE_DAYS
//! scheduler_interval_secs = 30  # DUN_SCHEDULER_INTERVAL_SECS; 0: off
//! dispatch_interval_secs = 5    # DUN_DISPATCH_INTERVAL_SECS; 0: off
//! outbox_dir = "dun-outbox"     # DUN_OUTBOX_DIR: where the file sender writes
//! cache_dir = "dun-cache"       # DUN_CACHE_DIR: compiled strategies, so a restart does not recompile
//! test_clock = "2026-05-01T09:00:00Z"  # DUN_TEST_CLOCK: start a movable clock here
//! strategies_dir = "/srv/dun/strategies" # DUN_STRATEGIES_DIR: NAME.wasm = strategy NAME
//! evaluation_input_retention_days = 90  # DUN_EVALUATION_INPUT_RETENTION_DAYS; 0: keep forever
//! public_url = "https://dun.example.com" # DUN_PUBLIC_URL: where debtors reach /portal (default: http://<listen address>)
//! portal_link_days = 30         # DUN_PORTAL_LINK_DAYS: how long a reminder's portal link works
//! portal_secret = "…"           # DUN_PORTAL_SECRET: signs portal links (default: made on first start, kept in the database)
//!
//! # Per-evaluation limits (defaults shown); an operator can change them at
//! # run time (PUT /v1/limits), a plugin can have its own (see crate::limits).
//! [limits]
//! fuel = 50_000_000
//! memory_bytes = 67_108_864
//! deadline_ms = 250
//! max_actions = 200
//!
//! # Senders: a channel with nothing here is written to outbox_dir.
//! [senders.email]               # SMTP (lettre)
//! url = "smtp://127.0.0.1:2525" # smtps://…, smtp://…?tls=required, plain smtp:// for local
//! from = "billing@example.com"
//! [senders.sms]                 # an HTTP provider; format "json" or "twilio"
//! url = "https://sms.example.com/v1/messages"
//! authorization = "Bearer …"
//! [senders.call]                # same shape as sms
//! [senders.letter]              # print-and-mail endpoint; PDFs are kept either way
//! url = "https://print.example.com/letters"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where `dun serve` listens.
    pub listen: SocketAddr,
    /// The SQLite file.
    pub database: PathBuf,
    /// How often promises past their date and overdue plan installments
    /// are looked at, and old idempotency keys forgotten.
    pub sweep_interval_secs: u64,
    /// Days an installment may be overdue before its plan is defaulted.
    pub plan_grace_days: u32,
    /// How often the scheduler looks for debtors due for review; 0 turns
    /// it off.
    pub scheduler_interval_secs: u64,
    /// How often the dispatcher sends what is due; 0 turns it off.
    pub dispatch_interval_secs: u64,
    /// Where the embedded file sender writes messages (one folder per tenant).
    pub outbox_dir: PathBuf,
    /// Where compiled strategies are kept between runs.
    pub cache_dir: PathBuf,
    /// Run on a test clock that starts here and moves only when an
    /// operator asks (`POST /v1/test-clock`): for end-to-end tests and
    /// demos of weeks of dunning in minutes. Never in production.
    pub test_clock: Option<chrono::DateTime<chrono::Utc>>,
    /// A folder of operator-deployed strategies: `NAME.wasm` is offered to
    /// segments as strategy `NAME`, beside the built-ins.
    pub strategies_dir: Option<PathBuf>,
    /// Days an evaluation's input (its case) is kept for replay; the
    /// sweep drops older ones. 0 keeps them forever.
    pub evaluation_input_retention_days: u32,
    /// Host-wide per-evaluation limits, over the runtime's defaults.
    pub limits: crate::limits::LimitValues,
    /// The address debtors reach dun's portal at (`…/portal/{token}`);
    /// default `http://` plus the address dun listens on.
    pub public_url: Option<String>,
    /// Days a portal link in a reminder works, from the day it is sent.
    pub portal_link_days: u32,
    /// The key portal links are signed with (at least 32 characters); by
    /// default one is made on first start and kept in the database.
    pub portal_secret: Option<String>,
    /// How messages leave, per channel.
    pub senders: crate::senders::SendersConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: ([127, 0, 0, 1], 8080).into(),
            database: PathBuf::from("dun.db"),
            sweep_interval_secs: 60,
            plan_grace_days: 10,
            scheduler_interval_secs: 30,
            dispatch_interval_secs: 5,
            outbox_dir: PathBuf::from("dun-outbox"),
            cache_dir: PathBuf::from("dun-cache"),
            test_clock: None,
            strategies_dir: None,
            evaluation_input_retention_days: 90,
            limits: Default::default(),
            public_url: None,
            portal_link_days: 30,
            portal_secret: None,
            senders: Default::default(),
        }
    }
}

impl Config {
    /// Defaults, the file, then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let implicit = Path::new("dun.toml");
        let file = file.or(implicit.exists().then_some(implicit));
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("{} is not a valid dun.toml", path.display()))?
            }
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.check()?;
        Ok(config)
    }

    /// What no source may set: checked after all of them.
    fn check(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.public_url {
            crate::senders::http::check_url(url)
                .map_err(|e| anyhow::anyhow!("public_url {url:?}: {e}"))?;
        }
        if self.portal_secret.as_ref().is_some_and(|s| s.len() < 32) {
            anyhow::bail!("portal_secret: at least 32 characters");
        }
        if !(1..=365).contains(&self.portal_link_days) {
            anyhow::bail!("portal_link_days: 1 to 365");
        }
        Ok(())
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(v) = var("DUN_LISTEN") {
            self.listen = v
                .parse()
                .with_context(|| format!("DUN_LISTEN={v:?} is not an address"))?;
        }
        if let Some(v) = var("DUN_DB") {
            self.database = v.into();
        }
        if let Some(v) = var("DUN_SWEEP_INTERVAL_SECS") {
            self.sweep_interval_secs = v
                .parse()
                .with_context(|| format!("DUN_SWEEP_INTERVAL_SECS={v:?}"))?;
        }
        if let Some(v) = var("DUN_SCHEDULER_INTERVAL_SECS") {
            self.scheduler_interval_secs = v
                .parse()
                .with_context(|| format!("DUN_SCHEDULER_INTERVAL_SECS={v:?}"))?;
        }
        if let Some(v) = var("DUN_DISPATCH_INTERVAL_SECS") {
            self.dispatch_interval_secs = v
                .parse()
                .with_context(|| format!("DUN_DISPATCH_INTERVAL_SECS={v:?}"))?;
        }
        if let Some(v) = var("DUN_OUTBOX_DIR") {
            self.outbox_dir = v.into();
        }
        if let Some(v) = var("DUN_CACHE_DIR") {
            self.cache_dir = v.into();
        }
        if let Some(v) = var("DUN_STRATEGIES_DIR") {
            self.strategies_dir = Some(v.into());
        }
        if let Some(v) = var("DUN_TEST_CLOCK") {
            self.test_clock = Some(
                v.parse()
                    .with_context(|| format!("DUN_TEST_CLOCK={v:?} is not an RFC 3339 instant"))?,
            );
        }
        if let Some(v) = var("DUN_EVALUATION_INPUT_RETENTION_DAYS") {
            self.evaluation_input_retention_days = v
                .parse()
                .with_context(|| format!("DUN_EVALUATION_INPUT_RETENTION_DAYS={v:?}"))?;
        }
        if let Some(v) = var("DUN_PUBLIC_URL") {
            self.public_url = Some(v);
        }
        if let Some(v) = var("DUN_PORTAL_LINK_DAYS") {
            self.portal_link_days = v
                .parse()
                .with_context(|| format!("DUN_PORTAL_LINK_DAYS={v:?}"))?;
        }
        if let Some(v) = var("DUN_PORTAL_SECRET") {
            self.portal_secret = Some(v);
        }
        if let Some(v) = var("DUN_PLAN_GRACE_DAYS") {
            self.plan_grace_days = v
                .parse()
                .with_context(|| format!("DUN_PLAN_GRACE_DAYS={v:?}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        let mut config: Config =
            toml::from_str("listen = \"0.0.0.0:9000\"\ndatabase = \"/var/lib/dun/dun.db\"")
                .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.sweep_interval_secs, 60);
        config
            .apply_env(|name| (name == "DUN_DB").then(|| "other.db".to_owned()))
            .unwrap();
        assert_eq!(config.database, PathBuf::from("other.db"));
        assert!(toml::from_str::<Config>("colour = 1").is_err());
        let limited: Config = toml::from_str(
            "evaluation_input_retention_days = 30\n[limits]\nfuel = 1_000_000\nmax_actions = 20",
        )
        .unwrap();
        assert_eq!(limited.evaluation_input_retention_days, 30);
        assert_eq!(limited.limits.fuel, Some(1_000_000));
        assert_eq!(limited.limits.deadline_ms, None);
        assert!(toml::from_str::<Config>("[limits]\nfuel_units = 1").is_err());
        assert!(
            config
                .apply_env(|name| (name == "DUN_LISTEN").then(|| "nowhere".to_owned()))
                .is_err()
        );
    }
}
