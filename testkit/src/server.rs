//! Driving a real `pyselect-server` process from a test, and watching it from outside as its
//! users do: its stdout and stderr lines, its replies, its exit status, and `/proc/PID` (the
//! syscall it waits in, CPU time, memory, open fds); plus the clients, well-behaved and
//! hostile, that tests throw at it.
//!
//! [`ServerProcess`] spawns the server (or any command that runs it, such as `strace -f ...`)
//! under the one process guard ([`ChildGuard`]), waits for the `pyselect-server: listening on
//! ADDR ... (MODE mode)` line on stderr and parses the addresses, so tests use `--ports 0,0` and
//! never guess a port. Both output streams are read by the one line reader ([`Lines`]).
//! Synchronisation is by causality, never by sleeping: a test waits for a line the server
//! prints after the event, a reply, an EOF, or a count in `/proc` reaching a value. Every wait
//! is bounded by [`LIMIT`]. Dropping it kills the process group (and so a wrapper's children)
//! with SIGKILL and reaps the process.
//!
//! Independent of the crate under test on purpose: the parsers and [`py_addr`] use only std,
//! `nix` and `libc`, so the expectations they build cannot share a bug with the code that
//! produces the output.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};
use std::time::Instant;

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::signal::Signal;

use super::child::{ChildGuard, Lines, Setup};
use super::proc::parse_syscall;
use super::{client_exe, poll_until, server_exe, wait_until, LIMIT};

// ---------------------------------------------------------------------------------------------
// The test process
// ---------------------------------------------------------------------------------------------

/// Make sure this test process may open at least `n` fds (raising its soft RLIMIT_NOFILE up to
/// the hard limit if needed); panics, naming the limit, when the hard limit is too low.
pub fn ensure_nofile(n: u64) {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit(RLIMIT_NOFILE)");
    if soft >= n {
        return;
    }
    assert!(
        hard >= n,
        "this test needs {n} open files; the hard RLIMIT_NOFILE is {hard} (raise it with ulimit -Hn)"
    );
    setrlimit(Resource::RLIMIT_NOFILE, n, hard).expect("setrlimit(RLIMIT_NOFILE)");
}

/// Raise this test process's soft RLIMIT_NOFILE to at least `n` when the hard limit allows;
/// otherwise print why the calling test is skipped and return false.
pub fn nofile_or_skip(test: &str, n: u64) -> bool {
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit(RLIMIT_NOFILE)");
    if hard < n {
        println!(
            "SKIPPED {test}: it needs {n} open files and the hard RLIMIT_NOFILE is {hard} \
             (raise it with ulimit -Hn)"
        );
        return false;
    }
    ensure_nofile(n);
    true
}

/// The soft and hard "Max open files" of process `pid` (`/proc/PID/limits`).
pub fn nofile_of(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("/proc/PID/limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let n: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (n[0], n[1])
}

// ---------------------------------------------------------------------------------------------
// What the server prints
// ---------------------------------------------------------------------------------------------

/// What the `listening on` line says.
#[derive(Debug, Clone, Default)]
pub struct Listening {
    /// The whole line, as printed.
    pub line: String,
    /// The listening addresses, in `--ports` order.
    pub addrs: Vec<SocketAddr>,
    /// `multiplex`, `select`, `timeout` or `blocking`.
    pub mode: String,
    /// `poll` or `epoll` when the line names a backend (`select`, the default, is not named).
    pub backend: Option<String>,
}

/// Parse `pyselect-server: listening on 127.0.0.1:5050 [::1]:5060 (select mode)`, or
/// `... (multiplex mode, epoll backend)`.
pub fn parse_listening(line: &str) -> Option<Listening> {
    let rest = line.strip_prefix("pyselect-server: listening on ")?;
    let (places, mode) = rest.rsplit_once(" (")?;
    let (mode, backend) = match mode.strip_suffix(" backend)") {
        Some(both) => {
            let (mode, backend) = both.split_once(" mode, ")?;
            (mode, Some(backend.to_string()))
        }
        None => (mode.strip_suffix(" mode)")?, None),
    };
    let mut addrs = Vec::new();
    for place in places.split(' ') {
        let (host, port) = place.rsplit_once(':')?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let ip: IpAddr = host.parse().ok()?;
        addrs.push(SocketAddr::new(ip, port.parse().ok()?));
    }
    Some(Listening {
        line: line.to_string(),
        addrs,
        mode: mode.to_string(),
        backend,
    })
}

/// The ports a "listening on" line names (its `HOST:PORT` words), in order: the line of
/// `pyselect-server`, of the examples and of their Python originals alike.
pub fn listed_ports(line: &str) -> Vec<u16> {
    line.split_whitespace()
        .filter_map(|w| w.rsplit_once(':'))
        .filter_map(|(_, p)| p.parse().ok())
        .collect()
}

/// The numbers of the totals line printed at exit.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub served: u64,
    pub errors: u64,
    pub idle_closed: u64,
    pub silent: u64,
    pub refused: u64,
}

