//! What one evaluation's store holds: the capability-free WASI context, the
//! memory limiter, and the plugin's log.
//!
//! WASI is linked only so that ordinary `std` guests load, and its context is
//! built on the first WASI call (a `no_std` guest never makes one). It grants
//! nothing: no preopened directory (every path is "not found"),
//! no environment or arguments, no network (TCP, UDP and name lookup are
//! denied), stdin closed. The clocks read the case's `now`, and random bytes
//! come from a generator seeded with the case's digest, so an evaluation is a
//! pure function of its input. stdout and stderr are captured, line by line,
//! into the same bounded log as the contract's `log` import.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// Where a log line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogSource {
    Debug,
    Info,
    Warn,
    Error,
    Stdout,
    Stderr,
}

/// One line of a plugin's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub source: LogSource,
    pub message: String,
}

/// The last lines a plugin logged, and how many bytes were dropped before
/// them to stay within the bound.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogTail {
    pub lines: Vec<LogLine>,
    pub dropped_bytes: usize,
}

/// `[Info] message`: how a log line is shown to an author.
impl std::fmt::Display for LogLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{:?}] {}", self.source, self.message)
    }
}

impl std::fmt::Display for LogTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.dropped_bytes > 0 {
            writeln!(f, "[... {} earlier bytes dropped]", self.dropped_bytes)?;
        }
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

/// The bounded log shared by the `log` import and the stdout/stderr pipes.
/// Keeps the newest lines: the end of a log says why a plugin failed.
#[derive(Debug)]
struct LogBuffer {
    lines: VecDeque<LogLine>,
    bytes: usize,
    max_bytes: usize,
    dropped_bytes: usize,
    /// Unterminated output per stream (stdout, stderr).
    partial: [Vec<u8>; 2],
}

impl LogBuffer {
    fn push(&mut self, source: LogSource, message: String) {
        // A single line longer than the whole bound keeps only its end.
        let message = if message.len() > self.max_bytes {
            let mut cut = message.len() - self.max_bytes;
            while !message.is_char_boundary(cut) {
                cut += 1;
            }
            self.dropped_bytes += cut;
            message[cut..].to_string()
        } else {
            message
        };
        self.bytes += message.len();
        self.lines.push_back(LogLine { source, message });
        while self.bytes > self.max_bytes {
            match self.lines.pop_front() {
                Some(old) => {
                    self.bytes -= old.message.len();
                    self.dropped_bytes += old.message.len();
                }
                None => break,
            }
        }
    }

    fn write(&mut self, stream: usize, mut bytes: &[u8]) {
        let source = if stream == 0 {
            LogSource::Stdout
        } else {
            LogSource::Stderr
        };
        while let Some(newline) = bytes.iter().position(|&b| b == b'\n') {
            let mut line = std::mem::take(&mut self.partial[stream]);
            line.extend_from_slice(&bytes[..newline]);
            self.push(source, String::from_utf8_lossy(&line).into_owned());
            bytes = &bytes[newline + 1..];
        }
        let partial = &mut self.partial[stream];
        partial.extend_from_slice(bytes);
        // Output that never ends its line is still bounded.
        if partial.len() > self.max_bytes {
            let line = std::mem::take(partial);
            self.push(source, String::from_utf8_lossy(&line).into_owned());
        }
    }

    fn finish(&mut self) -> LogTail {
        for stream in 0..2 {
            if !self.partial[stream].is_empty() {
                self.write(stream, b"\n");
            }
        }
        LogTail {
            lines: self.lines.drain(..).collect(),
            dropped_bytes: std::mem::take(&mut self.dropped_bytes),
        }
    }
}

/// A handle on the log, cloned into the stdout and stderr pipes.
#[derive(Clone, Debug)]
pub struct Log(Arc<Mutex<LogBuffer>>);

impl Log {
    pub fn new(max_bytes: usize) -> Log {
        Log(Arc::new(Mutex::new(LogBuffer {
            lines: VecDeque::new(),
            bytes: 0,
            max_bytes,
            dropped_bytes: 0,
            partial: [Vec::new(), Vec::new()],
        })))
    }

    fn with<R>(&self, f: impl FnOnce(&mut LogBuffer) -> R) -> R {
        // A poisoned lock only means another thread panicked mid-push; the
        // buffer is still a valid list of lines.
        let mut buffer = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut buffer)
    }

    pub fn push(&self, source: LogSource, message: String) {
        self.with(|b| b.push(source, message))
    }

    /// Everything logged so far, leaving the log empty.
    pub fn take(&self) -> LogTail {
        self.with(LogBuffer::finish)
    }

    fn pipe(&self, stream: usize) -> LogPipe {
        LogPipe {
            log: self.clone(),
            stream,
        }
    }
}

