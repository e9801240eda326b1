//! The `select` call-list protocol these tests use to hold pyselect against CPython call for
//! call: a list of [`Call`]s is fed (as text on stdin) both to a re-executed Rust child and to
//! `testkit/fixtures/select_calls.py`, which set up the same fds at the same numbers
//! ([`FIXED_FDS`]), make the same calls and print one outcome line per call.

use std::fmt::Write as _;
use std::io::Read;
use std::os::fd::{OwnedFd, RawFd};
use std::process::Command;

use super::child::{assert_one_test_passed, test_command, Output, CHILD_ENV};
use super::fd::move_fd;
use super::strace::{self, Syscall};

/// The child role of a re-executed test binary that makes calls read from stdin (these
/// `select` call lists, or [`super::twins`]' poll/epoll scripts).
pub const ROLE: &str = "select-calls";

/// The fixed fd numbers the call scripts use in both the Rust child and the Python program.
/// 40: AF_UNIX stream end with one byte waiting (readable and writable); 41: its peer
/// (writable, not readable); 42: an empty pipe's read end (never ready); 43: that pipe's
/// write end (writable).
pub const FIXED_FDS: [RawFd; 4] = [40, 41, 42, 43];

/// The current test binary, re-executed to run only the `#[ignore]`d test `entry` in the
/// [`ROLE`] role: that test then reads its calls from stdin and makes them ([`child_main`]).
pub fn rust_child_cmd(entry: &str) -> Command {
    let mut cmd = test_command(entry, ROLE);
    cmd.args(["--ignored", "--quiet"])
        .env("RUST_BACKTRACE", "0");
    cmd
}

/// Is this process a re-executed child making calls (see [`rust_child_cmd`])?
pub fn is_child() -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(ROLE)
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

/// Run `program` (python3 with `select_calls.py`, or [`rust_child_cmd`]) under
/// `strace -f -qq -e trace=pselect6,select` with `stdin` (a [`calls_text`]); panics unless it
/// succeeded (and, for the Rust child, ran its one test). Its output and its traced select
/// calls. `stem` names the trace file.
pub fn trace(program: Command, stdin: &str, stem: &str) -> (Output, Vec<Syscall>) {
    let shown = format!("{program:?}");
    let options = ["-qq"];
    let (out, trace) = strace::run(&program, "trace=pselect6,select", &options, stdin, stem);
    let out = out.success(&format!("strace {shown}"));
    if program.get_envs().any(|(k, _)| k == CHILD_ENV) {
        assert_one_test_passed(&out, &shown);
    }
    (out, trace.selects())
}

/// Which syscall a [`Call`] asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Libc,
    Select,
}

/// One `select` call, in the line format both the Rust child and
/// `testkit/fixtures/select_calls.py` read:
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
        let timeout = timeout_token(self.timeout);
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
            timeout: parse_timeout_token(parts[4]),
        }
    }
}

/// A timeout as the call lists (and `testkit/fixtures/poll_epoll_calls.py`'s scripts) write it:
/// `none`, or the 16 hex digits of the f64's bits, so that every value crosses exactly.
pub fn timeout_token(timeout: Option<f64>) -> String {
    match timeout {
        None => "none".to_owned(),
        Some(t) => format!("{:016x}", t.to_bits()),
    }
}

/// The inverse of [`timeout_token`].
pub fn parse_timeout_token(token: &str) -> Option<f64> {
    match token {
        "none" => None,
        bits => Some(f64::from_bits(
            u64::from_str_radix(bits, 16).expect("timeout bits"),
        )),
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