impl Totals {
    /// Totals with only `served` non-zero.
    pub fn served(n: u64) -> Totals {
        Totals {
            served: n,
            ..Totals::default()
        }
    }
}

/// Parse `pyselect-server: 2 served, 0 errors, 0 idle-closed, 0 closed silently, 0 refused in 0.6 s`.
pub fn parse_totals(line: &str) -> Option<Totals> {
    let rest = line.strip_prefix("pyselect-server: ")?;
    let (counts, secs) = rest.rsplit_once(" refused in ")?;
    let secs = secs.strip_suffix(" s")?;
    // One decimal, as `{:.1}` prints it.
    let (whole, tenth) = secs.split_once('.')?;
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || tenth.len() != 1
        || !tenth.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let names = [" served", " errors", " idle-closed", " closed silently", ""];
    let parts: Vec<&str> = counts.split(", ").collect();
    if parts.len() != names.len() {
        return None;
    }
    let mut n = [0u64; 5];
    for (i, (part, name)) in parts.iter().zip(names).enumerate() {
        n[i] = part.strip_suffix(name)?.parse().ok()?;
    }
    Some(Totals {
        served: n[0],
        errors: n[1],
        idle_closed: n[2],
        silent: n[3],
        refused: n[4],
    })
}

/// The last line of `stderr` that names a `served` count, parsed as the totals line.
pub fn find_totals(stderr: &[String]) -> Option<Totals> {
    let line = stderr.iter().rev().find(|l| l.contains(" served, "))?;
    parse_totals(line)
}

/// Python's `repr()` of a peer address tuple, written independently of `pyselect::pyrepr`:
/// `('127.0.0.1', 59744)`, `('::1', 33538, 0, 0)`. (Std's `Ipv6Addr` display matches
/// `inet_ntop` for loopback and ordinary addresses.)
pub fn py_addr(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("('{}', {})", a.ip(), a.port()),
        SocketAddr::V6(a) => format!(
            "('{}', {}, {}, {})",
            a.ip(),
            a.port(),
            a.flowinfo(),
            a.scope_id()
        ),
    }
}

/// The seed's message line for a client that sent `b'hi'` from `peer`.
pub fn message_line(peer: &SocketAddr) -> String {
    format!("[{}] message : b'hi'", py_addr(peer))
}

/// The multiplex/select/timeout reply for `port`.
pub fn welcome(port: u16) -> Vec<u8> {
    format!("welcome {port}!").into_bytes()
}

/// How many of `lines` contain `needle`.
pub fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

/// No line of `stderr` shows a Rust panic, a backtrace or the server's internal-error line.
pub fn assert_no_panic(stderr: &[String]) {
    for line in stderr {
        for bad in ["panicked", "backtrace", "internal error", "RUST_BACKTRACE"] {
            assert!(
                !line.contains(bad),
                "stderr shows {bad:?}: {line:?}\nall stderr: {stderr:?}"
            );
        }
    }
}

