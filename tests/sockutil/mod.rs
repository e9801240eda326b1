//! Helpers shared by `tests/socket.rs` and `tests/socket_strace.rs`: loopback socket pairs,
//! fd flag probes, a `python3` oracle, and re-running one test of the current binary in a
//! child process (optionally under `strace`) with a guard that kills and reaps it (the pieces
//! of `tests/common/`).
//!
//! Every external tool is required: when `python3` or `strace` cannot be run the calling test
//! panics with a message saying so, it never passes silently.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

#[path = "../common/mod.rs"]
pub mod common;

use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};
use std::process::{Command, Output};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use pyselect::{select, Family, Socket, Type};

use common::child::wrap;
pub use common::child::ChildGuard;
use common::reexec;

/// Environment variable that tells a re-executed test binary which child role to play.
pub const CHILD_ENV: &str = "PYSELECT_SOCKET_TEST_CHILD";

/// Upper bound for any child process (python3, strace, a re-executed test). Only ever an
/// upper bound: nothing waits for it to pass.
pub const CHILD_LIMIT: Duration = Duration::from_secs(120);

/// Upper bound, in seconds, for a wait that normally ends at once (data in flight on loopback).
pub const IO_LIMIT: f64 = 10.0;

/// A listening socket on `host` port 0 (an ephemeral port) and its address.
pub fn listener(family: Family, host: &str) -> (Socket, SocketAddr) {
    let sock = Socket::new(family, Type::Stream).expect("socket()");
    sock.bind((host, 0)).expect("bind(host, 0)");
    sock.listen(None).expect("listen()");
    let addr = sock.getsockname().expect("getsockname()");
    assert_ne!(addr.port(), 0, "bind to port 0 must pick an ephemeral port");
    (sock, addr)
}

/// An IPv4 loopback listener.
pub fn listener_v4() -> (Socket, SocketAddr) {
    listener(Family::Inet, "127.0.0.1")
}

/// A connected TCP pair over `host`: (client, accepted server side, the address `accept`
/// reported for the client).
pub fn pair(family: Family, host: &str) -> (Socket, Socket, SocketAddr) {
    let (lst, addr) = listener(family, host);
    let cli = Socket::new(family, Type::Stream).expect("socket()");
    cli.connect(addr).expect("connect() to a loopback listener");
    let (conn, peer) = lst.accept().expect("accept()");
    (cli, conn, peer)
}

/// A connected IPv4 loopback pair: (client, server side).
pub fn pair_v4() -> (Socket, Socket) {
    let (cli, conn, _) = pair(Family::Inet, "127.0.0.1");
    (cli, conn)
}

fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    assert!(fd >= 0, "fd {fd} is closed");
    // SAFETY: only used for one fcntl call on an fd the caller's `Socket` keeps open for the
    // duration of that call; the borrow never escapes the helpers below.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// `fcntl(fd, F_GETFD)`: the fd flags (`FD_CLOEXEC`).
pub fn fd_flags(fd: RawFd) -> FdFlag {
    let raw = fcntl(borrow(fd), FcntlArg::F_GETFD).expect("fcntl(F_GETFD)");
    FdFlag::from_bits_truncate(raw)
}

/// `fcntl(fd, F_GETFL)`: the file status flags (`O_NONBLOCK`).
pub fn status_flags(fd: RawFd) -> OFlag {
    let raw = fcntl(borrow(fd), FcntlArg::F_GETFL).expect("fcntl(F_GETFL)");
    OFlag::from_bits_truncate(raw)
}

/// Whether `fd` has `O_NONBLOCK` set.
pub fn is_nonblocking(fd: RawFd) -> bool {
    status_flags(fd).contains(OFlag::O_NONBLOCK)
}

/// Wait (at most [`IO_LIMIT`]) until `sock` is readable; panics if it never becomes so.
pub fn wait_readable(sock: &Socket) {
    let (r, _, _) = select([sock], [], [], Some(IO_LIMIT)).expect("select()");
    assert_eq!(r.len(), 1, "socket not readable within {IO_LIMIT} s");
}

/// Read from `sock` until `n` bytes have arrived (bounded by the socket's own timeout, which
/// the caller sets) and return them.
pub fn recv_exact(sock: &Socket, n: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let chunk = sock.recv(n - got.len()).expect("recv()");
        assert!(!chunk.is_empty(), "EOF after {} of {n} bytes", got.len());
        got.extend_from_slice(&chunk);
    }
    got
}

/// Text of an output stream, for assertions and failure messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Run `python3 -I -c script args...` and return its stdout lines; a failing script fails
/// the test with its stderr.
pub fn python(script: &str, args: &[&str]) -> Vec<String> {
    common::python::run_lines(script, args, b"")
}

/// The child role this process was started for, if it is a re-executed child.
pub fn child_role() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

/// The command that re-runs exactly the test `test_name` of the current test binary, alone,
/// in a fresh process, with [`CHILD_ENV`] set to `role`.
/// With `program`, the command runs under `program args...` (e.g. strace).
pub fn self_command(program: Option<(&str, &[String])>, test_name: &str, role: &str) -> Command {
    let cmd = reexec::test_command(test_name, CHILD_ENV, role);
    match program {
        Some((prog, args)) => {
            let mut outer = Command::new(prog);
            outer.args(args);
            wrap(outer, &cmd)
        }
        None => cmd,
    }
}

/// Re-run `test_name` in a child process playing `role`, and return its output.
pub fn run_self(test_name: &str, role: &str) -> Output {
    let mut cmd = self_command(None, test_name, role);
    ChildGuard::spawn(&mut cmd, &format!("child test {test_name} ({role})")).output_raw(CHILD_LIMIT)
}

/// Marker a child prints when its work is done, so a parent can tell that the child really
/// ran its role (and was not, say, filtered out by the test harness).
pub fn child_done_marker(role: &str) -> String {
    format!("CHILD-DONE {role}")
}

/// Assert that a child exited 0 and printed its done marker.
pub fn assert_child_ok(out: &Output, role: &str) {
    let stdout = text(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&child_done_marker(role)),
        "child {role} failed: {}\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        text(&out.stderr)
    );
}

/// A path for a scratch file, unique to this process and `tag`.
pub fn scratch_path(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("pyselect-{}-{tag}", std::process::id()))
}

/// Removes a scratch file when dropped.
#[derive(Debug)]
pub struct RemoveOnDrop(pub std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
