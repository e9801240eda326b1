//! What every mode shares: the listening sockets (read-only once open), and the [`Log`]: the
//! seed's output lines, the per-client error policy, and the totals.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use pyselect::consts::{MSG_DONTWAIT, MSG_PEEK, SOL_SOCKET, SO_REUSEADDR};
use pyselect::signals::Signal;
use pyselect::{Error, Family, FileNo, Socket, Type, FD_SETSIZE};
use pyselect_cli::host::host_addr;
use pyselect_cli::output::{self, Detached, LineQueue, Stream};
use pyselect_cli::pyrepr::{addr_repr, bytes_repr};

use crate::cli::{Mode, Options};

/// The seed's `SIZE`: the message is one `recv(1024)`.
pub const SIZE: usize = 1024;

/// One listening socket and what the seed calls it.
#[derive(Debug)]
pub struct Listener {
    pub sock: Socket,
    pub addr: SocketAddr,
    /// 1 for the first port, as in `hello socket1`.
    pub number: usize,
    /// What a client of this port is told: `welcome 5050!` (`welcome!` in blocking mode).
    pub reply: Vec<u8>,
}

/// `select()` takes the listeners themselves and returns the very `&Listener`s that are ready.
impl FileNo for Listener {
    fn fileno(&self) -> RawFd {
        self.sock.fileno()
    }
}

/// Counts for the totals line.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections that got their reply and a clean close.
    pub served: u64,
    /// Connections that failed (reset, bad fd, closed with unread bytes, ...).
    pub errors: u64,
    /// Connections closed for being idle too long (multiplex).
    pub idle_closed: u64,
    /// Connections closed before sending anything.
    pub silent_eof: u64,
    /// Connections refused because their fd did not fit an `fd_set` (multiplex).
    pub refused: u64,
}

/// Where the log's lines go.
#[derive(Debug)]
enum Sink {
    /// One blocking `write` per line, as the seed's `print()`; a watched signal ends the wait.
    /// A write that fails loses its line: counted, and the first error kept.
    Blocking {
        fd: RawFd,
        lost: u64,
        error: Option<std::io::Error>,
    },
    /// Never blocking: queued within a bound, else dropped and counted (multiplex).
    Queued(LineQueue),
}

impl Sink {
    fn blocking(fd: RawFd) -> Sink {
        Sink::Blocking {
            fd,
            lost: 0,
            error: None,
        }
    }

    fn line(&mut self, line: &str) {
        match self {
            // A failed write must not stop the server: the line is lost and counted. A
            // watched signal that ends the write (no errno) stays pending and stops the
            // server at its next call.
            Sink::Blocking { fd, lost, error } => {
                if let Err(e) = output::write_all(*fd, format!("{line}\n").as_bytes()) {
                    if e.raw_os_error().is_some() {
                        *lost += 1;
                        error.get_or_insert(e);
                    }
                }
            }
            Sink::Queued(q) => q.write_line(line),
        }
    }

    /// Lines not written: dropped from a full queue, or lost to a failed write.
    fn dropped(&self) -> u64 {
        match self {
            Sink::Blocking { lost, .. } => *lost,
            Sink::Queued(q) => q.dropped(),
        }
    }

    /// Lines a failed write lost.
    fn lost(&self) -> u64 {
        match self {
            Sink::Blocking { lost, .. } => *lost,
            Sink::Queued(q) => q.lost(),
        }
    }

    /// The first failed write's error.
    fn error(&self) -> Option<&std::io::Error> {
        match self {
            Sink::Blocking { error, .. } => error.as_ref(),
            Sink::Queued(q) => q.error(),
        }
    }
}

/// How many bytes of lines multiplex mode keeps for a stdout or stderr that is not being
/// read, before it drops lines (about 1,000 message lines).
pub const OUTPUT_QUEUE_LIMIT: usize = 64 * 1024;

/// After a stop signal, the longest [`Log::finish`] waits for slow readers of stdout and
/// stderr, all its flushes and the totals line together.
pub const FINISH_WAIT: Duration = Duration::from_secs(1);

