//! Load mode: N transactions (connect, send, read to EOF, close), at most C in flight, all on
//! non-blocking sockets multiplexed by one `pyselect::select()` loop.
//!
//! Each transaction is a small state machine in one slot of a fixed table:
//!
//! ```text
//! socket, ioctl(FIONBIO), connect ─┬─ EINPROGRESS ─▶ Connecting ─ writable, SO_ERROR 0 ─┐
//!                                  └─ 0 (done at once) ─────────────────────────────────┴─▶ Sending
//! Sending ─ message sent ─▶ [--oob: Urgent ─ urgent byte sent ─▶] Receiving ─ EOF ─▶ check, close
//! ```
//!
//! Every loop iteration fills the free slots, waits in `select()` with the write set
//! (connecting or sending sockets) and the read set (sockets awaiting the reply) until the
//! nearest per-transaction deadline, advances every ready socket by at most a few
//! non-blocking calls, then fails the transactions whose deadline passed. No call waits on
//! one socket, so a slow server connection never holds up the others.
//!
//! Memory is flat: the slot table is allocated once; a reply is checked in a fixed buffer;
//! only the latency samples grow (one `u32` per successful transaction).

use std::io::Write as _;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use pyselect::consts::{MSG_OOB, SOL_SOCKET, SO_ERROR};
use pyselect::output::{eprint_line, print_line};
use pyselect::pyrepr::bytes_repr;
use pyselect::signals::{self, Signal};
use pyselect::{select, Error, Family, FileNo, Socket, Type, FD_SETSIZE};

/// What load mode needs to know.
#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    pub message: Vec<u8>,
    pub oob: bool,
    pub connections: u64,
    pub concurrency: usize,
    pub timeout: Duration,
    pub progress: bool,
}

/// Replies longer than this are wrong anyway (`welcome 65535!` is 14 bytes).
const REPLY_MAX: usize = 64;

/// Latency samples reserved up front at most (64 MiB); beyond that the vector grows.
const SAMPLES_RESERVED_MAX: u64 = 1 << 24;

/// How often the progress line is redrawn on a terminal.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// `recv()` calls per readiness: the reply and the FIN usually come together, so two reads
/// finish most transactions without another `select()`; the bound keeps one chatty server
/// connection from starving the rest.
const READS_PER_WAKEUP: usize = 4;

/// The urgent byte `--oob` sends.
const URGENT: &[u8] = b"!";

/// Why a transaction failed; the summary on stderr counts each kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Refused,
    Reset,
    Eof,
    BadReply,
    Timeout,
    Other,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Refused,
        Kind::Reset,
        Kind::Eof,
        Kind::BadReply,
        Kind::Timeout,
        Kind::Other,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Refused => "refused",
            Kind::Reset => "reset",
            Kind::Eof => "eof",
            Kind::BadReply => "bad_reply",
            Kind::Timeout => "timeout",
            Kind::Other => "other",
        }
    }

    /// The kind of a socket error.
    fn of(e: &Error) -> Kind {
        if let Error::Timeout = e {
            return Kind::Timeout;
        }
        match e.errno() {
            Some(libc::ECONNREFUSED) => Kind::Refused,
            Some(libc::ECONNRESET) | Some(libc::EPIPE) => Kind::Reset,
            Some(libc::ETIMEDOUT) => Kind::Timeout,
            _ => Kind::Other,
        }
    }
}

/// Where a transaction stands after a step.
enum Step {
    /// Waiting for the socket to become ready again.
    Pending,
    /// Reply checked, connection at EOF.
    Done,
    Failed(Kind, String),
    /// A watched signal (SIGINT/SIGTERM) interrupted a call: stop the run.
    Stop(Signal),
}

enum Phase {
    Connecting,
    Sending { sent: usize },
    Urgent,
    Receiving,
}

impl Phase {
    /// The phase after connecting. With `--oob` the urgent byte goes first: the server then
    /// sees it in its except set before the message, so its `urgent` line reliably comes
    /// before the message line (sent after the message, it may arrive after the reply).
    fn first(cfg: &Config) -> Phase {
        if cfg.oob {
            Phase::Urgent
        } else {
            Phase::Sending { sent: 0 }
        }
    }
}