/// The exit code, or a description of the signal that killed the process.
pub fn describe_status(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => format!("{status:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------------

/// A running server under the one process guard: killed (SIGKILL, its process group, by id)
/// and reaped when dropped. The reader threads end on their own at the EOF this causes; they
/// are not joined, so a drop never waits on a pipe.
pub struct ServerProcess {
    child: ChildGuard,
    /// The parsed `listening on` line.
    pub listening: Listening,
    stdout: Lines,
    stderr: Lines,
}

/// A process run to its end: exit status and its output lines.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

impl ServerProcess {
    /// `pyselect-server ARGS`, once it is listening.
    pub fn start(args: &[&str]) -> ServerProcess {
        let mut cmd = Command::new(server_exe());
        cmd.args(args);
        ServerProcess::start_command(cmd)
    }

    /// Any command that runs the server (for wrappers like `strace`), once it is listening.
    /// Panics, showing everything the process printed, if it exits or stays silent instead.
    pub fn start_command(cmd: Command) -> ServerProcess {
        ServerProcess::start_command_with(cmd, Setup::default())
    }

    /// `pyselect-server ARGS` with the standard streams `setup` chooses (a stdout the test
    /// fills, or a terminal), once it is listening. Its stderr must stay piped: the listening
    /// line is read there. A stdout that is not piped has no lines here ([`Lines::absent`]).
    pub fn start_with(args: &[&str], setup: Setup) -> ServerProcess {
        let mut cmd = Command::new(server_exe());
        cmd.args(args);
        ServerProcess::start_command_with(cmd, setup)
    }

    /// [`start_command`](Self::start_command) with the standard streams `setup` chooses (see
    /// [`start_with`](Self::start_with)).
    pub fn start_command_with(cmd: Command, setup: Setup) -> ServerProcess {
        let mut server = ServerProcess::spawn(cmd, setup);
        let deadline = Instant::now() + LIMIT;
        server.listening = loop {
            match server.stderr.next(deadline) {
                Some(line) => {
                    if let Some(l) = parse_listening(&line) {
                        break l;
                    }
                }
                // Dropping `server` kills and reaps it.
                None => panic!(
                    "{} never printed its listening line; stderr: {:?}",
                    server.child.what(),
                    server.stderr_all()
                ),
            }
        };
        server
    }

    /// Spawn `cmd` with its piped output read by reader threads; `listening` is left empty.
    fn spawn(mut cmd: Command, setup: Setup) -> ServerProcess {
        let what = format!("{cmd:?}");
        let mut child = ChildGuard::spawn_with(&mut cmd, &what, setup);
        let stdout = child.piped_stdout().map_or_else(Lines::absent, Lines::read);
        let stderr = Lines::read(child.take_stderr());
        ServerProcess {
            child,
            listening: Listening::default(),
            stdout,
            stderr,
        }
    }

    /// The pid of the spawned process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The `i`th listening address.
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.listening.addrs[i]
    }

    /// The `i`th listening port.
    pub fn port(&self, i: usize) -> u16 {
        self.listening.addrs[i].port()
    }

    /// Every listening port, in `--ports` order.
    pub fn ports(&self) -> Vec<u16> {
        self.listening.addrs.iter().map(SocketAddr::port).collect()
    }

    /// Every stdout line received so far (all of them after [`ServerProcess::wait_exit`]).
    pub fn stdout_all(&self) -> Vec<String> {
        self.stdout.lines()
    }

    /// Every stderr line received so far, the listening line first.
    pub fn stderr_all(&self) -> Vec<String> {
        self.stderr.lines()
    }

    /// The next stdout line; panics after [`LIMIT`] or at EOF.
    pub fn next_stdout(&mut self) -> String {
        match self.stdout.next(Instant::now() + LIMIT) {
            Some(line) => line,
            None => panic!(
                "no further stdout line (eof: {}); stdout so far: {:?}; stderr: {:?}",
                self.stdout.eof(),
                self.stdout_all(),
                self.stderr_all()
            ),
        }
    }

    /// The next stderr line (after the listening line and any line already returned) that
    /// satisfies `pred`; panics after [`LIMIT`] or at EOF.
    pub fn wait_stderr(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + LIMIT;
        while let Some(line) = self.stderr.next(deadline) {
            if pred(&line) {
                return line;
            }
        }
        panic!(
            "no matching stderr line (eof: {}); stderr: {:?}; stdout: {:?}",
            self.stderr.eof(),
            self.stderr_all(),
            self.stdout_all()
        )
    }

    /// Wait until all the stdout lines so far satisfy `pred`; false after [`LIMIT`] or at EOF
    /// without it.
    pub fn wait_stdout_lines(&self, pred: impl FnMut(&[String]) -> bool) -> bool {
        self.stdout.wait_lines(Instant::now() + LIMIT, pred)
    }

    /// Wait until all the stderr lines so far satisfy `pred`; false after [`LIMIT`] or at EOF
    /// without it.
    pub fn wait_stderr_lines(&self, pred: impl FnMut(&[String]) -> bool) -> bool {
        self.stderr.wait_lines(Instant::now() + LIMIT, pred)
    }

    /// Wait until at least `n` stdout lines contain `needle`.
    pub fn wait_stdout_count(&self, needle: &str, n: usize) -> bool {
        self.wait_stdout_lines(|lines| count(lines, needle) >= n)
    }

    /// Is the process still running (not exited, not killed by a signal)?
    pub fn alive(&mut self) -> bool {
        self.child.try_status().is_none()
    }

    /// Panic, showing stderr, unless the server is running and has printed no panic.
    pub fn assert_healthy(&mut self) {
        let alive = self.alive();
        assert!(
            alive,
            "server died: {:?}; stderr: {:?}",
            self.child.try_status(),
            self.stderr_all()
        );
        assert_no_panic(&self.stderr_all());
    }

    /// Send `sig` to the process.
    pub fn signal(&self, sig: Signal) {
        self.child.signal(sig);
    }

    /// Wait (bounded by [`LIMIT`]) for the process to exit: both pipes at EOF, then its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + LIMIT;
        let closed = self.stdout.wait_eof(deadline) && self.stderr.wait_eof(deadline);
        // The pipes closed, so the process is exiting: its status comes within moments.
        let exited = closed && poll_until(deadline, || self.child.try_status().is_some());
        match self.child.try_status() {
            Some(status) if exited => status,
            _ => panic!(
                "{} did not exit within {LIMIT:?}; stdout: {:?}; stderr: {:?}",
                self.child.what(),
                self.stdout_all(),
                self.stderr_all()
            ),
        }
    }

    /// The syscall the server's main thread is in, from `/proc/PID/syscall`: its number while
    /// blocked in one, `None` while running on a CPU. `Err` when the kernel does not offer the
    /// file.
    pub fn blocked_in(&self) -> io::Result<Option<i64>> {
        let text = std::fs::read_to_string(format!("/proc/{}/syscall", self.pid()))?;
        Ok(parse_syscall(&text))
    }

    /// Wait until the server's main thread sleeps in one of `syscalls` (numbers as
    /// `/proc/PID/syscall` shows them) and return the number. A signal sent after this lands
    /// inside that syscall, never in the gap before it. Panics after [`LIMIT`], or when
    /// `/proc/PID/syscall` cannot be read.
    pub fn wait_blocked(&self, syscalls: &[i64]) -> i64 {
        let path = format!("/proc/{}/syscall", self.pid());
        let mut last = None;
        let seen = wait_until(LIMIT, || {
            let now = self
                .blocked_in()
                .unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
            last = now;
            now.is_some_and(|n| syscalls.contains(&n))
        });
        match last {
            Some(nr) if seen => nr,
            _ => panic!("server never blocked in {syscalls:?}; last {path}: {last:?}"),
        }
    }

    /// Wait until the server is blocked in syscall `nr` (e.g. `libc::SYS_recvfrom`). Returns
    /// false only when `/proc/PID/syscall` cannot be read (then there is nothing to wait on);
    /// panics when the server is not seen there before [`LIMIT`].
    pub fn wait_blocked_in(&self, nr: i64) -> bool {
        if self.blocked_in().is_err() {
            return false;
        }
        self.wait_blocked(&[nr]);
        true
    }

    /// User + system CPU time so far, in clock ticks (`/proc/PID/stat` fields 14 and 15).
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // The command name (field 2) is in parentheses and may hold spaces: split after it.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        // `after` starts at field 3 (state): utime is field 14, stime field 15.
        let utime: u64 = fields[14 - 3].parse().unwrap();
        let stime: u64 = fields[15 - 3].parse().unwrap();
        utime + stime
    }

    /// Resident set size in KiB (`VmRSS` in `/proc/PID/status`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// How many fds the server has open (entries of `/proc/PID/fd`).
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }
}