/// stdout or stderr of a guest, writing into the [`Log`]. Never fails and
/// never blocks: a guest that prints a lot loses its oldest lines, not its
/// evaluation.
struct LogPipe {
    log: Log,
    stream: usize,
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LogPipe {
            log: self.log.clone(),
            stream: self.stream,
        })
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LogPipe {
            log: self.log.clone(),
            stream: self.stream,
        })
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for LogPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.log.with(|b| b.write(self.stream, &bytes));
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LogPipe {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.log.with(|b| b.write(self.stream, buf));
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// A wall clock stopped at the case's `now`.
struct FixedWallClock(Duration);

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        self.0
    }
}

/// A monotonic clock that never moves: elapsed time inside a decision is
/// always zero, so no plan can depend on how fast the host is.
struct StoppedMonotonicClock;

impl HostMonotonicClock for StoppedMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        0
    }
}

/// SplitMix64 seeded from the case: the same case yields the same bytes.
/// Not for secrets (a strategy has none); for sampling and tie-breaking.
struct CaseRandom(u64);

impl rand_core::TryRng for CaseRandom {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

/// Caps linear memory and tables for one store, and remembers whether it had
/// to refuse, so a trap that follows can be reported as what it is.
#[derive(Debug)]
pub struct MemoryCap {
    pub max_bytes: usize,
    pub peak_bytes: usize,
    pub refused: bool,
}

/// Table elements a guest may have; generous for any real strategy.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.refused = true;
            return Ok(false);
        }
        self.peak_bytes = self.peak_bytes.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            self.refused = true;
            return Ok(false);
        }
        Ok(true)
    }
}

/// The data of one evaluation's store.
pub struct Sandbox {
    /// Built on the first WASI call: a guest that imports no WASI (or does
    /// not touch it in this decision) never pays for it.
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    now: i64,
    seed: [u8; 32],
    pub memory: MemoryCap,
    pub log: Log,
    /// The zone last asked about through the calendar import: a strategy
    /// asks about its debtor's zone dozens of times per decision.
    pub zone: Option<(String, chrono_tz::Tz)>,
}

impl Sandbox {
    /// A sandbox whose clocks read `now` (seconds since the epoch) and whose
    /// random numbers derive from `seed`.
    pub fn new(now: i64, seed: [u8; 32], max_memory: usize, max_log_bytes: usize) -> Sandbox {
        Sandbox {
            wasi: None,
            table: ResourceTable::new(),
            now,
            seed,
            memory: MemoryCap {
                max_bytes: max_memory,
                peak_bytes: 0,
                refused: false,
            },
            log: Log::new(max_log_bytes),
            zone: None,
        }
    }

    /// The capability-free WASI context (see the module docs).
    fn build_wasi(&self) -> WasiCtx {
        let seed_word = |i: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&self.seed[i * 8..i * 8 + 8]);
            u64::from_le_bytes(word)
        };
        let since_epoch = Duration::from_secs(u64::try_from(self.now).unwrap_or(0));
        WasiCtx::builder()
            .stdout(self.log.pipe(0))
            .stderr(self.log.pipe(1))
            .wall_clock(FixedWallClock(since_epoch))
            .monotonic_clock(StoppedMonotonicClock)
            .secure_random(CaseRandom(seed_word(0)))
            .insecure_random(CaseRandom(seed_word(1)))
            .insecure_random_seed(u128::from(seed_word(2)) << 64 | u128::from(seed_word(3)))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build()
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        if self.wasi.is_none() {
            self.wasi = Some(self.build_wasi());
        }
        WasiCtxView {
            ctx: self.wasi.get_or_insert_with(WasiCtx::default),
            table: &mut self.table,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_the_newest_lines_within_its_bound() {
        let log = Log::new(10);
        log.push(LogSource::Info, "aaaa".into());
        log.push(LogSource::Info, "bbbb".into());
        log.push(LogSource::Warn, "cccc".into());
        let tail = log.take();
        assert_eq!(tail.dropped_bytes, 4);
        assert_eq!(
            tail.lines
                .iter()
                .map(|l| l.message.as_str())
                .collect::<Vec<_>>(),
            ["bbbb", "cccc"]
        );
    }

    #[test]
    fn output_is_split_into_lines_per_stream() {
        let log = Log::new(1_000);
        log.with(|b| {
            b.write(1, b"pan");
            b.write(0, b"out\n");
            b.write(1, b"icked\nrest");
        });
        let tail = log.take();
        let lines: Vec<_> = tail
            .lines
            .iter()
            .map(|l| (l.source, l.message.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (LogSource::Stdout, "out"),
                (LogSource::Stderr, "panicked"),
                (LogSource::Stderr, "rest")
            ]
        );
    }

    #[test]
    fn a_huge_line_keeps_its_end() {
        let log = Log::new(8);
        log.push(LogSource::Error, format!("{}THE END", "x".repeat(100)));
        let tail = log.take();
        assert_eq!(tail.lines[0].message, "xTHE END");
        assert_eq!(tail.dropped_bytes, 100 - 1);
    }
}