/// One transaction in flight.
struct Transaction {
    sock: Socket,
    phase: Phase,
    started: Instant,
    deadline: Instant,
    reply: [u8; REPLY_MAX],
    len: usize,
}

/// A socket in a `select()` list, with the slot it belongs to.
#[derive(Clone, Copy)]
struct Entry {
    slot: usize,
    fd: RawFd,
}

impl FileNo for Entry {
    fn fileno(&self) -> RawFd {
        self.fd
    }
}

fn would_block(e: &Error) -> bool {
    matches!(e.errno(), Some(libc::EAGAIN) | Some(libc::EINTR))
}

impl Transaction {
    /// Open a non-blocking socket and start connecting. `Err` is fatal for the whole run (no
    /// socket, or an fd that `select()` cannot take).
    fn start(cfg: &Config) -> Result<(Transaction, Step), String> {
        let mut sock = Socket::new(Family::of(&cfg.addr), Type::Stream)
            .map_err(|e| format!("cannot create a socket: {e}"))?;
        if sock.fileno() as usize >= FD_SETSIZE {
            return Err(format!(
                "socket fd {} is not below FD_SETSIZE ({FD_SETSIZE}): too many open files for \
                 select(); lower --concurrency",
                sock.fileno()
            ));
        }
        // settimeout(0.0): ioctl(FIONBIO), so connect() returns EINPROGRESS instead of waiting.
        sock.settimeout(Some(0.0))
            .map_err(|e| format!("cannot make a socket non-blocking: {e}"))?;
        let started = Instant::now();
        let mut tx = Transaction {
            sock,
            phase: Phase::Connecting,
            started,
            deadline: started + cfg.timeout,
            reply: [0; REPLY_MAX],
            len: 0,
        };
        let step = match tx.sock.connect(cfg.addr) {
            Ok(()) => {
                tx.phase = Phase::first(cfg);
                tx.send(cfg)
            }
            // EINTR: the connection goes on in the background, as EINPROGRESS.
            Err(e) if matches!(e.errno(), Some(libc::EINPROGRESS) | Some(libc::EINTR)) => {
                Step::Pending
            }
            Err(e) => tx.fail("cannot connect to", cfg, e),
        };
        Ok((tx, step))
    }

    fn wants_write(&self) -> bool {
        !matches!(self.phase, Phase::Receiving)
    }

    fn fail(&self, what: &str, cfg: &Config, e: Error) -> Step {
        match e {
            Error::Interrupted(sig) => Step::Stop(sig),
            e => Step::Failed(Kind::of(&e), format!("{what} {}: {e}", cfg.addr)),
        }
    }

    /// The socket is writable: finish connecting, or send more.
    fn on_writable(&mut self, cfg: &Config) -> Step {
        if let Phase::Connecting = self.phase {
            match self.sock.getsockopt(SOL_SOCKET, SO_ERROR) {
                Ok(0) => self.phase = Phase::first(cfg),
                Ok(errno) => {
                    let e = Error::Os(std::io::Error::from_raw_os_error(errno));
                    return self.fail("cannot connect to", cfg, e);
                }
                Err(e) => return self.fail("cannot connect to", cfg, e),
            }
        }
        self.send(cfg)
    }

    /// Send the urgent byte (with `--oob`), then what is left of the message, until done or
    /// `EAGAIN`.
    fn send(&mut self, cfg: &Config) -> Step {
        loop {
            match self.phase {
                Phase::Connecting | Phase::Receiving => return Step::Pending,
                Phase::Sending { sent } if sent == cfg.message.len() => {
                    self.phase = Phase::Receiving;
                }
                Phase::Sending { sent } => match self.sock.send(&cfg.message[sent..]) {
                    Ok(n) => self.phase = Phase::Sending { sent: sent + n },
                    Err(e) if would_block(&e) => return Step::Pending,
                    Err(e) => return self.fail("cannot send to", cfg, e),
                },
                Phase::Urgent => match self.sock.send_flags(URGENT, MSG_OOB) {
                    Ok(n) if n == URGENT.len() => self.phase = Phase::Sending { sent: 0 },
                    Ok(_) => return Step::Pending,
                    Err(e) if would_block(&e) => return Step::Pending,
                    Err(e) => return self.fail("cannot send urgent data to", cfg, e),
                },
            }
        }
    }