/// Run `cmd` to its end (for runs that exit on their own: usage errors, startup errors,
/// `--help`, a load client). Killed and failed if still running after [`LIMIT`].
pub fn run_command_to_exit(cmd: Command) -> Finished {
    let mut process = ServerProcess::spawn(cmd, Setup::default());
    let status = process.wait_exit();
    Finished {
        status,
        stdout: process.stdout_all(),
        stderr: process.stderr_all(),
    }
}

/// Run `pyselect-server ARGS` to its end; see [`run_command_to_exit`].
pub fn run_to_exit(args: &[&str]) -> Finished {
    let mut cmd = Command::new(server_exe());
    cmd.args(args);
    run_command_to_exit(cmd)
}

/// How to start a server (or the load client) with the options the reliability tests use.
#[derive(Clone, Debug)]
pub struct Spawn {
    program: &'static str,
    args: Vec<String>,
    /// RLIMIT_NOFILE (soft, hard) for the process.
    nofile: Option<(u64, u64)>,
}

/// A server started with `args` (e.g. `["--mode", "select"]`); `--ports 0,0` is added unless
/// the args name ports.
pub fn server(args: &[&str]) -> Spawn {
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    if !args.iter().any(|a| a.starts_with("--port")) {
        args.extend(["--ports".to_string(), "0,0".to_string()]);
    }
    Spawn {
        program: server_exe(),
        args,
        nofile: None,
    }
}