/// The server's output and counts: the one mutable part of a running server.
#[derive(Debug)]
pub struct Log {
    quiet: bool,
    count: Option<u64>,
    out: Sink,
    err: Sink,
    /// The first failed write to stdout has been named on stderr.
    out_failure_told: bool,
    pub stats: Stats,
    started: Instant,
}

impl Log {
    /// Blocking lines on stdout and stderr, as the seed's `print()`.
    pub fn new(opts: &Options) -> Log {
        Log {
            quiet: opts.quiet,
            count: opts.count,
            out: Sink::blocking(1),
            err: Sink::blocking(2),
            out_failure_told: false,
            stats: Stats::default(),
            started: Instant::now(),
        }
    }

    /// Switch to lines that never block (multiplex mode): stdout and stderr pipes get a private
    /// non-blocking description, sockets are written with `MSG_DONTWAIT` (a description
    /// another process may share is never changed; a terminal stays blocking), and lines the
    /// reader cannot take wait in a queue of [`OUTPUT_QUEUE_LIMIT`] bytes, or are dropped and
    /// counted.
    pub fn never_block(&mut self) {
        let mut socket = [false; 2];
        for (i, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            let fd = stream.fd();
            match LineQueue::detach(stream) {
                Ok(Detached::SharedSocket) => socket[i] = true,
                Ok(_) => {}
                // A closed stream: its lines are lost and counted.
                Err(e) if e.raw_os_error() == Some(libc::EBADF) => {}
                Err(e) => self.warn(&format!(
                    "fd {fd} stays blocking: {}",
                    describe(&Error::Os(e))
                )),
            }
        }
        let queue = |fd: RawFd| match socket[fd as usize - 1] {
            true => LineQueue::on_socket(fd, OUTPUT_QUEUE_LIMIT),
            false => LineQueue::new(fd, OUTPUT_QUEUE_LIMIT),
        };
        self.out = Sink::Queued(queue(1));
        self.err = Sink::Queued(queue(2));
    }

