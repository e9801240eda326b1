//! Helpers for tests/server_strace.rs: run a server under `strace -f`, drive one connection,
//! and cut the per-connection syscall sequence out of the trace.
//!
//! Every process started here is owned by a [`Traced`] guard that kills it (strace's whole
//! process group, and the traced program by pid) and reaps it on drop; every wait has a
//! deadline; nothing sleeps to synchronise: the server's "listening on" line on stderr says the
//! listeners are ready, and EOF on its stdout (after `--count 1`) says the server and strace
//! have both exited, so the trace file is complete.

#![allow(dead_code)] // each test binary uses a different subset

#[path = "../common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use common::child::ChildGuard;

/// The Makefile's `STRACE_FILTER` (read from the Makefile, so that the tests trace exactly
/// what `make strace-server` traces): the syscalls worth reading in a trace of these programs.
pub fn filter() -> String {
    let makefile = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Makefile"))
        .expect("read the Makefile");
    makefile
        .lines()
        .find_map(|l| l.strip_prefix("STRACE_FILTER := "))
        .expect("the Makefile defines STRACE_FILTER := trace=...")
        .trim()
        .to_string()
}

/// How long any one step may take before the test fails (a hang, not slowness).
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The server binary under test.
pub fn server_bin() -> &'static str {
    env!("CARGO_BIN_EXE_pyselect-server")
}