/// The load client built for these tests, `pyselect-client`, with `args`.
pub fn client(args: &[&str]) -> Spawn {
    Spawn {
        program: client_exe(),
        args: args.iter().map(|s| s.to_string()).collect(),
        nofile: None,
    }
}

impl Spawn {
    /// Run the process with RLIMIT_NOFILE (soft and hard) set to `n`.
    pub fn nofile(mut self, n: u64) -> Spawn {
        self.nofile = Some((n, n));
        self
    }

    /// Run the process with a soft RLIMIT_NOFILE of `soft` and this process's hard limit.
    pub fn nofile_soft(mut self, soft: u64) -> Spawn {
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit(RLIMIT_NOFILE)");
        self.nofile = Some((soft.min(hard), hard));
        self
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(self.program);
        // A panic would then print a backtrace: none may appear.
        cmd.args(&self.args).env("RUST_BACKTRACE", "1");
        if let Some((soft, hard)) = self.nofile {
            // SAFETY: the closure runs in the forked child before exec and calls only
            // setrlimit(2), which is async-signal-safe; it allocates nothing and takes no lock.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: soft as libc::rlim_t,
                        rlim_max: hard as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::last_os_error())
                    }
                });
            }
        }
        cmd
    }

    /// Start it and wait for its `listening on` line.
    pub fn listening(&self) -> ServerProcess {
        ServerProcess::start_command(self.command())
    }

    /// Run it to its end (for startup errors, `--help`, the load client).
    pub fn run_to_exit(&self) -> Finished {
        run_command_to_exit(self.command())
    }
}

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

/// A connected client with [`LIMIT`] connect, read and write timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, LIMIT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(LIMIT)).expect("SO_RCVTIMEO");
    s.set_write_timeout(Some(LIMIT)).expect("SO_SNDTIMEO");
    s
}

/// [`connect`] to `127.0.0.1:port`.
pub fn connect_port(port: u16) -> TcpStream {
    connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

/// One `read` that retries `EINTR`. With `SO_RCVTIMEO` set, Linux does not restart a socket
/// read after a signal, and a test process gets stray ones: a `SIGCHLD` for a finished server
/// arrives while the thread that spawned it blocks signals (inside `spawn`), so the kernel hands
/// it to another thread, whose read then fails with `EINTR` although the signal is ignored.
/// Bounded: each retry needs a new signal, and the socket's own timeout still applies.
pub fn read_some(s: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let mut interruptions = 0;
    loop {
        match s.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted && interruptions < 1000 => {
                interruptions += 1;
            }
            other => return other,
        }
    }
}

/// How a read-to-the-end finished.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum End {
    /// Orderly close (FIN): `read` returned 0.
    Eof,
    /// `ECONNRESET`.
    Reset,
    /// Nothing came for the whole read timeout.
    TimedOut,
    /// Any other error (errno).
    Other(i32),
}

