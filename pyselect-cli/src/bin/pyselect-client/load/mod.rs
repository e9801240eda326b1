//! Load mode: N transactions (connect, send, read to EOF, close), at most C in flight, all on
//! non-blocking sockets multiplexed by one loop around one readiness call per round:
//! `pyselect::select()`, `Poll` or `Epoll` (`--backend`, see [`readiness`]). With `--hold M`, M
//! idle connections are opened first and kept open for the whole run, so that the server
//! watches M more fds while the load is measured.
//!
//! Each transaction is a small state machine in one slot of a fixed table:
//!
//! ```text
//! socket, ioctl(FIONBIO), connect ─┬─ EINPROGRESS ─▶ Connecting ─ writable, SO_ERROR 0 ─┐
//!                                  └─ 0 (done at once) ─────────────────────────────────┴─▶ Sending
//! Sending ─ message sent ─▶ [--oob: Urgent ─ urgent byte sent ─▶] Receiving ─ EOF ─▶ check, close
//! ```
//!
//! Every loop iteration fills the free slots, waits (connecting or sending sockets for
//! writing, sockets awaiting the reply for reading) until the nearest per-transaction
//! deadline, advances every ready socket by at most a few non-blocking calls, then fails the
//! transactions whose deadline passed. No call waits on one socket, so a slow server
//! connection never holds up the others. The deadlines wait in a queue in the order they were
//! set, so no round scans the whole slot table.
//!
//! Memory is flat: the slot table is allocated once; a reply is checked in a fixed buffer;
//! only the latency samples grow (one `u32` per successful transaction).

use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use pyselect::consts::{MSG_OOB, MSG_PEEK, SOL_SOCKET, SO_ERROR};
use pyselect::signals::{self, Signal};
use pyselect::{Error, Family, Socket, Syscall, Type, FD_SETSIZE};
use pyselect_cli::deadlines::DeadlineQueue;
use pyselect_cli::output::{eprint_line, print_line};
use pyselect_cli::pyrepr::bytes_repr;
use pyselect_cli::readiness;

mod stats;

pub use readiness::Backend;
use readiness::{Interest, Readiness, ReadyFds};
use stats::{Progress, Stats};

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
    pub backend: Backend,
    /// `--hold M`: idle connections opened first and kept for the whole run (`None`: not
    /// given, and the summary does not mention it).
    pub hold: Option<usize>,
}

/// Fds the process needs beside its sockets (stdio, the epoll fd, a few inherited).
const SPARE_FDS: u64 = 32;

/// Replies longer than this are wrong anyway (`welcome 65535!` is 14 bytes).
const REPLY_MAX: usize = 64;

/// `recv()` calls per readiness: the reply and the FIN usually come together, so two reads
/// finish most transactions without another `select()`; the bound keeps one chatty server
/// connection from starving the rest.
const READS_PER_WAKEUP: usize = 4;

/// The urgent byte `--oob` sends.
const URGENT: &[u8] = b"!";

/// Why a transaction failed; the summary on stderr counts each kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
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

fn would_block(e: &Error) -> bool {
    matches!(e.errno(), Some(libc::EAGAIN) | Some(libc::EINTR))
}

