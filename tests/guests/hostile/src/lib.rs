//! A strategy written to misbehave, so the host's tests can prove the
//! sandbox holds. The case's config picks the misbehaviour: `{"mode": M}`.
//!
//! | mode | does |
//! | --- | --- |
//! | `ok` | a valid plan: one gentle email about the first invoice |
//! | `loop` | loops forever |
//! | `recurse` | recurses without bound (frames on the native wasm stack) |
//! | `recurse-shadow` | recurses with large frames (Rust's shadow stack in linear memory) |
//! | `grow` | allocates 1 MiB chunks forever |
//! | `trap` | executes `unreachable` |
//! | `panic` | prints to stderr, then panics |
//! | `huge-string` | returns a plan whose note is 100 MiB |
//! | `million-actions` | returns 1,000,000 actions |
//! | `big-plan` | returns 20,000 actions |
//! | `open-file` | reads `/etc/passwd` and creates a file; reports both results |
//! | `env` | counts environment variables and arguments |
//! | `socket` | opens a TCP connection and binds a UDP socket; reports both results |
//! | `clock` | reads the wall clock |
//! | `random` | reads 8 random bytes from WASI |
//! | `invalid-plan` | reminds about an unknown invoice, a day in the past |
//! | `impossible-date` | offers a plan whose first installment is due on 2026-13-40 |
//!
//! Where a capability is denied, the guest returns `Err` describing what it
//! saw, so a test can assert the denial; a plan whose note starts with
//! `ESCAPED` would mean the sandbox leaked.

use std::hint::black_box;

use dun_strategy::{Action, Case, Channel, DAY, Date, Info, Plan, Strategy, Tone};

/// The mode named in the config, found without a JSON parser so this guest
/// stays small: the string value after `"mode"`.
fn mode(config: &str) -> &str {
    config
        .split_once("\"mode\"")
        .and_then(|(_, rest)| rest.split('"').nth(1))
        .unwrap_or("ok")
}

fn first_invoice(case: &Case) -> String {
    case.invoices
        .first()
        .map_or_else(|| "missing".to_string(), |i| i.id.clone())
}

fn remind_first(case: &Case, count: usize) -> Plan {
    let id = first_invoice(case);
    Plan::new(
        (0..count)
            .map(|_| Action::remind(Channel::Email, Tone::Gentle, [id.as_str()], case.now))
            .collect(),
    )
}

#[allow(
    clippy::empty_loop,
    reason = "the point of this mode is to never return"
)]
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Small frames: wasm locals, so the engine's native stack runs out first.
#[allow(
    unconditional_recursion,
    reason = "the point of this mode is to overflow the stack"
)]
fn recurse(depth: u64) -> u64 {
    // black_box on the result keeps LLVM from turning this into a loop.
    black_box(recurse(depth.wrapping_mul(3).wrapping_add(1))).wrapping_add(depth)
}

/// Large frames in linear memory: Rust's 1 MiB shadow stack runs out first,
/// and the stack pointer wraps below address 0.
#[allow(
    unconditional_recursion,
    reason = "the point of this mode is to overflow the stack"
)]
fn recurse_shadow(depth: u64) -> u64 {
    let frame = black_box([depth; 16]);
    recurse_shadow(black_box(frame[3] + 1)) + frame[7]
}

fn grow() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(black_box(vec![0xAB; 1 << 20]));
    }
}

fn trap() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    panic!("hostile: unreachable");
}

fn open_file() -> Result<Plan, String> {
    let read = std::fs::read_to_string("/etc/passwd").map(|s| s.len());
    let create = std::fs::File::create("escape.txt").map(|_| ());
    if read.is_ok() || create.is_ok() {
        return Ok(Plan::nothing("ESCAPED fs"));
    }
    Err(format!("fs: read={read:?} create={create:?}"))
}

fn socket() -> Result<Plan, String> {
    let tcp = std::net::TcpStream::connect("127.0.0.1:80").map(|_| ());
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").map(|_| ());
    if tcp.is_ok() || udp.is_ok() {
        return Ok(Plan::nothing("ESCAPED net"));
    }
    Err(format!("net: tcp={tcp:?} udp={udp:?}"))
}

fn clock() -> Plan {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let start = std::time::Instant::now();
    black_box(start.elapsed());
    Plan::nothing(&format!("clock={secs}"))
}

/// Eight bytes from WASI's random source (zero natively).
fn random() -> Plan {
    #[cfg(target_arch = "wasm32")]
    let bytes = {
        let mut bytes = [0u8; 8];
        if let Err(e) = getrandom::fill(&mut bytes) {
            return Plan::nothing(&format!("random failed: {e}"));
        }
        bytes
    };
    #[cfg(not(target_arch = "wasm32"))]
    let bytes = [0u8; 8];
    Plan::nothing(&format!("random={:016x}", u64::from_le_bytes(bytes)))
}

/// The misbehaving strategy.
pub struct Hostile;

impl Strategy for Hostile {
    fn describe() -> Info {
        Info::new(
            "hostile",
            "0.1.0",
            "Misbehaves on purpose, for the host's sandbox tests.",
        )
    }

    fn decide(case: Case) -> Result<Plan, String> {
        match mode(&case.config) {
            "ok" => {
                dun_strategy::info("hostile: ok");
                Ok(remind_first(&case, usize::from(!case.invoices.is_empty())))
            }
            "loop" => spin(),
            "recurse" => Ok(Plan::nothing(&recurse(black_box(1)).to_string())),
            "recurse-shadow" => Ok(Plan::nothing(&recurse_shadow(0).to_string())),
            "grow" => grow(),
            "trap" => trap(),
            "panic" => {
                eprintln!("about to panic");
                panic!("hostile: deliberate panic")
            }
            "huge-string" => Ok(Plan::nothing(&"x".repeat(100 << 20))),
            "million-actions" => Ok(remind_first(&case, 1_000_000)),
            "big-plan" => Ok(remind_first(&case, 20_000)),
            "open-file" => open_file(),
            "env" => {
                let vars = std::env::vars().count();
                let args = std::env::args().count();
                Ok(Plan::nothing(&format!("env={vars} args={args}")))
            }
            "socket" => socket(),
            "clock" => Ok(clock()),
            "random" => Ok(random()),
            "invalid-plan" => Ok(Plan::new(vec![Action::remind(
                Channel::Email,
                Tone::Gentle,
                ["no-such-invoice"],
                case.now - DAY,
            )])),
            "impossible-date" => Ok(Plan::new(vec![Action::offer_plan(
                [first_invoice(&case)],
                3,
                30,
                Date::new(2026, 13, 40),
            )])),
            other => Err(format!("unknown mode {other:?}")),
        }
    }
}

#[cfg(target_arch = "wasm32")]
dun_strategy::export!(Hostile);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_is_read_from_the_config() {
        assert_eq!(mode(r#"{"mode": "loop"}"#), "loop");
        assert_eq!(mode(r#"{ "mode":"big-plan" }"#), "big-plan");
        assert_eq!(mode("{}"), "ok");
    }
}