/// Panics with a clear message unless `strace` runs here (installed, and ptrace allowed).
pub fn require_strace() {
    let ok = Command::new("strace")
        .args(["-f", "-e", "trace=none", "-o", "/dev/null", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "these tests need a working `strace` (install it with `make deps`; in a container, \
         ptrace must be allowed)"
    );
}

/// The real CPython interpreter behind `python3` (pyenv shims are shell scripts that fork,
/// which would put their own processes into a `strace -f` trace), if it is CPython 3.11.
/// Panics when `python3` cannot be run at all.
pub fn cpython311() -> Option<String> {
    let python = common::python::interpreter();
    python
        .is_cpython(3, 11)
        .then(|| python.exe.to_string_lossy().into_owned())
}

/// A fixture's path: tests/fixtures/NAME.
pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A fresh trace file name under the target directory.
fn trace_path(tag: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("server_strace");
    std::fs::create_dir_all(&dir).expect("create the trace directory");
    dir.join(format!(
        "{tag}-{}-{}.trace",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A program running under `strace -f -s 256 -e FILTER -o FILE`; killed and reaped on drop.
pub struct Traced {
    /// strace, leader of a process group that the traced program shares.
    strace: ChildGuard,
    /// The traced program itself (strace's child), once known.
    tracee: Option<i32>,
    /// Set once both have exited and strace was reaped: nothing left to kill.
    finished: bool,
    stdout: Option<ChildStdout>,
    stderr_lines: Receiver<String>,
    /// Everything read from stderr so far.
    pub stderr: String,
    pub trace_file: PathBuf,
}

impl Traced {
    /// Start `program args...` under strace. `env_remove` names variables to drop (e.g.
    /// `PYTHONUNBUFFERED`, to see CPython's buffered stdout).
    pub fn spawn(tag: &str, program: &str, args: &[&str], env_remove: &[&str]) -> Traced {
        let trace_file = trace_path(tag);
        let mut cmd = Command::new("strace");
        cmd.args(["-f", "-s", "256", "-e", &filter(), "-o"])
            .arg(&trace_file)
            .arg("--")
            .arg(program)
            .args(args);
        for name in env_remove {
            cmd.env_remove(name);
        }
        // A test harness started from a non-interactive shell may inherit SIGINT ignored;
        // CPython then installs no KeyboardInterrupt handler. Start from the default.
        // SAFETY: between fork and exec only async-signal-safe calls are allowed; signal(2)
        // (sigaction) is one, and nothing is allocated.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                Ok(())
            });
        }
        let mut strace = ChildGuard::spawn(&mut cmd, "strace");
        let stdout = strace.take_stdout();
        let stderr = strace.take_stderr();
        Traced {
            strace,
            tracee: None,
            finished: false,
            stdout: Some(stdout),
            stderr_lines: line_reader(stderr),
            stderr: String::new(),
            trace_file,
        }
    }

    /// Wait (at most [`DEADLINE`]) for the stderr line containing "listening on" and return
    /// the ports it names, in order.
    pub fn wait_listening(&mut self) -> Vec<u16> {
        let until = Instant::now() + DEADLINE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let line = match self.stderr_lines.recv_timeout(left) {
                Ok(line) => line,
                Err(e) => panic!(
                    "no 'listening on' line from the server ({e}); stderr so far:\n{}",
                    self.stderr
                ),
            };
            self.stderr.push_str(&line);
            if line.contains("listening on") {
                self.tracee = tracee_of(self.strace.id());
                return line
                    .split_whitespace()
                    .filter_map(|w| w.rsplit_once(':'))
                    .filter_map(|(_, p)| p.parse().ok())
                    .collect();
            }
        }
    }

    /// Send `sig` to the traced program (for the seed's Python servers, which never exit by
    /// themselves).
    pub fn signal(&self, sig: Signal) {
        let pid = self
            .tracee
            .expect("the traced program's pid (after wait_listening)");
        kill(Pid::from_raw(pid), sig).expect("signal the traced program");
    }

    /// Wait (at most [`DEADLINE`]) for the program and strace to exit by themselves; return
    /// strace's status (the program's own exit status), the program's stdout, and the trace.
    pub fn finish(mut self) -> (ExitStatus, String, Trace) {
        let stdout = self.stdout.take().expect("stdout not taken twice");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let mut stdout = stdout;
            let _ = stdout.read_to_string(&mut text);
            let _ = tx.send(text);
        });
        // EOF on stdout: every holder of the pipe (the program, strace) has exited.
        let out = rx
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|e| panic!("the traced program did not exit ({e})"));
        let status = self
            .strace
            .wait_until(Instant::now() + DEADLINE)
            .unwrap_or_else(|| panic!("strace closed its stdout but did not exit"));
        self.finished = true;
        while let Ok(line) = self.stderr_lines.try_recv() {
            self.stderr.push_str(&line);
        }
        let text = std::fs::read_to_string(&self.trace_file).expect("read the trace file");
        // Failures print the whole trace; nothing needs the file any more.
        let _ = std::fs::remove_file(&self.trace_file);
        (status, out, Trace::parse(&text))
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        // The traced program by pid, in case it left strace's process group; the guard then
        // kills that group (strace and what is left in it) and reaps strace.
        if self.finished {
            return;
        }
        if let Some(pid) = self.tracee {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// strace's child (the traced program), read from /proc once it is running.
fn tracee_of(strace_pid: u32) -> Option<i32> {
    let path = format!("/proc/{strace_pid}/task/{strace_pid}/children");
    let text = std::fs::read_to_string(path).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// A thread that forwards each line of `r` (with its newline) over a channel.
fn line_reader(r: ChildStderr) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        // Bounded by the pipe: it ends at EOF, when the program and strace have exited.
        loop {
            let mut line = String::new();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// The seed's client, from the test: connect, send `msg`, read the reply to EOF (the server
/// closes after replying). Returns the reply and the client's own port.
pub fn client(port: u16, msg: &[u8]) -> (Vec<u8>, u16) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the server");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let local = s.local_addr().unwrap().port();
    s.write_all(msg).expect("send the message");
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).expect("read the reply");
    let _ = s.shutdown(Shutdown::Both);
    (reply, local)
}

/// One line of an `strace -f` trace: the pid and the rest, with strace's column padding
/// before ` = ` squeezed to one space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub pid: i32,
    pub text: String,
}

impl Line {
    /// The syscall name (`pselect6`), or "" for `+++`/`---` lines.
    pub fn name(&self) -> &str {
        match self.text.find('(') {
            Some(i) if !self.text.starts_with(['+', '-']) => &self.text[..i],
            _ => "",
        }
    }