impl Transaction {
    /// Open a non-blocking socket and start connecting. `Err` is fatal for the whole run (no
    /// socket, or an fd that `select()` cannot take).
    fn start(cfg: &Config, readiness: &Readiness<usize>) -> Result<(Transaction, Step), String> {
        let mut sock = Socket::new(Family::of(&cfg.addr), Type::Stream)
            .map_err(|e| format!("cannot create a socket: {e}{}", fd_limit_hint(&e)))?;
        if !readiness.takes(sock.fileno()) {
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

    /// What the socket waits for: the reply, or room to connect or send.
    fn interest(&self) -> Interest {
        match self.phase {
            Phase::Receiving => Interest::READ,
            _ => Interest::WRITE,
        }
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

/// How the event loop ended.
enum End {
    Finished,
    Signal(Signal),
    Fatal(String),
}

/// The event loop's state: the slot table, the counts, how many transactions were started.
struct Load<'a> {
    cfg: &'a Config,
    /// `welcome <port>!`.
    expected: Vec<u8>,
    slots: Vec<Option<Transaction>>,
    /// Each transaction's deadline (its start + `--timeout`) with its slot, nearest first. An
    /// entry whose slot has since been freed (or holds a later transaction) is stale.
    deadlines: DeadlineQueue<usize>,
    /// Slots holding a transaction.
    in_flight: usize,
    /// What the round's readiness call found (kept to reuse its memory).
    ready: ReadyFds,
    /// The readiness call: each watched socket is tagged with its transaction's slot.
    readiness: Readiness<usize>,
    stats: Stats,
    started: u64,
}

impl Load<'_> {
    /// Fill the free slots. A transaction can end at once (refused on loopback): the slot then
    /// takes the next one; the loop is bounded by the transactions left.
    fn fill(&mut self) -> Result<(), End> {
        let cfg = self.cfg;
        for (i, slot) in self
            .slots
            .iter_mut()
            .enumerate()
            .filter(|(_, s)| s.is_none())
        {
            while self.started < cfg.connections {
                if let Some(sig) = signals::take_pending() {
                    return Err(End::Signal(sig));
                }
                self.started += 1;
                let (tx, step) = Transaction::start(cfg, &self.readiness).map_err(End::Fatal)?;
                match step {
                    Step::Pending => {
                        self.readiness
                            .set(tx.sock.fileno(), tx.interest(), i)
                            .map_err(|e| End::Fatal(format!("cannot watch a socket: {e}")))?;
                        self.deadlines.push(tx.deadline, i);
                        self.in_flight += 1;
                        *slot = Some(tx);
                        break;
                    }
                    Step::Done => self.stats.success(tx.started),
                    Step::Failed(kind, line) => self.stats.failure(kind, line),
                    Step::Stop(sig) => return Err(End::Signal(sig)),
                }
            }
        }
        Ok(())
    }

    /// Wait until a socket is ready or the nearest deadline: the connecting and sending
    /// sockets for writing, those awaiting the reply for reading. `Finished` when nothing is
    /// in flight.
    fn wait(&mut self) -> Result<(), End> {
        let Some(nearest) = self.nearest() else {
            return Err(End::Finished);
        };
        let wait = nearest.saturating_duration_since(Instant::now());
        match self
            .readiness
            .wait(Some(wait.as_secs_f64()), &mut self.ready)
        {
            Ok(_) => Ok(()),
            Err(Error::Interrupted(sig)) => Err(End::Signal(sig)),
            Err(e) => Err(End::Fatal(format!("the readiness call failed: {e}"))),
        }
    }

    /// Advance every ready transaction by a few non-blocking calls; a finished one frees its
    /// slot (dropping it closes the socket).
    fn advance(&mut self) -> Result<(), End> {
        // The writable first, as `select()`'s lists are handled. A socket is watched for one
        // direction only, so each ready fd is in one list, and its tag is still its slot
        // (new transactions start only in the next `fill`).
        let ready = std::mem::take(&mut self.ready);
        let writable = ready.writable.iter().map(|&fd| (fd, true));
        let readable = ready.readable.iter().map(|&fd| (fd, false));
        let done = writable
            .chain(readable)
            .try_for_each(|(fd, write)| self.advance_one(fd, write));
        self.ready = ready;
        done
    }

    /// Advance the transaction on `fd`, found ready for writing (`write`) or reading.
    fn advance_one(&mut self, fd: RawFd, write: bool) -> Result<(), End> {
        let Some((_, slot)) = self.readiness.registered(fd) else {
            return Ok(());
        };
        let Some(tx) = self.slots[slot].as_mut() else {
            return Ok(());
        };
        let step = if write {
            tx.on_writable(self.cfg)
        } else {
            tx.on_readable(self.cfg, &self.expected)
        };
        match step {
            Step::Pending => match self.readiness.set(fd, tx.interest(), slot) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let line = format!("cannot watch a socket: {e}");
                    self.stats.failure(Kind::Other, line);
                }
            },
            Step::Done => self.stats.success(tx.started),
            Step::Failed(kind, line) => self.stats.failure(kind, line),
            Step::Stop(sig) => return Err(End::Signal(sig)),
        }
        let _ = self.readiness.remove(fd);
        self.free(slot);
        Ok(())
    }

    /// Empty `slot` (dropping its transaction closes the socket).
    fn free(&mut self, slot: usize) {
        if self.slots[slot].take().is_some() {
            self.in_flight -= 1;
        }
    }

    /// The nearest deadline of a transaction in flight.
    fn nearest(&mut self) -> Option<Instant> {
        let slots = &self.slots;
        self.deadlines.nearest(|t, slot| live(slots, t, slot))
    }