    /// The output queues (multiplex mode), each with whether lines wait for room: then its
    /// fd belongs in the readiness call's write interest.
    pub fn output(&self) -> impl Iterator<Item = (RawFd, bool)> + '_ {
        [&self.out, &self.err].into_iter().filter_map(|s| match s {
            Sink::Queued(q) => Some((q.fileno(), q.pending())),
            Sink::Blocking { .. } => None,
        })
    }

    /// The readiness call found output fd `fd` writable: write what waits for it.
    pub fn flush(&mut self, fd: RawFd) {
        for sink in [&mut self.out, &mut self.err] {
            if let Sink::Queued(q) = sink {
                if q.fileno() == fd {
                    q.flush();
                }
            }
        }
        self.tell_out_failure();
    }

    /// Name the first failed write to stdout, once, on stderr (its lines are counted in the
    /// totals line). A failing stderr cannot be told about on stderr: the totals line's count
    /// and the exit status are its report.
    fn tell_out_failure(&mut self) {
        if self.out_failure_told {
            return;
        }
        if let Some(e) = self.out.error() {
            self.out_failure_told = true;
            let line = format!(
                "pyselect-server: cannot write to stdout: {}; its lines are lost and counted",
                describe(&Error::Os(std::io::Error::from_raw_os_error(
                    e.raw_os_error().unwrap_or(0)
                )))
            );
            self.err.line(&line);
        }
    }

    /// A per-connection line on stdout, unless `--quiet`; with `--quiet` the line is not
    /// even formatted.
    pub fn say(&mut self, line: impl FnOnce() -> String) {
        if !self.quiet {
            self.out.line(&line());
            self.tell_out_failure();
        }
    }

    /// A diagnostic line on stderr.
    pub fn warn(&mut self, line: &str) {
        self.err.line(&format!("pyselect-server: {line}"));
    }

    /// The seed's `hello socket1` line.
    pub fn hello(&mut self, listener: &Listener) {
        self.say(|| format!("hello socket{}", listener.number));
    }

    /// The seed's `[('127.0.0.1', 59744)] message : b'hi'` line.
    pub fn message(&mut self, peer: &SocketAddr, data: &[u8]) {
        self.say(|| format!("[{}] message : {}", addr_repr(peer), bytes_repr(data)));
    }

    /// Has `--count` been reached?
    pub fn done(&self) -> bool {
        self.count.is_some_and(|n| self.stats.served >= n)
    }

    /// Note a failed connection on stderr.
    pub fn client_error(&mut self, peer: &SocketAddr, failure: impl Into<Failure>) {
        self.stats.errors += 1;
        self.warn(&format!("[{}] {}", addr_repr(peer), failure.into()));
    }

    /// The serial modes' per-client policy: run `serve` (recv, print, sendall, close) and
    /// count the client served; only a signal the server watches is passed up, any other
    /// failure is this client's alone and is reported and counted.
    pub fn serve(
        &mut self,
        peer: &SocketAddr,
        serve: impl FnOnce(&mut Log) -> Result<(), Failure>,
    ) -> Result<(), Error> {
        match serve(self) {
            Ok(()) => self.stats.served += 1,
            Err(Failure::Call(e @ Error::Interrupted(_))) => return Err(e),
            Err(failure) => self.client_error(peer, failure),
        }
        Ok(())
    }

    /// The serial modes' `accept()`: `None` when it timed out (`settimeout(1)`) or failed,
    /// which ends this round, not the server. Out of fds, it rests [`FD_EXHAUSTION_PAUSE`]
    /// (a `select()` sleep); see [`Log::accept_failed`].
    pub fn accepted(
        &mut self,
        accepted: Result<(Socket, SocketAddr), Error>,
    ) -> Result<Option<(Socket, SocketAddr)>, Error> {
        match accepted {
            Ok(pair) => Ok(Some(pair)),
            Err(e) => {
                if let Some(pause) = self.accept_failed(e)? {
                    pyselect::sleep(pause.as_secs_f64())?;
                }
                Ok(None)
            }
        }
    }

    /// Every mode's answer to a failed `accept()`. A watched signal goes up as the error; a
    /// timeout (`settimeout`) or `EAGAIN` (a non-blocking listener with nothing left) is
    /// silent; anything else is one "accept failed" line on stderr. Out of file descriptors
    /// the answer is a pause, [`FD_EXHAUSTION_PAUSE`], before the next `accept()`, so that a
    /// listener that stays readable does not spin the CPU.
    pub fn accept_failed(&mut self, e: Error) -> Result<Option<Duration>, Error> {
        match e {
            Error::Interrupted(_) => Err(e),
            Error::Timeout => Ok(None),
            _ if e.errno() == Some(libc::EAGAIN) => Ok(None),
            _ if out_of_fds(&e) => {
                self.warn(&format!(
                    "accept failed: {}; not accepting for {} ms",
                    describe(&e),
                    FD_EXHAUSTION_PAUSE.as_millis()
                ));
                Ok(Some(FD_EXHAUSTION_PAUSE))
            }
            _ => {
                self.warn(&format!("accept failed: {}", describe(&e)));
                Ok(None)
            }
        }
    }

    /// Print the totals line on stderr. After a stop signal it waits at most [`FINISH_WAIT`]
    /// in all for a reader (the queued lines and the totals line share one deadline), and on
    /// a terminal after Ctrl-C it starts on a fresh line (after the `^C`). Returns whether
    /// output was lost to a failed write (then the exit status is 1): the totals line counts
    /// those lines apart from the ones dropped for a reader that did not read.
    pub fn finish(mut self, stopped_by: Option<Signal>) -> bool {
        let deadline = Instant::now() + FINISH_WAIT;
        let left = || deadline.saturating_duration_since(Instant::now());
        // Lines still queued get what is left of the wait for a reader; then they count as
        // dropped (a queue whose time is up still gets one write that does not wait).
        for sink in [&mut self.out, &mut self.err] {
            if let Sink::Queued(q) = sink {
                q.flush_within(left());
            }
        }
        self.tell_out_failure();
        let s = &self.stats;
        let mut line = format!(
            "pyselect-server: {} served, {} errors, {} idle-closed, {} closed silently, {} refused in {:.1} s",
            s.served,
            s.errors,
            s.idle_closed,
            s.silent_eof,
            s.refused,
            self.started.elapsed().as_secs_f64()
        );
        let lost = self.out.lost() + self.err.lost();
        let unread = self.out.dropped() + self.err.dropped() - lost;
        if unread > 0 {
            line.push_str(&format!(
                "; {unread} output lines dropped (stdout or stderr not read)"
            ));
        }
        if lost > 0 {
            line.push_str(&format!("; {lost} output lines lost (a write failed)"));
        }
        if stopped_by == Some(Signal::SIGINT) && std::io::stderr().is_terminal() {
            line.insert(0, '\n');
        }
        // Whether the totals line itself was lost to a failed write (a reader too slow for
        // the wait after a signal loses nothing to an error).
        let totals_lost = match (&mut self.err, stopped_by) {
            // Written at once when stderr has room (one write); else queued and flushed
            // within what is left of the wait.
            (Sink::Queued(q), _) => {
                let before = q.lost();
                q.write_line(&line);
                q.flush_within(left());
                q.lost() > before
            }
            (Sink::Blocking { fd, .. }, Some(_)) => {
                line.push('\n');
                let _ = output::write_within(*fd, line.as_bytes(), left());
                false
            }
            (Sink::Blocking { fd, .. }, None) => {
                line.push('\n');
                output::write_all(*fd, line.as_bytes()).is_err_and(|e| e.raw_os_error().is_some())
            }
        };
        lost > 0 || totals_lost
    }
}

