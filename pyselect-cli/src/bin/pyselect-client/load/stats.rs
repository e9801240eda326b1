//! What load mode counts and shows: [`Stats`] (counts, the first failure, latency samples,
//! the summary line) and [`Progress`] (a line redrawn on a terminal).

use std::io::Write as _;
use std::time::{Duration, Instant};

use super::Kind;

/// Latency samples reserved up front at most (64 MiB); beyond that the vector grows.
const SAMPLES_RESERVED_MAX: u64 = 1 << 24;

/// How often the progress line is redrawn on a terminal.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Counts, the first failure, and the latency samples.
pub struct Stats {
    pub done: u64,
    pub errors: u64,
    by_kind: [u64; Kind::ALL.len()],
    first_error: Option<String>,
    latencies_us: Vec<u32>,
}

impl Stats {
    pub fn new(connections: u64) -> Stats {
        let reserve = connections.min(SAMPLES_RESERVED_MAX) as usize;
        Stats {
            done: 0,
            errors: 0,
            by_kind: [0; Kind::ALL.len()],
            first_error: None,
            latencies_us: Vec::with_capacity(reserve),
        }
    }

    pub fn success(&mut self, started: Instant) {
        self.done += 1;
        let us = started.elapsed().as_micros();
        self.latencies_us
            .push(u32::try_from(us).unwrap_or(u32::MAX));
    }

    pub fn failure(&mut self, kind: Kind, line: String) {
        self.done += 1;
        self.errors += 1;
        let i = Kind::ALL.iter().position(|&k| k == kind).unwrap_or(0);
        self.by_kind[i] += 1;
        self.first_error.get_or_insert(line);
    }

    /// The one summary line the benchmark runner parses.
    pub fn summary(&mut self, elapsed: Duration) -> String {
        self.latencies_us.sort_unstable();
        let seconds = elapsed.as_secs_f64();
        let ok = self.done - self.errors;
        let rate = if seconds > 0.0 {
            ok as f64 / seconds
        } else {
            0.0
        };
        format!(
            "transactions={} errors={} seconds={seconds:.3} tx/s={rate:.1} p50_us={} p99_us={} max_us={}",
            self.done,
            self.errors,
            percentile(&self.latencies_us, 50),
            percentile(&self.latencies_us, 99),
            self.latencies_us.last().copied().unwrap_or(0),
        )
    }

    /// One stderr line: the failures by kind, and the first one in full.
    pub fn error_line(&self) -> Option<String> {
        let first = self.first_error.as_ref()?;
        let kinds: Vec<String> = Kind::ALL
            .iter()
            .zip(self.by_kind)
            .filter(|&(_, n)| n > 0)
            .map(|(k, n)| format!("{}={n}", k.name()))
            .collect();
        Some(format!(
            "{} of {} transactions failed ({}); first: {first}",
            self.errors,
            self.done,
            kinds.join(" ")
        ))
    }
}

/// Nearest-rank percentile of sorted samples; 0 when there are none.
fn percentile(sorted: &[u32], p: u64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len() as u64;
    // ceil(p * n / 100) (u64::div_ceil: Rust 1.73, within the crate's rust-version).
    let rank = (p * n).div_ceil(100).max(1);
    sorted[(rank - 1) as usize]
}

/// A progress line on stderr, redrawn in place, only when stderr is a terminal.
pub struct Progress {
    enabled: bool,
    last: Option<Instant>,
    shown: bool,
}

impl Progress {
    pub fn tick(&mut self, stats: &Stats, total: u64, in_flight: usize) {
        if !self.enabled || self.last.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        self.shown = true;
        let line = format!(
            "\r{}/{total} transactions, {} errors, {in_flight} in flight ",
            stats.done, stats.errors
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    pub fn clear(&mut self) {
        if self.shown {
            let _ = std::io::stderr().write_all(b"\r\x1b[K");
        }
    }
}

impl Progress {
    /// A progress line, drawn only when `enabled` (stderr is a terminal).
    pub fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            last: None,
            shown: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 50), 0);
        assert_eq!(percentile(&[7], 50), 7);
        assert_eq!(percentile(&[7], 99), 7);
        let samples: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50), 50);
        assert_eq!(percentile(&samples, 99), 99);
        let samples: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&samples, 99), 990);
        assert_eq!(percentile(&[1, 2, 3], 50), 2);
    }
}