    /// The return value, for a completed syscall line.
    pub fn ret(&self) -> Option<i64> {
        let (_, after) = self.text.rsplit_once(") = ")?;
        after.split_whitespace().next()?.parse().ok()
    }
}

/// A parsed trace file.
#[derive(Clone, Debug)]
pub struct Trace {
    pub lines: Vec<Line>,
}

impl Trace {
    pub fn parse(text: &str) -> Trace {
        let lines = text
            .lines()
            .filter_map(|l| {
                let (pid, rest) = l.split_once(char::is_whitespace)?;
                Some(Line {
                    pid: pid.parse().ok()?,
                    text: squeeze_padding(rest.trim_start()),
                })
            })
            .collect();
        Trace { lines }
    }

    /// The lines after the program's "listening on" line, up to and including the close of
    /// the first accepted connection's fd: one connection's syscalls, from the wake-up that
    /// announced it to its close.
    pub fn first_connection(&self) -> Vec<String> {
        let start = self
            .lines
            .iter()
            .position(|l| l.name() == "write" && l.text.contains("listening on"))
            .expect("a 'listening on' write in the trace")
            + 1;
        // `python3 -u` writes print()'s newline separately.
        let start = match self.lines.get(start) {
            Some(l) if l.text == r#"write(2, "\n", 1) = 1"# => start + 1,
            _ => start,
        };
        let accept = start
            + self.lines[start..]
                .iter()
                .position(|l| l.name() == "accept4")
                .unwrap_or_else(|| panic!("no accept4 in the trace:\n{}", self.dump()));
        let fd = self.lines[accept].ret().expect("accept4's fd");
        let close = format!("close({fd}) = 0");
        let end = accept
            + self.lines[accept..]
                .iter()
                .position(|l| l.text == close)
                .unwrap_or_else(|| panic!("no {close} in the trace:\n{}", self.dump()));
        self.lines[start..=end]
            .iter()
            .map(|l| l.text.clone())
            .collect()
    }

    /// The trace as text, for failure messages.
    pub fn dump(&self) -> String {
        self.lines
            .iter()
            .map(|l| format!("{} {}\n", l.pid, l.text))
            .collect()
    }
}

/// strace pads the call to column 40 before ` = `: `close(5)        = 0` becomes
/// `close(5) = 0`. Only the padding after the closing parenthesis is touched.
fn squeeze_padding(line: &str) -> String {
    match line.rfind(") ") {
        Some(i) => {
            let rest = line[i + 1..].trim_start();
            if rest.starts_with("= ") {
                format!("{} {rest}", &line[..=i])
            } else {
                line.to_string()
            }
        }
        None => line.to_string(),
    }
}

/// A `{tv_sec=S, tv_nsec=N}` (or `tv_usec`) in `text` after `after`: (seconds as f64, the
/// sub-second field, whether it was `tv_usec`), and `text` with that braced value replaced
/// by `{placeholder}`.
pub fn take_timeval(text: &str, after: &str, placeholder: &str) -> (f64, i64, bool, String) {
    let from = text
        .find(after)
        .unwrap_or_else(|| panic!("{after:?} not in {text:?}"))
        + after.len();
    let open = from
        + text[from..]
            .find("{tv_sec=")
            .unwrap_or_else(|| panic!("no timeval after {after:?} in {text:?}"));
    let close = open + text[open..].find('}').expect("closing brace");
    let inner = &text[open + 1..close]; // tv_sec=9, tv_nsec=999997000
    let (sec, sub) = inner.split_once(", ").expect("two fields");
    let sec: i64 = sec.strip_prefix("tv_sec=").unwrap().parse().unwrap();
    let (usec, sub) = match sub.split_once('=').unwrap() {
        ("tv_nsec", v) => (false, v.parse::<i64>().unwrap()),
        ("tv_usec", v) => (true, v.parse::<i64>().unwrap()),
        (f, _) => panic!("unexpected timeval field {f}"),
    };
    let seconds = sec as f64 + sub as f64 / if usec { 1e6 } else { 1e9 };
    let replaced = format!("{}{{{placeholder}}}{}", &text[..open], &text[close + 1..]);
    (seconds, sub, usec, replaced)
}