/// Why a connection failed: a call the kernel refused, or a verdict of the server's own (no
/// call failed, so no Python exception names it).
#[derive(Debug)]
pub enum Failure {
    /// A socket call failed (a reset, a bad fd, ...): printed as Python's `ClassName: message`.
    Call(Error),
    /// Serial modes: the message filled the one `recv(1024)` and more bytes waited unread, so
    /// the close made the kernel reset the connection.
    UnreadTail,
    /// Multiplex mode: `discarded` bytes past the first 1024 were read and thrown away, the
    /// bound was passed and more kept coming, so the close made the kernel reset the
    /// connection.
    DrainedTooMuch { discarded: usize },
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Call(e)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Call(e) => f.write_str(&describe(e)),
            Failure::UnreadTail => write!(
                f,
                "closed with bytes past the first {SIZE} unread: the kernel reset the connection"
            ),
            Failure::DrainedTooMuch { discarded } => write!(
                f,
                "closed after discarding {discarded} bytes past the first {SIZE} with more \
                 unread: the kernel reset the connection"
            ),
        }
    }
}

/// Why [`open_listeners`] gave up.
#[derive(Debug)]
pub enum ListenError {
    /// More listeners than an fd_set holds (select and multiplex-select modes): a usage
    /// error, exit status 2, before any "listening on" line.
    TooMany(String),
    /// A host that does not resolve, or a socket call that failed: exit status 1.
    Os(String),
}

impl ListenError {
    /// The line for stderr (without the program name).
    pub fn message(&self) -> &str {
        match self {
            ListenError::TooMany(m) | ListenError::Os(m) => m,
        }
    }

    /// The process's exit status.
    pub fn exit_code(&self) -> std::process::ExitCode {
        match self {
            ListenError::TooMany(_) => std::process::ExitCode::from(2),
            ListenError::Os(_) => std::process::ExitCode::FAILURE,
        }
    }
}

