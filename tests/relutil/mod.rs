//! Helpers for `tests/server_reliability.rs`: run `pyselect-server` on ephemeral loopback ports
//! and watch it from outside, as its users do (its stdout and stderr lines, its replies, and
//! `/proc/PID` for CPU time, memory and open fds), plus the misbehaving clients the tests throw
//! at it.
//!
//! Synchronisation is by causality, never by sleeping: a test waits for a line the server
//! prints after the event, a reply, an EOF, or a count in `/proc` reaching a value. Every wait
//! has a deadline (`LIMIT`) that only turns a hang into a failure; none is reached when the
//! server behaves. Every server is killed and reaped by pid when its guard drops.
#![allow(dead_code)] // not every helper is used by every test

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The deadline of every wait for something that takes microseconds to milliseconds when the
/// server behaves. Generous so that a loaded 2-core machine never reaches it.
pub const LIMIT: Duration = Duration::from_secs(30);

/// Read/write timeout on the test's client sockets: a blocked read fails the test instead of
/// hanging it.
pub const IO_LIMIT: Duration = Duration::from_secs(20);

/// The server binary Cargo built for these tests.
pub const SERVER: &str = env!("CARGO_BIN_EXE_pyselect-server");

/// The client binary (its load mode drives the memory test).
pub const CLIENT: &str = env!("CARGO_BIN_EXE_pyselect-client");

/// Tests that open a thousand sockets, change rlimits or measure CPU time and memory run one
/// at a time, so that they neither starve nor disturb one another.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

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

/// Poll `cond` every millisecond or so until it holds or `limit` passes; returns whether it held.
/// For conditions with no line or byte to wait on (a count in `/proc`, a process exit).
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Lines read from one of the child's pipes, as they arrive.
#[derive(Default)]
struct Lines {
    state: Mutex<(Vec<String>, bool)>, // (lines so far, EOF seen)
    changed: Condvar,
}

impl Lines {
    fn pump(self: Arc<Self>, pipe: impl Read + Send + 'static) -> JoinHandle<()> {
        std::thread::spawn(move || {
            let mut reader = io::BufReader::new(pipe);
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = io::BufRead::read_until(&mut reader, b'\n', &mut line).unwrap_or(0);
                let mut state = self.state.lock().unwrap();
                if n == 0 {
                    state.1 = true;
                    self.changed.notify_all();
                    return;
                }
                let text = String::from_utf8_lossy(&line);
                state.0.push(text.trim_end_matches('\n').to_string());
                self.changed.notify_all();
            }
        })
    }

    fn snapshot(&self) -> Vec<String> {
        self.state.lock().unwrap().0.clone()
    }

    /// Wait until `pred(lines)` holds; returns whether it did before `limit` (or EOF, after
    /// which nothing can change).
    fn wait(&self, limit: Duration, mut pred: impl FnMut(&[String]) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        let mut state = self.state.lock().unwrap();
        loop {
            if pred(&state.0) {
                return true;
            }
            let now = Instant::now();
            if state.1 || now >= deadline {
                return false;
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap().0;
        }
    }

    fn wait_eof(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut state = self.state.lock().unwrap();
        while !state.1 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap().0;
        }
        true
    }
}

/// How to start a server.
#[derive(Clone, Debug)]
pub struct Spawn {
    program: &'static str,
    args: Vec<String>,
    nofile: Option<u64>,
}

/// A server started with `args` (e.g. `["--mode", "select"]`); `--ports 0,0` is added unless
/// the args name ports.
pub fn server(args: &[&str]) -> Spawn {
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    if !args.iter().any(|a| a.starts_with("--port")) {
        args.extend(["--ports".to_string(), "0,0".to_string()]);
    }
    Spawn {
        program: SERVER,
        args,
        nofile: None,
    }
}

/// The load client built for these tests, `pyselect-client`, with `args`.
pub fn client(args: &[&str]) -> Spawn {
    Spawn {
        program: CLIENT,
        args: args.iter().map(|s| s.to_string()).collect(),
        nofile: None,
    }
}

impl Spawn {
    /// Run the server with RLIMIT_NOFILE (soft and hard) set to `n`.
    pub fn nofile(mut self, n: u64) -> Spawn {
        self.nofile = Some(n);
        self
    }