    /// The socket is readable: take the reply; at EOF, check it.
    fn on_readable(&mut self, cfg: &Config, expected: &[u8]) -> Step {
        let mut buf = [0u8; REPLY_MAX + 1];
        for _ in 0..READS_PER_WAKEUP {
            let n = match self.sock.recv_into(&mut buf, 0) {
                Ok(n) => n,
                Err(e) if would_block(&e) => return Step::Pending,
                Err(e) => return self.fail("cannot receive from", cfg, e),
            };
            if n == 0 {
                return self.check(cfg, expected);
            }
            if self.len + n > REPLY_MAX {
                let shown = bytes_repr(&[&self.reply[..self.len], &buf[..n]].concat());
                return Step::Failed(
                    Kind::BadReply,
                    format!(
                        "bad reply from {}: {shown}... (more than {REPLY_MAX} bytes)",
                        cfg.addr
                    ),
                );
            }
            self.reply[self.len..self.len + n].copy_from_slice(&buf[..n]);
            self.len += n;
        }
        Step::Pending
    }

    fn check(&self, cfg: &Config, expected: &[u8]) -> Step {
        let reply = &self.reply[..self.len];
        if reply.is_empty() {
            Step::Failed(
                Kind::Eof,
                format!(
                    "no reply from {}: the server closed the connection",
                    cfg.addr
                ),
            )
        } else if reply == expected || reply == b"welcome!" {
            Step::Done
        } else {
            Step::Failed(
                Kind::BadReply,
                format!("bad reply from {}: {}", cfg.addr, bytes_repr(reply)),
            )
        }
    }

    fn timed_out(&self, cfg: &Config) -> Step {
        let what = match self.phase {
            Phase::Connecting => "cannot connect to",
            Phase::Sending { .. } => "cannot send to",
            Phase::Urgent => "cannot send urgent data to",
            Phase::Receiving => "no complete reply from",
        };
        Step::Failed(
            Kind::Timeout,
            format!("{what} {} within {:?}: timed out", cfg.addr, cfg.timeout),
        )
    }
}

/// Counts, the first failure, and the latency samples.
struct Stats {
    done: u64,
    errors: u64,
    by_kind: [u64; Kind::ALL.len()],
    first_error: Option<String>,
    latencies_us: Vec<u32>,
}

impl Stats {
    fn new(connections: u64) -> Stats {
        let reserve = connections.min(SAMPLES_RESERVED_MAX) as usize;
        Stats {
            done: 0,
            errors: 0,
            by_kind: [0; Kind::ALL.len()],
            first_error: None,
            latencies_us: Vec::with_capacity(reserve),
        }
    }

    fn success(&mut self, started: Instant) {
        self.done += 1;
        let us = started.elapsed().as_micros();
        self.latencies_us
            .push(u32::try_from(us).unwrap_or(u32::MAX));
    }

    fn failure(&mut self, kind: Kind, line: String) {
        self.done += 1;
        self.errors += 1;
        let i = Kind::ALL.iter().position(|&k| k == kind).unwrap_or(0);
        self.by_kind[i] += 1;
        self.first_error.get_or_insert(line);
    }

