//! Driving a real `pyselect-server` process from a test.
//!
//! [`ServerProcess`] spawns the server (or any command that runs it, such as `strace -f ...`),
//! waits for the `pyselect-server: listening on ADDR ... (MODE mode)` line on stderr and parses
//! the addresses, so tests use `--ports 0,0` and never guess a port. Both output streams are read
//! line by line by reader threads, so every wait is an event on a channel bounded by
//! [`GENEROUS`], never a sleep. Dropping the guard kills the process (and its direct children,
//! for wrappers like `strace`) by pid and reaps it.
//!
//! [`transact`] / [`transact_from`] are the seed's client: connect, send, read the reply to EOF.
//!
//! Self-contained: it uses only std, `nix` and `libc`, not the crate under test, so the
//! expectations it helps build are independent of the code that produces the output.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The upper bound for anything that should happen "at once" on a busy 2-core machine. Only a
/// limit after which a test fails, never something a test measures or sleeps for.
pub const GENEROUS: Duration = Duration::from_secs(20);

/// The server binary under test.
pub const SERVER: &str = env!("CARGO_BIN_EXE_pyselect-server");

/// Syscalls a server waits in when it has nothing to do (for [`ServerProcess::wait_blocked`]).
pub fn waiting_syscalls() -> Vec<i64> {
    let mut v = vec![
        libc::SYS_pselect6,
        libc::SYS_ppoll,
        libc::SYS_accept4,
        libc::SYS_recvfrom,
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([libc::SYS_select, libc::SYS_poll, libc::SYS_accept]);
    v
}

/// What the `listening on` line says.
#[derive(Debug, Clone)]
pub struct Listening {
    /// The whole line, as printed.
    pub line: String,
    /// The listening addresses, in `--ports` order.
    pub addrs: Vec<SocketAddr>,
    /// `multiplex`, `select`, `timeout` or `blocking`.
    pub mode: String,
}

/// Parse `pyselect-server: listening on 127.0.0.1:5050 [::1]:5060 (select mode)`.
pub fn parse_listening(line: &str) -> Option<Listening> {
    let rest = line.strip_prefix("pyselect-server: listening on ")?;
    let (places, mode) = rest.rsplit_once(" (")?;
    let mode = mode.strip_suffix(" mode)")?;
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
    })
}

/// The numbers of the totals line printed at exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
            errors: 0,
            idle_closed: 0,
            silent: 0,
            refused: 0,
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

/// One output stream of the child, read by a thread, one line per channel message.
struct Lines {
    name: &'static str,
    rx: Receiver<String>,
    seen: Vec<String>,
    /// Index of the first line not yet returned by `next`.
    cursor: usize,
    eof: bool,
}

impl Lines {
    fn new(name: &'static str, stream: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let mut line = String::from_utf8_lossy(&buf).into_owned();
                        if line.ends_with('\n') {
                            line.pop();
                        } else {
                            // A last line without its newline: keep it visibly so.
                            line.push_str("<no newline>");
                        }
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
            // Dropping `tx` is the EOF signal.
        });
        Lines {
            name,
            rx,
            seen: Vec::new(),
            cursor: 0,
            eof: false,
        }
    }

    /// Receive one more line into `seen`, waiting until `deadline`. False on EOF or timeout.
    fn pull(&mut self, deadline: Instant) -> bool {
        if self.eof {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(line) => {
                self.seen.push(line);
                true
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.eof = true;
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
        }
    }

    /// The next line not yet returned, waiting until `deadline`.
    fn next(&mut self, deadline: Instant) -> Option<String> {
        while self.cursor >= self.seen.len() {
            if !self.pull(deadline) {
                return None;
            }
        }
        self.cursor += 1;
        Some(self.seen[self.cursor - 1].clone())
    }

    /// Read to EOF, waiting until `deadline`. True if EOF was reached.
    fn drain(&mut self, deadline: Instant) -> bool {
        while self.pull(deadline) {}
        self.eof
    }
}

/// A running server; killed (SIGKILL, by pid) and reaped when dropped.
pub struct ServerProcess {
    child: Child,
    /// The parsed `listening on` line.
    pub listening: Listening,
    stdout: Lines,
    stderr: Lines,
    status: Option<ExitStatus>,
}

/// A process run to its end: exit status and its output lines.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

fn spawn_piped(cmd: &mut Command) -> (Child, Lines, Lines) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
    let out = Lines::new("stdout", child.stdout.take().expect("stdout piped"));
    let err = Lines::new("stderr", child.stderr.take().expect("stderr piped"));
    (child, out, err)
}

/// Pids of the direct children of `pid` (all its threads), from `/proc`.
fn children_of(pid: u32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    out
}

/// Kill `child` and its direct children by pid, then reap it.
fn kill_and_reap(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        for pid in children_of(child.id()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Wait for `child` to exit after both its output pipes reached EOF. Bounded by `deadline`.
fn reap(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    // The pipes closed, so the process is exiting: polling its status ends within moments.
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            _ => return None,
        }
    }
}

impl ServerProcess {
    /// `pyselect-server ARGS`, once it is listening.
    pub fn start(args: &[&str]) -> ServerProcess {
        let mut cmd = Command::new(SERVER);
        cmd.args(args);
        ServerProcess::start_command(cmd)
    }