    /// Start it without waiting for anything (for startup errors).
    pub fn start(&self) -> Server {
        let mut cmd = Command::new(self.program);
        cmd.args(&self.args)
            .env("RUST_BACKTRACE", "1") // a panic would then print a backtrace: none may appear
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(n) = self.nofile {
            // SAFETY: the closure runs in the forked child before exec and calls only
            // setrlimit(2), which is async-signal-safe; it allocates nothing and takes no lock.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: n as libc::rlim_t,
                        rlim_max: n as libc::rlim_t,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = cmd.spawn().expect("spawn pyselect-server");
        let out = Arc::new(Lines::default());
        let err = Arc::new(Lines::default());
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let stderr: ChildStderr = child.stderr.take().unwrap();
        let pumps = vec![out.clone().pump(stdout), err.clone().pump(stderr)];
        Server {
            pid: child.id() as i32,
            child,
            status: None,
            out,
            err,
            pumps,
            ports: Vec::new(),
            args: self.args.clone(),
        }
    }

    /// Start it and wait for its `listening on` line; the chosen ports are in `ports`.
    pub fn listening(&self) -> Server {
        let mut s = self.start();
        let seen = s.err.wait(LIMIT, |lines| {
            lines.iter().any(|l| l.contains("listening on"))
        });
        assert!(
            seen,
            "server {:?} never said 'listening on'; stderr: {:?}",
            s.args,
            s.stderr()
        );
        let line = s
            .stderr()
            .into_iter()
            .find(|l| l.contains("listening on"))
            .unwrap();
        s.ports = parse_ports(&line);
        assert!(!s.ports.is_empty(), "no port in {line:?}");
        s
    }
}

/// The ports in `pyselect-server: listening on 127.0.0.1:P1 127.0.0.1:P2 (multiplex mode)`.
pub fn parse_ports(line: &str) -> Vec<u16> {
    let rest = line.split("listening on").nth(1).unwrap_or("");
    rest.split_whitespace()
        .filter_map(|w| w.rsplit_once(':').and_then(|(_, p)| p.parse().ok()))
        .collect()
}

/// A running `pyselect-server` (or client); dropping it kills (SIGKILL, by pid) and reaps it.
pub struct Server {
    pub pid: i32,
    child: Child,
    status: Option<ExitStatus>,
    out: Arc<Lines>,
    err: Arc<Lines>,
    pumps: Vec<JoinHandle<()>>,
    /// The ports it listens on, from its `listening on` line.
    pub ports: Vec<u16>,
    args: Vec<String>,
}

impl Server {
    pub fn port(&self) -> u16 {
        self.ports[0]
    }

    pub fn stdout(&self) -> Vec<String> {
        self.out.snapshot()
    }

    pub fn stderr(&self) -> Vec<String> {
        self.err.snapshot()
    }

    /// Wait until the stdout lines satisfy `pred`.
    pub fn wait_stdout(&self, pred: impl FnMut(&[String]) -> bool) -> bool {
        self.out.wait(LIMIT, pred)
    }

    /// Wait until the stderr lines satisfy `pred`.
    pub fn wait_stderr(&self, pred: impl FnMut(&[String]) -> bool) -> bool {
        self.err.wait(LIMIT, pred)
    }

    /// Wait until at least `n` stdout lines contain `needle`.
    pub fn wait_stdout_count(&self, needle: &str, n: usize) -> bool {
        self.wait_stdout(|lines| count(lines, needle) >= n)
    }

    /// Is the process still running (not exited, not killed by a signal)?
    pub fn alive(&mut self) -> bool {
        if self.status.is_some() {
            return false;
        }
        match self.child.try_wait().expect("waitpid") {
            Some(status) => {
                self.status = Some(status);
                false
            }
            None => true,
        }
    }

    /// Panic, showing stderr, unless the server is running and has printed no panic.
    pub fn assert_healthy(&mut self) {
        let alive = self.alive();
        assert!(
            alive,
            "server died: {:?}; stderr: {:?}",
            self.status,
            self.stderr()
        );
        assert_no_panic(&self.stderr());
    }

