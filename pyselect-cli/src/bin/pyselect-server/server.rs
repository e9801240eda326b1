//! What every mode shares: the listening sockets (read-only once open), the [`Stats`] and
//! the per-client error policy ([`Failure`], [`Stats::tally`], [`accept_failed`]). The lines
//! themselves are [`crate::lines`].

use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use pyselect::consts::{MSG_DONTWAIT, MSG_PEEK, SOL_SOCKET, SO_REUSEADDR};
use pyselect::{Error, Family, FileNo, Socket, Type, FD_SETSIZE};
use pyselect_cli::host::host_addr;
use pyselect_cli::pyrepr::addr_repr;

use crate::cli::{Mode, Options};
use crate::lines::Lines;

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

/// Counts for the totals line, and the goal `--count` sets.
#[derive(Debug)]
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
    /// `--count`: stop once this many are served.
    count: Option<u64>,
    started: Instant,
}

impl Stats {
    /// Nothing counted yet; `count` is `--count`, the clock starts now.
    pub fn new(count: Option<u64>) -> Stats {
        Stats {
            served: 0,
            errors: 0,
            idle_closed: 0,
            silent_eof: 0,
            refused: 0,
            count,
            started: Instant::now(),
        }
    }

    /// Has `--count` been reached?
    pub fn done(&self) -> bool {
        self.count.is_some_and(|n| self.served >= n)
    }

    /// Count a failed connection, and name it on stderr.
    pub fn failed(&mut self, out: &mut Lines, peer: &SocketAddr, failure: impl Into<Failure>) {
        self.errors += 1;
        out.warn(&format!("[{}] {}", addr_repr(peer), failure.into()));
    }

    /// The serial modes' per-client policy, after recv, print, sendall and close: a client
    /// that got through them is served; only a signal the server watches is passed up, any
    /// other failure is this client's alone, and is counted and reported.
    pub fn tally(
        &mut self,
        out: &mut Lines,
        peer: &SocketAddr,
        served: Result<(), Failure>,
    ) -> Result<(), Error> {
        match served {
            Ok(()) => self.served += 1,
            Err(Failure::Call(e @ Error::Interrupted(_))) => return Err(e),
            Err(failure) => self.failed(out, peer, failure),
        }
        Ok(())
    }

    /// The totals line (without the program name, and before what [`Lines::finish`] adds).
    pub fn totals(&self) -> String {
        format!(
            "{} served, {} errors, {} idle-closed, {} closed silently, {} refused in {:.1} s",
            self.served,
            self.errors,
            self.idle_closed,
            self.silent_eof,
            self.refused,
            self.started.elapsed().as_secs_f64()
        )
    }
}

/// Every mode's answer to a failed `accept()`. A watched signal goes up as the error; a
/// timeout (`settimeout`, the seed's `except socket.timeout: pass`) or `EAGAIN` (a
/// non-blocking listener with nothing left) is silent; anything else is one "accept failed"
/// line on stderr. Out of file descriptors the answer is a pause, [`FD_EXHAUSTION_PAUSE`],
/// that the caller waits before the next `accept()`, so that a listener that stays readable
/// does not spin the CPU.
pub fn accept_failed(out: &mut Lines, e: Error) -> Result<Option<Duration>, Error> {
    match e {
        Error::Interrupted(_) => Err(e),
        Error::Timeout => Ok(None),
        _ if e.errno() == Some(libc::EAGAIN) => Ok(None),
        _ if out_of_fds(&e) => {
            out.warn(&format!(
                "accept failed: {}; not accepting for {} ms",
                describe(&e),
                FD_EXHAUSTION_PAUSE.as_millis()
            ));
            Ok(Some(FD_EXHAUSTION_PAUSE))
        }
        _ => {
            out.warn(&format!("accept failed: {}", describe(&e)));
            Ok(None)
        }
    }
}

/// The serial modes' rest after [`accept_failed`]: a `select()` sleep of `pause`, if any.
pub fn rest(pause: Option<Duration>) -> Result<(), Error> {
    match pause {
        Some(pause) => pyselect::sleep(pause.as_secs_f64()),
        None => Ok(()),
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
