//! Helpers shared by the select/fd_set test crates: descriptor pairs, a loopback TCP pair, the
//! process's open fds, a child-process runner (re-executing the test binary for one test, with
//! the process guard of `tests/common/`), a per-binary serial lock, and a way to see which
//! syscall a thread is blocked in (`/proc/self/task/<tid>/syscall`), so tests synchronise on the
//! real state of the kernel instead of on sleeps.
//!
//! Each test crate compiles its own copy of this module (`mod util;`), so not every crate uses
//! every helper.
#![allow(dead_code)]

#[path = "../common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pyselect::Socket;

pub use common::child::ChildGuard;
use common::reexec;

/// An upper bound for anything that should happen "at once" on a busy 2-core machine. Only ever
/// used as a limit after which a test fails, never as the thing a test measures.
pub const GENEROUS: Duration = Duration::from_secs(20);

/// The same bound in seconds, as a select() timeout.
pub const GENEROUS_SECS: f64 = 20.0;

/// Syscall numbers, as `/proc/<pid>/task/<tid>/syscall` reports them (x86-64).
#[cfg(target_arch = "x86_64")]
pub const SYS_PSELECT6: i64 = 270;
/// The kernel's own `select` on x86-64.
#[cfg(target_arch = "x86_64")]
pub const SYS_SELECT: i64 = 23;
/// `pselect6` on the generic syscall table (aarch64 and friends).
#[cfg(not(target_arch = "x86_64"))]
pub const SYS_PSELECT6: i64 = libc::SYS_pselect6 as i64;

static SERIAL: Mutex<()> = Mutex::new(());

/// Serialise tests of one binary that touch process-wide state (fd numbers, fd counts). A test
/// that failed while holding the lock does not poison the others.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A pipe, both ends close-on-exec: (read end, write end).
pub fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe2")
}

/// A connected pair of Unix stream sockets.
pub fn socketpair() -> (UnixStream, UnixStream) {
    UnixStream::pair().expect("socketpair")
}

/// Write all of `data` (a few bytes: one `write(2)`) to `fd`.
pub fn write_fd(fd: impl AsFd, data: &[u8]) {
    let n = nix::unistd::write(fd, data).expect("write");
    assert_eq!(n, data.len(), "short write");
}

/// A loopback TCP connection made with pyselect's own `Socket`: the listener, the connecting
/// side and the accepted side.
#[derive(Debug)]
pub struct TcpPair {
    pub listener: Socket,
    pub client: Socket,
    pub server: Socket,
}

/// Listen on 127.0.0.1 port 0, connect, accept.
pub fn tcp_pair() -> TcpPair {
    let listener = Socket::tcp_v4().expect("socket");
    listener.bind(("127.0.0.1", 0)).expect("bind port 0");
    listener.listen(None).expect("listen");
    let port = listener.getsockname().expect("getsockname").port();
    let client = Socket::tcp_v4().expect("socket");
    client.connect(("127.0.0.1", port)).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    TcpPair {
        listener,
        client,
        server,
    }
}

/// The process's open fds and what they point to, from `/proc/self/fd`. The directory handle
/// used to read the listing is left out.
pub fn open_fds() -> BTreeMap<RawFd, String> {
    let dir = std::fs::read_dir("/proc/self/fd").expect("read /proc/self/fd");
    let mut fds = BTreeMap::new();
    for entry in dir {
        let entry = entry.expect("readdir /proc/self/fd");
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<RawFd>() else {
            continue;
        };
        // The fd of the directory being read has vanished by the time we readlink it, or is
        // the directory itself: either way it is not the process's own.
        match std::fs::read_link(entry.path()) {
            Ok(target) if !target.to_string_lossy().starts_with("/proc/") => {
                fds.insert(fd, target.to_string_lossy().into_owned());
            }
            _ => {}
        }
    }
    fds
}

/// Is `fd` open in this process?
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: fcntl(F_GETFD) only reads the fd table; any int is a valid argument.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// The number of a pipe end that has just been closed: a low fd that is now free (select on it
/// gives EBADF). Only meaningful while no other thread of the process opens fds, so callers hold
/// [`serial`] or run in a child process.
pub fn closed_low_fd() -> RawFd {
    let (r, w) = pipe();
    let fd = r.as_raw_fd();
    drop(r);
    drop(w);
    assert!(!is_open(fd), "fd {fd} should be closed");
    fd
}

/// This thread's kernel id.
pub fn gettid() -> libc::pid_t {
    nix::unistd::gettid().as_raw()
}

/// The syscall thread `tid` of this process is blocked in, if any: the first field of
/// `/proc/self/task/<tid>/syscall` ("running" and "-1 ..." give `None`).
pub fn blocked_syscall(tid: libc::pid_t) -> Option<i64> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    let first = text.split_whitespace().next()?;
    first.parse::<i64>().ok().filter(|&n| n >= 0)
}

/// The six arguments of the syscall thread `tid` is blocked in, if it is blocked in one.
pub fn blocked_syscall_args(tid: libc::pid_t) -> Option<[u64; 6]> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
    let mut fields = text.split_whitespace();
    fields.next()?.parse::<i64>().ok().filter(|&n| n >= 0)?;
    let mut args = [0u64; 6];
    for arg in &mut args {
        *arg = u64::from_str_radix(fields.next()?.trim_start_matches("0x"), 16).ok()?;
    }
    Some(args)
}

/// Wait (bounded by [`GENEROUS`]) until thread `tid` is blocked in syscall `nr`, or `stop()`
/// turns true. Returns whether it saw the thread in the syscall. Polls the kernel's own view of
/// the thread, so the caller acts on the thread's real state rather than on elapsed time.
pub fn wait_until_blocked_in(tid: libc::pid_t, nr: i64, stop: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + GENEROUS;
    while Instant::now() < deadline {
        if stop() {
            return false;
        }
        if blocked_syscall(tid) == Some(nr) {
            return true;
        }
        std::thread::yield_now();
    }
    panic!("thread {tid} never blocked in syscall {nr} within {GENEROUS:?}");
}

/// The environment variable that tells a re-executed test binary which single test to run for
/// real.
pub const CHILD_ENV: &str = "PYSELECT_TEST_CHILD";

/// Run `body` in a fresh process: the test binary re-executed for exactly the test `name`
/// (which must be the test function's name, at the crate's top level). In that child `body`
/// runs; in the parent this checks the child ran exactly that one test and it passed. For tests
/// that change process-wide state (signal handlers, rlimits, specific fd numbers).
pub fn in_child(name: &str, body: impl FnOnce()) {
    if std::env::var(CHILD_ENV).as_deref() == Ok(name) {
        body();
        return;
    }
    let mut cmd = reexec::test_command(name, CHILD_ENV, name);
    let done = ChildGuard::spawn(&mut cmd, &format!("child test {name}")).output(CHILD_LIMIT);
    let report = format!(
        "child test {name}: {}\n--- stdout\n{}\n--- stderr\n{}",
        done.status, done.stdout, done.stderr
    );
    assert!(done.status.success(), "{report}");
    assert!(
        done.stdout.contains("test result: ok. 1 passed"),
        "the child did not run exactly one test\n{report}"
    );
}

/// Upper bound for a child test run by [`in_child`].
const CHILD_LIMIT: Duration = Duration::from_secs(60);

/// Run `python3 -I -c script` with `input` on stdin and return its stdout. A missing `python3`
/// fails the test: CPython is the reference these tests compare against.
pub fn python(script: &str, input: &[u8]) -> String {
    common::python::run(script, &[], input)
}