/// Read until EOF, reset or timeout (retrying `EINTR`, see [`read_some`]): the bytes, and how
/// it ended.
pub fn read_to_end(s: &mut TcpStream) -> (Vec<u8>, End) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match read_some(s, &mut buf) {
            Ok(0) => return (data, End::Eof),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return (data, End::Reset),
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                return (data, End::TimedOut)
            }
            Err(e) => return (data, End::Other(e.raw_os_error().unwrap_or(-1))),
        }
    }
}

/// Read until the server closes the connection; panics on a timeout, a reset or an error.
pub fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    let (reply, end) = read_to_end(s);
    assert_eq!(
        end,
        End::Eof,
        "reading the reply (got {:?} so far)",
        String::from_utf8_lossy(&reply)
    );
    reply
}

/// The seed's client: connect, send `msg`, read the reply to EOF. Returns the client's own
/// address (its `getsockname`) and the reply.
pub fn transact_from(addr: SocketAddr, msg: &[u8]) -> (SocketAddr, Vec<u8>) {
    let mut s = connect(addr);
    let local = s.local_addr().expect("getsockname");
    s.write_all(msg)
        .unwrap_or_else(|e| panic!("send to {addr}: {e}"));
    (local, read_to_eof(&mut s))
}

/// The seed's client on `127.0.0.1:port`: connect, send `msg`, read the reply to EOF (the
/// server closes after replying). Returns the reply and the client's own port.
pub fn seed_client(port: u16, msg: &[u8]) -> (Vec<u8>, u16) {
    let (local, reply) = transact_from(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), msg);
    (reply, local.port())
}

/// One normal transaction on `127.0.0.1:port`, as the seed's client: connect, send `hi`, read
/// to EOF. The reply.
pub fn transact(port: u16) -> Vec<u8> {
    transact_from(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), b"hi").1
}

/// Set SO_LINGER {on, 0 s}: closing then sends a reset (RST) instead of a FIN.
pub fn set_linger_zero(s: &TcpStream) {
    nix::sys::socket::setsockopt(
        &s.as_fd(),
        nix::sys::socket::sockopt::Linger,
        &libc::linger {
            l_onoff: 1,
            l_linger: 0,
        },
    )
    .expect("setsockopt(SO_LINGER)");
}

/// Close our sending side only (`shutdown(SHUT_WR)`): the server reads EOF.
pub fn half_close(s: &TcpStream) {
    s.shutdown(Shutdown::Write).expect("shutdown(SHUT_WR)");
}

/// Write all of `data`, ignoring a reset (for clients that misbehave on purpose).
pub fn write_ignoring_reset(s: &mut TcpStream, data: &[u8]) {
    if let Err(e) = s.write_all(data) {
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "send: {e}"
        );
    }
}

/// A listening IPv4 loopback socket on a kernel-chosen port, made with plain `socket`, `bind`,
/// `listen` (no `SO_REUSEADDR`): the port stays taken while the returned fd lives.
pub fn hold_port() -> (std::os::fd::OwnedFd, u16) {
    use std::io::Error;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: plain socket(2); the fd it returns is owned by `fd` alone.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(raw >= 0, "socket: {}", Error::last_os_error());
    // SAFETY: `raw` is a fresh, valid fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(Ipv4Addr::LOCALHOST).to_be(),
        },
        sin_zero: [0; 8],
    };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_in of `len` bytes, alive across each call.
    unsafe {
        let p = std::ptr::addr_of_mut!(addr).cast::<libc::sockaddr>();
        assert_eq!(
            libc::bind(fd.as_raw_fd(), p, len),
            0,
            "bind 127.0.0.1:0: {}",
            Error::last_os_error()
        );
        assert_eq!(
            libc::listen(fd.as_raw_fd(), 16),
            0,
            "listen: {}",
            Error::last_os_error()
        );
        assert_eq!(
            libc::getsockname(fd.as_raw_fd(), p, &mut len),
            0,
            "getsockname: {}",
            Error::last_os_error()
        );
    }
    (fd, u16::from_be(addr.sin_port))
}