    /// Fail the transactions whose deadline has passed: the front of the deadline queue.
    fn expire(&mut self) {
        let now = Instant::now();
        loop {
            let slots = &self.slots;
            let Some(slot) = self.deadlines.pop_due(now, |t, slot| live(slots, t, slot)) else {
                break;
            };
            if let Some(tx) = self.slots[slot].as_ref() {
                if let Step::Failed(kind, line) = tx.timed_out(self.cfg) {
                    self.stats.failure(kind, line);
                }
                let _ = self.readiness.remove(tx.sock.fileno());
            }
            self.free(slot);
        }
    }

    fn in_flight(&self) -> usize {
        self.in_flight
    }
}

/// Is the queued deadline `t` still the deadline of the transaction in `slot`? (A later
/// transaction in the same slot has a later deadline; were two ever equal, either entry
/// expires it rightly.)
fn live(slots: &[Option<Transaction>], t: Instant, slot: usize) -> bool {
    slots[slot].as_ref().is_some_and(|tx| tx.deadline == t)
}

/// Run the load, print the summary, and return the exit status: 0 when every transaction
/// succeeded, 1 otherwise, 128 + signal when SIGINT/SIGTERM stopped the run. `Err` is a
/// failure of the client itself (after the summary so far has been printed).
pub fn run(cfg: &Config) -> Result<u8, String> {
    let _signals = signals::notify(&[Signal::SIGINT, Signal::SIGTERM])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let width = cfg
        .concurrency
        .min(usize::try_from(cfg.connections).unwrap_or(usize::MAX));
    let hold = cfg.hold.unwrap_or(0);
    if cfg.backend != Backend::Select {
        // As many fds as the hard limit allows (what the run needs when it is unlimited); a
        // line when that is fewer than the run needs.
        let wanted = (width + hold) as u64 + SPARE_FDS;
        match pyselect_cli::limits::raise_nofile(wanted) {
            Ok(limit) => {
                if let Some(line) = limit.shortfall() {
                    let _ = eprint_line(&format!("pyselect-client: {line}"));
                }
            }
            Err(e) => {
                let _ = eprint_line(&format!("pyselect-client: cannot raise RLIMIT_NOFILE: {e}"));
            }
        }
    }
    let readiness = Readiness::new(cfg.backend, Syscall::Libc)
        .map_err(|e| format!("cannot start the readiness call: {e}"))?;
    let held = open_held(cfg, hold, &readiness)?;
    let held = cfg.hold.map(|_| held);
    let mut load = Load {
        cfg,
        expected: format!("welcome {}!", cfg.addr.port()).into_bytes(),
        slots: (0..width).map(|_| None).collect(),
        deadlines: DeadlineQueue::with_capacity(width),
        ready: ReadyFds::default(),
        in_flight: 0,
        readiness,
        stats: Stats::new(cfg.connections),
        started: 0,
    };
    let mut progress = Progress::new(cfg.progress);
    let begin = Instant::now();

    let end = loop {
        let round = load
            .fill()
            .and_then(|()| load.wait())
            .and_then(|()| load.advance());
        if let Err(end) = round {
            break end;
        }
        load.expire();
        progress.tick(&load.stats, cfg.connections, load.in_flight());
    };

    let elapsed = begin.elapsed();
    let Load {
        slots,
        mut stats,
        in_flight,
        ..
    } = load;
    // What the server did to the held connections while the load ran, read before they close.
    let kept = held_state(held);
    // Connections still open are closed here, before anything is printed.
    drop(slots);
    progress.clear();
    let mut summary = stats.summary(elapsed);
    // A run that stopped early says how many of its transactions never finished (those in
    // flight, abandoned, and those never started): `errors` counts only what finished badly.
    let unfinished = cfg.connections - stats.done;
    if unfinished > 0 {
        summary.push_str(&format!(" unfinished={unfinished}"));
    }
    if let Some(kept) = &kept {
        summary.push_str(&format!(" held={}", kept.open));
    }
    let printed = print_line(&summary);
    if let Some(line) = stats.error_line() {
        let _ = eprint_line(&format!("pyselect-client: {line}"));
    }
    if let Some(line) = kept.as_ref().and_then(HeldState::loss_line) {
        let _ = eprint_line(&format!("pyselect-client: {line}"));
    }
    match end {
        End::Fatal(cause) => Err(format!(
            "the run stopped after {} of {} transactions ({in_flight} in flight abandoned, \
             {unfinished} unfinished): {cause}",
            stats.done, cfg.connections
        )),
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
            Ok(()) if stats.errors == 0 && kept.as_ref().is_none_or(|k| k.open == k.opened) => {
                Ok(0)
            }
            Ok(()) => Ok(1),
        },
    }
}

