//! The one helper tree every test file shares, compiled once as this crate (a dev-dependency of
//! `pyselect` and `pyselect-cli`): a test file says `use testkit::{...}` or
//! `testkit::server::...` for what it needs. A new test file should not need a helper of its
//! own.
//!
//! - [`child`]: the guard for every spawned process (killed with its process group, by id, and
//!   reaped on drop; every wait bounded; its standard streams, or a terminal session, chosen
//!   with [`child::Setup`] where a test needs them), the line reader for a live process's
//!   output, and the one protocol for re-running a single test of the current binary in a
//!   child process.
//! - [`python`]: `python3`, the CPython these tests compare with, and the one place where an
//!   older 3.11 patch release's wording is mapped to the reference's.
//! - [`strace`]: run a program under `strace` and parse the trace: one parser for every trace.
//! - [`compare`]: `make compare`'s reading of two traces (normalise, renumber fds, align, explain
//!   the known differences), shared by `pyselect-cli/examples/compare.rs` and
//!   `pyselect-cli/tests/compare.rs`.
//! - [`server`]: a live `pyselect-server` (built on [`child`]) and the clients tests throw at it.
//! - [`client`]: the `pyselect-client` binary and small in-test servers for it.
//! - [`alarm`]: a counting SIGALRM handler and a thread that signals a thread blocked in a
//!   syscall ([`alarm::Signaller`], for the EINTR tests).
//! - [`sock`], [`fd`], [`proc`]: loopback sockets, descriptors, and `/proc` views of a thread or
//!   process (the syscall it waits in).
//! - [`pyref`]: the `select` call-list protocol shared by a re-executed Rust child and
//!   `testkit/fixtures/select_calls.py`.
//! - [`twins`]: the `Poll`/`Epoll` tests' fixed-fd world and the script of poll/epoll
//!   operations shared by a re-executed Rust child and `testkit/fixtures/poll_epoll_calls.py`.
//! - [`selectors`]: the `selectors` tests' operations, run on pyselect's three selectors and
//!   by `testkit/fixtures/selectors_calls.py`, in the same line format.
//!
//! Deliberately independent oracles live here too, written apart from the crate's own code so
//! that a test never checks pyselect against itself: [`server::py_addr`] (Python's repr of a
//! peer address, apart from `pyselect::pyrepr`), [`server::parse_totals`] and
//! [`server::parse_listening`] (the server's lines, read with std types only), and
//! `testkit/fixtures/timeout_model.py` (CPython's pytime rounding, apart from `pyselect::timeout`).

pub mod alarm;
pub mod child;
pub mod client;
pub mod compare;
pub mod fd;
pub mod proc;
pub mod pyref;
pub mod python;
pub mod selectors;
pub mod server;
pub mod sock;
pub mod strace;
pub mod twins;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// The one hang bound: the longest any single wait in these tests may take (a process to
/// finish, a line to appear, a socket to become ready, a thread to block) before the test
/// fails. Everything it bounds takes microseconds to a second when the code behaves, so a busy
/// 2-core machine never reaches it; it only turns a hang into a failure and is never what a test
/// measures or sleeps for.
pub const LIMIT: Duration = Duration::from_secs(LIMIT_WHOLE_SECS);

/// [`LIMIT`] in seconds, as a `select()` or `settimeout()` timeout.
pub const LIMIT_SECS: f64 = LIMIT_WHOLE_SECS as f64;

const LIMIT_WHOLE_SECS: u64 = 60;

/// The hang bound of a `make` run, which includes a release build (the first one from nothing
/// takes minutes on a loaded 2-core machine): longer than [`LIMIT`] for that reason only, and
/// like it only turning a hang into a failure.
pub const MAKE_LIMIT: Duration = Duration::from_secs(900);

/// The server binary Cargo built for these tests: in the test executable's `target/<profile>/`
/// (Cargo builds a package's binaries there before its integration tests run). Found at run
/// time, since this crate is compiled once for every test crate and `CARGO_BIN_EXE_*` reaches
/// only the binaries' own package. Panics when it is not there.
pub fn server_exe() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    built_binary("pyselect-server", &PATH)
}

/// The client binary Cargo built for these tests (see [`server_exe`]).
pub fn client_exe() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    built_binary("pyselect-client", &PATH)
}

fn built_binary(name: &str, path: &'static OnceLock<String>) -> &'static str {
    path.get_or_init(|| {
        let exe = std::env::current_exe().expect("the running test's own path");
        // target/<profile>/deps/NAME-HASH: the binaries sit beside deps/.
        let path = exe
            .parent()
            .and_then(Path::parent)
            .map(|dir| dir.join(name))
            .expect("the test executable is in a directory of target/");
        assert!(
            path.is_file(),
            "{} is missing: run the tests with cargo test, which builds it",
            path.display()
        );
        path.into_os_string()
            .into_string()
            .expect("a target directory named in UTF-8")
    })
}

/// Serialise tests of one binary that touch process-wide state (fd numbers and counts, rlimits,
/// CPU time, a thousand sockets). A test that failed while holding the lock does not poison the
/// others.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Poll `cond` every 2 ms or so until it holds or `limit` passes; returns whether it held.
/// For conditions with no line or byte to wait on (a count in `/proc`, a process exit).
pub fn wait_until(limit: Duration, cond: impl FnMut() -> bool) -> bool {
    poll_until(Instant::now() + limit, cond)
}

/// [`wait_until`] with a deadline. The polling interval bounds nothing and decides nothing:
/// the outcome never depends on its length.
pub fn poll_until(deadline: Instant, mut cond: impl FnMut() -> bool) -> bool {
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

/// A file under `testkit/fixtures/`; panics when it is missing.
pub fn fixture(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    assert!(path.is_file(), "missing fixture {}", path.display());
    path
}

/// Text of an output stream, for assertions and failure messages.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A scratch file path, unique in this process, removed on drop.
#[derive(Debug)]
pub struct TempPath(pub PathBuf);

impl TempPath {
    /// `pyselect-STEM-PID-N` in the temporary directory.
    pub fn new(stem: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        TempPath(std::env::temp_dir().join(format!("pyselect-{stem}-{}-{n}", std::process::id())))
    }

    /// The file's contents; panics when it cannot be read.
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