    /// The one summary line the benchmark runner parses.
    fn summary(&mut self, elapsed: Duration) -> String {
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
    fn error_line(&self) -> Option<String> {
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
struct Progress {
    enabled: bool,
    last: Option<Instant>,
    shown: bool,
}

impl Progress {
    fn tick(&mut self, stats: &Stats, total: u64, in_flight: usize) {
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

    fn clear(&mut self) {
        if self.shown {
            let _ = std::io::stderr().write_all(b"\r\x1b[K");
        }
    }
}

/// How the event loop ended.
enum End {
    Finished,
    Signal(Signal),
    Fatal(String),
}

/// Run the load, print the summary, and return the exit status: 0 when every transaction
/// succeeded, 1 otherwise, 128 + signal when SIGINT/SIGTERM stopped the run. `Err` is a
/// failure of the client itself (after the summary so far has been printed).
pub fn run(cfg: &Config) -> Result<u8, String> {
    let _signals = signals::notify(&[Signal::SIGINT, Signal::SIGTERM])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let expected = format!("welcome {}!", cfg.addr.port()).into_bytes();
    let width = cfg
        .concurrency
        .min(usize::try_from(cfg.connections).unwrap_or(usize::MAX));
    let mut slots: Vec<Option<Transaction>> = (0..width).map(|_| None).collect();
    let mut stats = Stats::new(cfg.connections);
    let mut progress = Progress {
        enabled: cfg.progress,
        last: None,
        shown: false,
    };
    let mut started = 0u64;
    let begin = Instant::now();

    let end = 'run: loop {
        // Fill the free slots. A transaction can end at once (refused on loopback): the slot
        // then takes the next one; the loop is bounded by the transactions left.
        for slot in slots.iter_mut().filter(|s| s.is_none()) {
            while started < cfg.connections {
                if let Some(sig) = signals::take_pending() {
                    break 'run End::Signal(sig);
                }
                started += 1;
                let (tx, step) = match Transaction::start(cfg) {
                    Ok(begun) => begun,
                    Err(line) => break 'run End::Fatal(line),
                };
                match step {
                    Step::Pending => {
                        *slot = Some(tx);
                        break;
                    }
                    Step::Done => stats.success(tx.started),
                    Step::Failed(kind, line) => stats.failure(kind, line),
                    Step::Stop(sig) => break 'run End::Signal(sig),
                }
            }
        }

        let Some(nearest) = slots.iter().flatten().map(|t| t.deadline).min() else {
            break End::Finished;
        };
        let wait = nearest.saturating_duration_since(Instant::now());
        let entries = |write: bool| {
            slots.iter().enumerate().filter_map(move |(slot, s)| {
                s.as_ref()
                    .filter(|t| t.wants_write() == write)
                    .map(|t| Entry {
                        slot,
                        fd: t.sock.fileno(),
                    })
            })
        };
        let (readable, writable, _) = match select(
            entries(false),
            entries(true),
            std::iter::empty(),
            Some(wait.as_secs_f64()),
        ) {
            Ok(ready) => ready,
            Err(Error::Interrupted(sig)) => break End::Signal(sig),
            Err(e) => break End::Fatal(format!("select() failed: {e}")),
        };

        // A slot is in one list only, so each ready entry is still its slot's transaction.
        for (entry, write) in writable
            .iter()
            .map(|e| (e, true))
            .chain(readable.iter().map(|e| (e, false)))
        {
            let Some(tx) = slots[entry.slot].as_mut() else {
                continue;
            };
            let step = if write {
                tx.on_writable(cfg)
            } else {
                tx.on_readable(cfg, &expected)
            };
            match step {
                Step::Pending => continue,
                Step::Done => stats.success(tx.started),
                Step::Failed(kind, line) => stats.failure(kind, line),
                Step::Stop(sig) => break 'run End::Signal(sig),
            }
            // Done or failed: drop closes the socket and frees the slot.
            slots[entry.slot] = None;
        }

        let now = Instant::now();
        for slot in slots.iter_mut() {
            if let Some(tx) = slot.as_ref().filter(|t| t.deadline <= now) {
                if let Step::Failed(kind, line) = tx.timed_out(cfg) {
                    stats.failure(kind, line);
                }
                *slot = None;
            }
        }
        let in_flight = slots.iter().flatten().count();
        progress.tick(&stats, cfg.connections, in_flight);
    };

    let elapsed = begin.elapsed();
    // Connections still open are closed here, before anything is printed.
    drop(slots);
    progress.clear();
    let summary = stats.summary(elapsed);
    let printed = print_line(&summary);
    if let Some(line) = stats.error_line() {
        let _ = eprint_line(&format!("pyselect-client: {line}"));
    }
    match end {
        End::Fatal(line) => Err(line),
        End::Signal(sig) => {
            let _ = eprint_line(&format!(
                "pyselect-client: interrupted by {} after {} of {} transactions",
                sig.as_str(),
                stats.done,
                cfg.connections
            ));
            Ok(128 + sig as u8)
        }
        End::Finished => match printed {
            Err(e) => Err(format!("cannot write to stdout: {}", Error::Os(e))),
            Ok(()) if stats.errors == 0 => Ok(0),
            Ok(()) => Ok(1),
        },
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