/// The held connections at the end of the run: how many are still open, and what ended the
/// others (the server closed them, at its `--idle-timeout` or its fd limit, or reset them).
struct HeldState {
    opened: usize,
    open: usize,
    eof: usize,
    reset: usize,
    other: usize,
}

impl HeldState {
    /// One line when the server ended some of the held connections during the run.
    fn loss_line(&self) -> Option<String> {
        let lost = self.opened - self.open;
        (lost > 0).then(|| {
            let kinds: Vec<String> = [
                ("eof", self.eof),
                ("reset", self.reset),
                ("other", self.other),
            ]
            .iter()
            .filter(|&&(_, n)| n > 0)
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
            format!(
                "{lost} of {} held connections were ended by the server during the run ({}); \
                 held={} counts those still open (give the server a longer --idle-timeout, or \
                 room for more fds)",
                self.opened,
                kinds.join(" "),
                self.open
            )
        })
    }
}

/// Look at each held connection without waiting (`recv(MSG_PEEK)` on a non-blocking socket):
/// `EAGAIN` is a connection still open and idle, 0 the server's FIN, an error its RST. Then
/// close them all. `None` without `--hold`.
fn held_state(held: Option<Vec<Socket>>) -> Option<HeldState> {
    let held = held?;
    let mut state = HeldState {
        opened: held.len(),
        open: 0,
        eof: 0,
        reset: 0,
        other: 0,
    };
    let mut byte = [0u8; 1];
    for mut sock in held {
        let peek = sock
            .settimeout(Some(0.0))
            .and_then(|()| sock.recv_into(&mut byte, MSG_PEEK));
        match peek {
            // Data the server sent unasked leaves the connection open.
            Ok(n) if n > 0 => state.open += 1,
            Ok(_) => state.eof += 1,
            Err(e) if e.errno() == Some(libc::EAGAIN) => state.open += 1,
            Err(e) if Kind::of(&e) == Kind::Reset => state.reset += 1,
            Err(_) => state.other += 1,
        }
    }
    Some(state)
}

/// `--hold M`: M connections opened one after another (blocking `connect`) before the load
/// starts, sending nothing, kept open until the run ends. The server watches each of them for
/// its message all along (until its `--idle-timeout` closes them: give it a long one).
fn open_held(
    cfg: &Config,
    hold: usize,
    readiness: &Readiness<usize>,
) -> Result<Vec<Socket>, String> {
    let mut held = Vec::with_capacity(hold);
    for i in 0..hold {
        if let Some(sig) = signals::take_pending() {
            return Err(format!(
                "interrupted by {} while opening held connections ({i} of {hold} open)",
                sig.as_str()
            ));
        }
        let mut sock = Socket::new(Family::of(&cfg.addr), Type::Stream).map_err(|e| {
            format!(
                "cannot create a held connection's socket ({i} of {hold} open): {e}{}",
                fd_limit_hint(&e)
            )
        })?;
        if !readiness.takes(sock.fileno()) {
            return Err(format!(
                "held connection fd {} is not below FD_SETSIZE ({FD_SETSIZE}); lower --hold or \
                 use --backend poll or epoll",
                sock.fileno()
            ));
        }
        // --timeout bounds each connect, as it bounds a transaction.
        let open = sock
            .settimeout(Some(cfg.timeout.as_secs_f64()))
            .and_then(|()| sock.connect(cfg.addr));
        open.map_err(|e| {
            format!(
                "cannot open a held connection to {} ({i} of {hold} open): {e}",
                cfg.addr
            )
        })?;
        held.push(sock);
    }
    Ok(held)
}

/// What to do about `EMFILE`: the process's open-files limit is below what `--concurrency` and
/// `--hold` need. Empty for any other error.
fn fd_limit_hint(e: &Error) -> &'static str {
    if e.errno() == Some(libc::EMFILE) {
        " (the open-files limit, ulimit -n, is below what --concurrency plus --hold need: \
         lower them, or raise the limit)"
    } else {
        ""
    }
}