/// Open the listeners the mode needs (the first port only in blocking mode), in the seed's
/// order: socket, SO_REUSEADDR, `prepare` (the mode's `settimeout`), bind, listen.
///
/// In the modes that use an fd_set, each new socket's fd must be below `FD_SETSIZE` (fds the
/// server inherited lower the count that fits). A count that cannot fit even with only fds
/// 0-2 taken is refused before the first socket, so the answer is the same whatever the
/// soft `RLIMIT_NOFILE` (a limit of 1,024 would otherwise end the loop with `EMFILE` first).
pub fn open_listeners(
    opts: &Options,
    prepare: impl Fn(&mut Socket) -> Result<(), Error>,
) -> Result<Vec<Listener>, ListenError> {
    let ports: &[u16] = match opts.mode {
        Mode::Blocking => &opts.ports[..1],
        _ => &opts.ports,
    };
    let too_many = || ListenError::TooMany(too_many_listeners(opts.mode, ports.len()));
    if opts.uses_fd_set() && ports.len() > FD_SETSIZE - 3 {
        return Err(too_many());
    }
    let mut listeners = Vec::with_capacity(ports.len());
    for (i, &port) in ports.iter().enumerate() {
        let addr =
            host_addr(&opts.host, port).map_err(|e| ListenError::Os(host_error(&opts.host, &e)))?;
        let fail = |e: Error| ListenError::Os(format!("cannot listen on {addr}: {e}"));
        let mut sock = Socket::new(Family::of(&addr), Type::Stream).map_err(fail)?;
        if opts.uses_fd_set() && sock.fileno() as usize >= FD_SETSIZE {
            return Err(too_many());
        }
        sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1).map_err(fail)?;
        prepare(&mut sock).map_err(fail)?;
        sock.bind(addr).map_err(fail)?;
        sock.listen(Some(opts.backlog)).map_err(fail)?;
        // With port 0 the kernel chose one: the replies name the real port.
        let addr = match port {
            0 => sock.getsockname().map_err(fail)?,
            _ => addr,
        };
        let reply = match opts.mode {
            Mode::Blocking => b"welcome!".to_vec(),
            _ => format!("welcome {}!", addr.port()).into_bytes(),
        };
        listeners.push(Listener {
            sock,
            addr,
            number: i + 1,
            reply,
        });
    }
    Ok(listeners)
}

/// The one host rule, as both binaries word it.
pub fn host_error(host: &str, e: &Error) -> String {
    format!(
        "cannot use host {host:?}: {e} (give an IPv4 or IPv6 address, or localhost; \
         no names are resolved)"
    )
}

/// The line that refuses a `--ports` list an `fd_set` cannot hold, with the remedies: fewer
/// ports, or a readiness call without that limit.
pub fn too_many_listeners(mode: Mode, ports: usize) -> String {
    format!(
        "--ports: {ports} listeners do not fit an fd_set in {} mode: select() takes only fds \
         below FD_SETSIZE ({FD_SETSIZE}), and fds 0-2 are taken; use fewer ports, or {}",
        mode.as_str(),
        no_fd_set_limit(mode)
    )
}

/// The options that lift `FD_SETSIZE`'s limit, from `mode`.
pub fn no_fd_set_limit(mode: Mode) -> &'static str {
    match mode {
        Mode::Multiplex => "--backend poll|epoll",
        _ => "--mode multiplex --backend poll|epoll",
    }
}

/// The fds a select-based mode has left for clients below `FD_SETSIZE`, once the listeners
/// are open.
pub fn fds_left_for_clients(listeners: &[Listener]) -> usize {
    let highest = listeners.iter().map(|l| l.sock.fileno()).max().unwrap_or(2);
    FD_SETSIZE.saturating_sub(highest as usize + 1)
}

/// An error as the server reports it: Python's `ClassName: message` for OS errors.
pub fn describe(e: &Error) -> String {
    format!("{}: {e}", e.python_name())
}

/// How long accepting rests after `accept()` ran out of file descriptors.
pub const FD_EXHAUSTION_PAUSE: Duration = Duration::from_millis(100);

/// Is this an `accept()` failure that means "out of file descriptors"?
fn out_of_fds(e: &Error) -> bool {
    matches!(
        e.errno(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}

/// The seed's serial modes close after one `recv(1024)`. When that read filled its 1024 bytes
/// and more wait unread, `close()` makes the kernel answer with a reset, and the client may
/// lose the reply: that is not a served client. (One `recvfrom(MSG_PEEK)`, only after a full
/// read; the seed's own behaviour is kept.)
pub fn close_serially(client: &mut Socket, msg: &[u8]) -> Result<(), Failure> {
    let unread = msg.len() == SIZE
        && client
            .recv_flags(1, MSG_PEEK | MSG_DONTWAIT)
            .is_ok_and(|b| !b.is_empty());
    client.close()?;
    if unread {
        return Err(Failure::UnreadTail);
    }
    Ok(())
}
