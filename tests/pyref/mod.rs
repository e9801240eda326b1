//! Shared helpers for the tests that hold pyselect against CPython: find `python3` and
//! `strace` (failing loudly when they are missing), run a program with a deadline and kill it
//! (its whole process group) if it overstays (the guard of `tests/common/child.rs`), hand
//! inherited fds to a child, re-execute the current test binary as a traced child, and read
//! `select`/`pselect6` lines out of a strace log.
//!
//! The fixture scripts live in `tests/fixtures/`. The call-list format shared by the Rust child
//! and `tests/fixtures/select_calls.py` is described at [`Call`].
#![allow(dead_code)] // each test crate uses a different subset of these helpers

#[path = "../common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use common::child::{wrap, ChildGuard};
use common::reexec;

pub use common::child::Output;

/// Upper bound for one helper process (python3, strace, a re-executed test binary). Every
/// program we run finishes in well under a second; this only turns a hang into a failure.
pub const LIMIT: Duration = Duration::from_secs(60);

/// The environment variable that turns a re-executed test binary into a traced child.
pub const CHILD_ENV: &str = "PYSELECT_PYREF_CHILD";

/// The fixed fd numbers the call scripts use in both the Rust child and the Python program.
/// 40: AF_UNIX stream end with one byte waiting (readable and writable); 41: its peer
/// (writable, not readable); 42: an empty pipe's read end (never ready); 43: that pipe's
/// write end (writable).
pub const FIXED_FDS: [RawFd; 4] = [40, 41, 42, 43];

/// The real CPython executable (`sys.executable`, so that a pyenv shim script is not what
/// strace follows). Panics with an explanation when `python3` cannot run or is not Python 3.
pub fn python3() -> &'static Path {
    let python = common::python::interpreter();
    assert_eq!(
        python.version.0, 3,
        "python3 is version {:?}; CPython 3 (3.11 is the reference) is required",
        python.version
    );
    &python.exe
}

/// `strace`, checked once: it must exist and be allowed to trace (ptrace may be forbidden in
/// a container). Panics with an explanation otherwise.
pub fn strace() -> &'static Path {
    static STRACE: OnceLock<PathBuf> = OnceLock::new();
    STRACE.get_or_init(|| {
        let out = Command::new("strace")
            .args(["-qq", "-o", "/dev/null", "-e", "trace=none", "--", "true"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `strace` ({e}): these tests compare pyselect's syscalls with \
                     CPython's and need strace on PATH (CI installs it)"
                )
            });
        assert!(
            out.status.success(),
            "`strace` cannot trace here (ptrace not permitted?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from("strace")
    })
}

/// A file under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    assert!(path.is_file(), "missing fixture {}", path.display());
    path
}

/// A temporary file path, unique in this process, removed on drop.
pub struct TempPath(pub PathBuf);

impl TempPath {
    pub fn new(stem: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        TempPath(
            std::env::temp_dir().join(format!("pyselect-{stem}-{}-{n}.trace", std::process::id())),
        )
    }

