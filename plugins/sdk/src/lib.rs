//! Write a dun collection strategy in Rust.
//!
//! A strategy is a WebAssembly component that dun calls once per debtor with a
//! [`Case`] (everything it may look at) and that answers with a [`Plan`]
//! (reminders, offers, fees, escalations, and when to be asked again). This
//! crate is the `dun:strategy@0.1.0` contract as Rust types plus the helpers
//! every strategy would otherwise rewrite: calendar arithmetic on [`Date`],
//! a debtor's local time ([`local_hour`], [`next_local_hour`]), the best hour
//! to contact from payment history ([`History::best_hour`]), and builders for
//! actions and plans.
//!
//! An author writes one `impl` and one `export!`:
//!
//! ```ignore
//! use dun_strategy::*;
//!
//! struct Polite;
//!
//! impl Strategy for Polite {
//!     fn describe() -> Info {
//!         Info::new("polite", "1.0.0", "One gentle email per overdue invoice.")
//!     }
//!
//!     fn decide(case: Case) -> Result<Plan, String> {
//!         let overdue: Vec<&str> = case.invoices.iter()
//!             .filter(|i| i.days_overdue > 0 && !case.was_contacted(&i.id, Tone::Gentle))
//!             .map(|i| i.id.as_str())
//!             .collect();
//!         if overdue.is_empty() {
//!             return Ok(Plan::nothing("all quiet"));
//!         }
//!         Ok(Plan::new(vec![Action::remind(Channel::Email, Tone::Gentle, overdue, case.now)]))
//!     }
//! }
//!
//! dun_strategy::export!(Polite);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2 --release`; the `.wasm`
//! in `target/wasm32-wasip2/release/` is the component to upload. On the
//! native target the same code compiles for unit tests: [`log`] prints to
//! stderr and the calendar uses the same IANA rules as the host.

#[cfg(all(target_arch = "wasm32", feature = "arena"))]
mod arena;
mod calendar;
mod helpers;
pub mod testing;

pub use calendar::{DAY, HOUR, local_date, local_hour, local_time, next_local_hour, utc_offset};

/// The code generated from `wit/v0.1.0`. Use the re-exports at the crate root
/// instead; this module is public only so that [`export!`] can name it.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/v0.1.0",
        world: "strategy",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "dun_strategy::bindings",
        additional_derives: [PartialEq],
    });
}

pub use bindings::Guest as Strategy;
pub use bindings::dun::strategy::log::Level;
pub use bindings::dun::strategy::types::*;

/// Export a type implementing [`Strategy`] as the component's entry points.
///
/// ```ignore
/// struct MyStrategy;
/// impl dun_strategy::Strategy for MyStrategy { /* describe, decide */ }
/// dun_strategy::export!(MyStrategy);
/// ```
pub use bindings::export;

/// Write a line to the evaluation's log, kept by the host with the evaluation
/// (bounded) for the strategy author. Natively it goes to stderr.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    bindings::dun::strategy::log::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

/// [`log`] at [`Level::Debug`].
pub fn debug(message: &str) {
    log(Level::Debug, message)
}

/// [`log`] at [`Level::Info`].
pub fn info(message: &str) {
    log(Level::Info, message)
}

/// [`log`] at [`Level::Warn`].
pub fn warn(message: &str) {
    log(Level::Warn, message)
}

/// [`log`] at [`Level::Error`].
pub fn error(message: &str) {
    log(Level::Error, message)
}