    pub fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.pid), sig).expect("kill");
    }

    /// Wait (bounded) for the process to exit and for its pipes to close; its exit status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let exited = wait_until(LIMIT, || !self.alive());
        assert!(
            exited,
            "server {:?} did not exit; stderr: {:?}",
            self.args,
            self.stderr()
        );
        assert!(self.out.wait_eof(LIMIT) && self.err.wait_eof(LIMIT));
        self.status.unwrap()
    }

    /// User + system CPU time so far, in clock ticks (`/proc/PID/stat` fields 14 and 15).
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap();
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
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// The syscall the (single-threaded) server is in, from `/proc/PID/syscall`: its number
    /// while blocked in one, `None` while running on a CPU. `Err` when the kernel does not
    /// offer the file.
    pub fn blocked_in(&self) -> io::Result<Option<i64>> {
        let text = std::fs::read_to_string(format!("/proc/{}/syscall", self.pid))?;
        Ok(text.split_whitespace().next().and_then(|n| n.parse().ok()))
    }

    /// Wait until the server is blocked in syscall `nr` (e.g. `libc::SYS_recvfrom`). Returns
    /// false only when `/proc/PID/syscall` cannot be read (then there is nothing to wait on);
    /// panics when the server is not seen there before `LIMIT`.
    pub fn wait_blocked_in(&self, nr: i64) -> bool {
        if self.blocked_in().is_err() {
            return false;
        }
        let seen = wait_until(
            LIMIT,
            || matches!(self.blocked_in(), Ok(Some(n)) if n == nr),
        );
        assert!(
            seen,
            "server never blocked in syscall {nr}; it is in {:?}",
            self.blocked_in()
        );
        true
    }

    /// How many fds the server has open (entries of `/proc/PID/fd`).
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .unwrap()
            .count()
    }
}

/// The unit of `cpu_ticks`: `sysconf(_SC_CLK_TCK)`.
pub fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant; it takes no pointer and has no precondition.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    assert!(n > 0, "sysconf(_SC_CLK_TCK)");
    n as f64
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.alive() {
            let _ = kill(Pid::from_raw(self.pid), Signal::SIGKILL);
            let _ = self.child.wait();
        }
        for pump in self.pumps.drain(..) {
            let _ = pump.join();
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

/// A blocking loopback connection with `IO_LIMIT` read and write timeouts.
pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the server");
    s.set_read_timeout(Some(IO_LIMIT)).unwrap();
    s.set_write_timeout(Some(IO_LIMIT)).unwrap();
    s
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

/// Read until EOF, reset or timeout: the bytes, and how it ended.
pub fn read_to_end(s: &mut TcpStream) -> (Vec<u8>, End) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (data, End::Eof),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
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

/// One normal transaction, as the seed's client: connect, send `hi`, read to EOF. The reply.
pub fn transact(port: u16) -> Vec<u8> {
    let mut s = connect(port);
    s.write_all(b"hi").expect("send hi");
    let (reply, end) = read_to_end(&mut s);
    assert_eq!(end, End::Eof, "reply {:?}", String::from_utf8_lossy(&reply));
    reply
}

/// The multiplex/select/timeout reply for `port`.
pub fn welcome(port: u16) -> Vec<u8> {
    format!("welcome {port}!").into_bytes()
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

/// Does a TCP socket in TIME_WAIT hold local port `port` on 127.0.0.1 (`/proc/net/tcp`,
/// state 06)?
pub fn time_wait_on(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 3 && f[1] == want && f[3] == "06"
    })
}

/// The numbers in the totals line `N served, E errors, I idle-closed, S closed silently,
/// R refused in T s`, by name.
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
pub struct Totals {
    pub served: u64,
    pub errors: u64,
    pub idle_closed: u64,
    pub silent: u64,
    pub refused: u64,
}

/// Find and parse the totals line in `stderr`.
pub fn totals(stderr: &[String]) -> Option<Totals> {
    let line = stderr.iter().rev().find(|l| l.contains(" served, "))?;
    let body = line.trim_start_matches("pyselect-server: ");
    let mut t = Totals::default();
    for part in body.split(", ") {
        let mut words = part.split_whitespace();
        let n: u64 = words.next()?.parse().ok()?;
        match words.next()? {
            "served" => t.served = n,
            "errors" => t.errors = n,
            "idle-closed" => t.idle_closed = n,
            "closed" => t.silent = n,
            "refused" => t.refused = n,
            _ => return None,
        }
    }
    Some(t)
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