    pub fn read(&self) -> String {
        std::fs::read_to_string(&self.0)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", self.0.display()))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Clear `FD_CLOEXEC` on `fds` in the child between fork and exec, so that it inherits them
/// at the same numbers (Python's `pass_fds`). The fds must be open in the parent at spawn.
pub fn pass_fds(cmd: &mut Command, fds: Vec<RawFd>) {
    // SAFETY: the closure runs in the forked child before exec and calls only fcntl(2), which
    // is async-signal-safe; it allocates nothing (the Vec was built before the fork) and
    // touches no lock.
    unsafe {
        cmd.pre_exec(move || {
            for &fd in &fds {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Run `cmd` in its own process group with `stdin` as its input, and collect its output.
/// Panics if it runs longer than [`LIMIT`] (the guard then kills the group).
pub fn run(mut cmd: Command, stdin: &str) -> Output {
    let shown = format!("{cmd:?}");
    ChildGuard::spawn_with_input(&mut cmd, &shown, stdin.as_bytes()).output(LIMIT)
}

/// `python3 -I script args...`.
pub fn python_cmd(script: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(python3());
    cmd.arg("-I").arg(script).args(args);
    cmd
}

/// `strace -f -qq -e trace=pselect6,select -o trace -- program args...`.
pub fn under_strace(trace: &TempPath, program: &Command) -> Command {
    let mut cmd = Command::new(strace());
    cmd.args(["-f", "-qq", "-e", "trace=pselect6,select", "-o"])
        .arg(&trace.0)
        .arg("--");
    wrap(cmd, program)
}

/// The current test binary, re-executed to run only the `#[ignore]`d test `entry` with
/// [`CHILD_ENV`] set: that test then reads its calls from stdin and makes them.
pub fn rust_child_cmd(entry: &str) -> Command {
    let mut cmd = reexec::test_command(entry, CHILD_ENV, "1");
    cmd.args(["--ignored", "--quiet"])
        .env("RUST_BACKTRACE", "0");
    cmd
}

/// Is this process a re-executed child (see [`rust_child_cmd`])?
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// The prefix of the result lines a Rust child prints, to tell them from libtest's output.
pub const RESULT_PREFIX: &str = "pyref-result: ";

/// The result lines of a re-executed child (libtest's own lines dropped).
pub fn child_results(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(RESULT_PREFIX))
        .map(str::to_owned)
        .collect()
}

/// Which syscall a [`Call`] asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Libc,
    Select,
}

/// One `select` call, in the line format both the Rust child and
/// `tests/fixtures/select_calls.py` read:
/// `<libc|select> <rlist> <wlist> <xlist> <timeout>`, a list being comma-separated fds or `-`
/// when empty, the timeout `none` or the 16 hex digits of the f64's bits.
#[derive(Clone, Debug)]
pub struct Call {
    pub via: Via,
    pub r: Vec<RawFd>,
    pub w: Vec<RawFd>,
    pub x: Vec<RawFd>,
    pub timeout: Option<f64>,
}

impl Call {
    pub fn new(r: &[RawFd], w: &[RawFd], x: &[RawFd], timeout: Option<f64>) -> Self {
        Call {
            via: Via::Libc,
            r: r.to_vec(),
            w: w.to_vec(),
            x: x.to_vec(),
            timeout,
        }
    }

    pub fn via(mut self, via: Via) -> Self {
        self.via = via;
        self
    }

    pub fn line(&self) -> String {
        fn list(fds: &[RawFd]) -> String {
            if fds.is_empty() {
                "-".into()
            } else {
                fds.iter()
                    .map(|fd| fd.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            }
        }
        let via = match self.via {
            Via::Libc => "libc",
            Via::Select => "select",
        };
        let timeout = match self.timeout {
            None => "none".to_owned(),
            Some(t) => format!("{:016x}", t.to_bits()),
        };
        format!(
            "{via} {} {} {} {timeout}",
            list(&self.r),
            list(&self.w),
            list(&self.x)
        )
    }

    pub fn parse(line: &str) -> Self {
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts.len(), 5, "bad call line {line:?}");
        let list = |s: &str| -> Vec<RawFd> {
            if s == "-" {
                Vec::new()
            } else {
                s.split(',').map(|n| n.parse().expect("fd")).collect()
            }
        };
        Call {
            via: match parts[0] {
                "libc" => Via::Libc,
                "select" => Via::Select,
                other => panic!("bad syscall {other:?}"),
            },
            r: list(parts[1]),
            w: list(parts[2]),
            x: list(parts[3]),
            timeout: match parts[4] {
                "none" => None,
                bits => Some(f64::from_bits(
                    u64::from_str_radix(bits, 16).expect("timeout bits"),
                )),
            },
        }
    }
}

/// Calls as the stdin text of a child.
pub fn calls_text(calls: &[Call]) -> String {
    calls.iter().fold(String::new(), |mut s, c| {
        let _ = writeln!(s, "{}", c.line());
        s
    })
}

/// The line a Python program prints for one `select.select` outcome:
/// `OK r=[..] w=[..] x=[..]` or `ERR <class>: <str(exc)>`.
pub fn outcome_line(result: &pyselect::Result<pyselect::Ready<RawFd>>) -> String {
    match result {
        Ok((r, w, x)) => format!("OK r={r:?} w={w:?} x={x:?}"),
        Err(e) => format!("ERR {}: {e}", e.python_name()),
    }
}

/// The fds [`FIXED_FDS`] describes, set up in this process: an AF_UNIX stream pair with one
/// byte written from 41 to 40, and a pipe 42 -> 43. Each target number must be free.
pub fn setup_fixed_fds() -> Vec<OwnedFd> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .expect("socketpair");
    let (pr, pw) = nix::unistd::pipe().expect("pipe");
    assert_eq!(nix::unistd::write(&b, b"x").expect("write"), 1);
    [a, b, pr, pw]
        .into_iter()
        .zip(FIXED_FDS)
        .map(|(fd, target)| move_fd(fd, target))
        .collect()
}

/// Move `fd` to the number `target`, which must not be open.
pub fn move_fd(fd: OwnedFd, target: RawFd) -> OwnedFd {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes integers only and never closes anything: it makes a
    // new fd, the lowest free one >= `target`, so unlike dup2 it cannot close an fd another
    // thread just opened at `target`. The new fd is owned by the returned OwnedFd alone, and
    // `fd` stays valid (borrowed) during the call.
    unsafe {
        let new = libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, target);
        assert!(
            new >= 0,
            "fcntl(F_DUPFD_CLOEXEC): {}",
            std::io::Error::last_os_error()
        );
        let new = OwnedFd::from_raw_fd(new);
        assert_eq!(
            new.as_raw_fd(),
            target,
            "fd {target} is already open; the fixed fd layout needs it free"
        );
        new
    }
}

/// Run `calls` in this process (the Rust child's work): one result line per call.
pub fn run_calls(calls: &[Call]) -> Vec<String> {
    calls
        .iter()
        .map(|c| {
            let syscall = match c.via {
                Via::Libc => pyselect::Syscall::Libc,
                Via::Select => pyselect::Syscall::Select,
            };
            outcome_line(&pyselect::select_with(
                syscall,
                c.r.clone(),
                c.w.clone(),
                c.x.clone(),
                c.timeout,
            ))
        })
        .collect()
}

/// The body of a child entry test: set up the fixed fds, read calls from stdin, make them,
/// print one prefixed result line per call.
pub fn child_main() {
    let _fds = setup_fixed_fds();
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .expect("read calls");
    let calls: Vec<Call> = text.lines().map(Call::parse).collect();
    for line in run_calls(&calls) {
        println!("{RESULT_PREFIX}{line}");
    }
}

/// One select-family syscall from a strace log: the name, the argument text as strace printed
/// it on entry, and the result text with the kernel's `left {...}` write-back removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Traced {
    pub name: String,
    pub args: String,
    pub result: String,
}

impl Traced {
    /// `name(args) = result`.
    pub fn line(&self) -> String {
        format!("{}({}) = {}", self.name, self.args, self.result)
    }
}

/// Strip a leading `pid ` that `strace -f` adds.
fn strip_pid(line: &str) -> (&str, &str) {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && line[digits..].starts_with(' ') {
        (&line[..digits], line[digits..].trim_start())
    } else {
        ("", line)
    }
}

/// Remove `, left {...}` from a result text.
fn drop_left(result: &str) -> String {
    match result.find(", left {") {
        Some(i) => {
            let end = result[i..].find('}').map_or(result.len(), |j| i + j + 1);
            format!("{}{}", &result[..i], &result[end..])
        }
        None => result.to_owned(),
    }
}

/// Every `pselect6`/`select` call in a strace log, in order, with `<unfinished ...>` /
/// `<... resumed>` pairs joined.
pub fn traced_selects(log: &str) -> Vec<Traced> {
    let mut pending: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for raw in log.lines() {
        let (pid, line) = strip_pid(raw);
        let full = if let Some(head) = line.strip_suffix(" <unfinished ...>") {
            pending.insert(pid.to_owned(), head.to_owned());
            continue;
        } else if let Some(rest) = line.strip_prefix("<... ") {
            let Some(after) = rest
                .find(" resumed>")
                .map(|i| &rest[i + " resumed>".len()..])
            else {
                continue;
            };
            match pending.remove(pid) {
                Some(head) => format!("{head}{after}"),
                None => continue,
            }
        } else {
            line.to_owned()
        };
        let name = if full.starts_with("pselect6(") {
            "pselect6"
        } else if full.starts_with("select(") {
            "select"
        } else {
            continue;
        };
        let Some(eq) = full.rfind(") = ") else {
            panic!("unexpected strace line {raw:?}");
        };
        out.push(Traced {
            name: name.to_owned(),
            args: full[name.len() + 1..eq].to_owned(),
            result: drop_left(&full[eq + 4..]),
        });
    }
    out
}

/// Run `program` under strace with `stdin`; its output and its traced select calls.
pub fn trace(program: Command, stdin: &str, stem: &str) -> (Output, Vec<Traced>) {
    let log = TempPath::new(stem);
    let shown = format!("{program:?}");
    let out = run(under_strace(&log, &program), stdin).success(&format!("strace {shown}"));
    let calls = traced_selects(&log.read());
    (out, calls)
}
