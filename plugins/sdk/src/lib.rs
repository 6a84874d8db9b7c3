#![cfg_attr(all(target_arch = "wasm32", not(feature = "std")), no_std)]
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
//!
//! ## `std` or not
//!
//! With the default `std` feature a strategy is an ordinary Rust program: the
//! component imports WASI (with no capabilities granted) for std's I/O and
//! panic output. Without it (`default-features = false, features =
//! ["arena"]`) the crate is `no_std` + `alloc` on wasm32: the component
//! imports only `dun:strategy/*`, is a fraction of the size, and instantiates
//! several times faster; a panic is written to the evaluation's log and
//! traps. The reference strategies `ladder` and `send-time` are built so.

#[cfg(all(target_arch = "wasm32", feature = "arena"))]
mod arena;
extern crate alloc;

/// The `alloc` names the SDK uses, so it reads the same with and without std.
mod prelude {
    pub use alloc::string::{String, ToString};
    pub use alloc::vec::Vec;
    pub use alloc::{format, vec};
}

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

// Without std nothing links wasi-libc, yet the compiler still calls its
// memcmp. Static linking takes only the pure functions referenced (no WASI
// imports come with them).
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[link(name = "c")]
unsafe extern "C" {}

/// The canonical ABI's allocator export. On wasip2 std provides it (and
/// wit-bindgen relies on that); without std the component must.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[unsafe(no_mangle)]
unsafe extern "C" fn cabi_realloc(
    old_ptr: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    use core::alloc::Layout;
    if old_len == 0 && new_len == 0 {
        return align as *mut u8;
    }
    // SAFETY: the canonical ABI guarantees a power-of-two `align` and, for a
    // reallocation, the `old_ptr`/`old_len` of an earlier call.
    let ptr = unsafe {
        if old_len == 0 {
            alloc::alloc::alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            alloc::alloc::realloc(
                old_ptr,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        }
    };
    if ptr.is_null() {
        // Out of memory: the host reports the refused growth.
        core::arch::wasm32::unreachable()
    }
    ptr
}

/// Without std there is no panic output: write the panic to the log, then trap.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let message = prelude::format!("panicked: {info}");
    bindings::dun::strategy::log::log(Level::Error, &message);
    core::arch::wasm32::unreachable()
}

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