    /// Any command that runs the server (for wrappers like `strace`), once it is listening.
    /// Panics, showing everything the process printed, if it exits or stays silent instead.
    pub fn start_command(mut cmd: Command) -> ServerProcess {
        let (mut child, stdout, mut stderr) = spawn_piped(&mut cmd);
        let deadline = Instant::now() + GENEROUS;
        let listening = loop {
            match stderr.next(deadline) {
                Some(line) => {
                    if let Some(l) = parse_listening(&line) {
                        break l;
                    }
                }
                None => {
                    kill_and_reap(&mut child);
                    panic!(
                        "{cmd:?} never printed its listening line; stderr: {:?}",
                        stderr.seen
                    );
                }
            }
        };
        ServerProcess {
            child,
            listening,
            stdout,
            stderr,
            status: None,
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

    /// The next stdout line; panics after [`GENEROUS`] or at EOF.
    pub fn next_stdout(&mut self) -> String {
        match self.stdout.next(Instant::now() + GENEROUS) {
            Some(line) => line,
            None => panic!(
                "no further stdout line (eof: {}); stdout so far: {:?}; stderr: {:?}",
                self.stdout.eof, self.stdout.seen, self.stderr.seen
            ),
        }
    }

    /// The next stderr line (after the listening line and any line already returned) that
    /// satisfies `pred`; panics after [`GENEROUS`] or at EOF.
    pub fn wait_stderr(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + GENEROUS;
        while let Some(line) = self.stderr.next(deadline) {
            if pred(&line) {
                return line;
            }
        }
        panic!(
            "no matching stderr line (eof: {}); stderr: {:?}; stdout: {:?}",
            self.stderr.eof, self.stderr.seen, self.stdout.seen
        )
    }

    /// Send `sig` to the process.
    pub fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), sig)
            .unwrap_or_else(|e| panic!("kill({}, {sig}): {e}", self.child.id()));
    }

    /// Wait until the server's main thread sleeps in one of `syscalls` (numbers as
    /// `/proc/PID/syscall` shows them) and return the number. A signal sent after this lands
    /// inside that syscall, never in the gap before it. Panics after [`GENEROUS`].
    pub fn wait_blocked(&self, syscalls: &[i64]) -> i64 {
        let path = format!("/proc/{}/syscall", self.child.id());
        let deadline = Instant::now() + GENEROUS;
        let mut last = String::new();
        while Instant::now() < deadline {
            last = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
            let nr = last
                .split_whitespace()
                .next()
                .and_then(|f| f.parse::<i64>().ok());
            if let Some(nr) = nr.filter(|n| syscalls.contains(n)) {
                return nr;
            }
            // The process is running: look again in a moment (a polling interval, bounded by
            // the deadline; the outcome never depends on its length).
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("server never blocked in {syscalls:?}; last {path}: {last:?}")
    }

    /// Wait (bounded) for the process to exit: both pipes at EOF, then its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let deadline = Instant::now() + GENEROUS;
        let closed = self.stdout.drain(deadline) && self.stderr.drain(deadline);
        let status = if closed {
            reap(&mut self.child, deadline)
        } else {
            None
        };
        match status {
            Some(status) => {
                self.status = Some(status);
                status
            }
            None => panic!(
                "server did not exit within {GENEROUS:?}; stdout: {:?}; stderr: {:?}",
                self.stdout.seen, self.stderr.seen
            ),
        }
    }

    /// Every stdout line received so far (all of them after [`ServerProcess::wait_exit`]).
    pub fn stdout_all(&self) -> &[String] {
        &self.stdout.seen
    }

    /// Every stderr line received so far, the listening line first.
    pub fn stderr_all(&self) -> &[String] {
        &self.stderr.seen
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        kill_and_reap(&mut self.child);
    }
}

/// Run `pyselect-server ARGS` to its end (for runs that exit on their own: usage errors,
/// startup errors, `--help`). Killed and failed if still running after [`GENEROUS`].
pub fn run_to_exit(args: &[&str]) -> Finished {
    let mut cmd = Command::new(SERVER);
    cmd.args(args);
    let (mut child, mut out, mut err) = spawn_piped(&mut cmd);
    let deadline = Instant::now() + GENEROUS;
    let closed = out.drain(deadline) && err.drain(deadline);
    let status = if closed {
        reap(&mut child, deadline)
    } else {
        None
    };
    match status {
        Some(status) => Finished {
            status,
            stdout: out.seen,
            stderr: err.seen,
        },
        None => {
            kill_and_reap(&mut child);
            panic!(
                "pyselect-server {args:?} did not exit within {GENEROUS:?}; stdout: {:?}; stderr: {:?}",
                out.seen, err.seen
            )
        }
    }
}

/// A connected client with [`GENEROUS`] I/O timeouts.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, GENEROUS)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(GENEROUS)).expect("SO_RCVTIMEO");
    s.set_write_timeout(Some(GENEROUS)).expect("SO_SNDTIMEO");
    s
}

/// One `read` that retries `EINTR`. With `SO_RCVTIMEO` set, Linux does not restart a socket
/// read after a signal, and a test process gets stray ones: a `SIGCHLD` for a finished server
/// arrives while the thread that spawned it blocks signals (inside `spawn`), so the kernel hands
/// it to another thread, whose read then fails with `EINTR` although the signal is ignored.
/// Bounded: each retry needs a new signal, and the socket's own timeout still applies.
pub fn read_some(s: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut interruptions = 0;
    loop {
        match s.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted && interruptions < 1000 => {
                interruptions += 1;
            }
            other => return other,
        }
    }
}

/// Read until the server closes the connection; panics on a timeout or an error.
pub fn read_to_eof(s: &mut TcpStream) -> Vec<u8> {
    // `read_to_end` retries `EINTR` itself (see `read_some` for where it comes from).
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)
        .unwrap_or_else(|e| panic!("reading the reply (got {reply:?} so far): {e}"));
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
            s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
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

/// [`transact_from`] without the local address.
pub fn transact(addr: SocketAddr, msg: &[u8]) -> Vec<u8> {
    transact_from(addr, msg).1
}
