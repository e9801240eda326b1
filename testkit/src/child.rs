//! Child processes: the one guard for every spawned process (python3, strace, a re-executed
//! test binary, a binary under test), the one line reader for a live process's output, and the
//! one protocol for re-running a single test of the current binary in a child process.
//!
//! The guarded process leads a process group of its own; unless it has been reaped, dropping
//! the guard kills that whole group (the process and anything it started, e.g. strace's
//! tracee) with SIGKILL and reaps the process, so a failing test never leaves one behind. Every
//! wait on it is bounded by [`LIMIT`], which only turns a hang into a failure.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use super::{poll_until, LIMIT};

/// A spawned process, leader of its own process group, killed (group and process, by id) and
/// reaped on drop unless it was reaped already.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    /// What the process is, for failure messages.
    what: String,
    /// The exit status, once reaped: then there is nothing left to kill.
    status: Option<ExitStatus>,
}

/// How [`ChildGuard::spawn_with`] starts a process: its three standard streams, and whether it
/// leads a session of its own on a terminal. The default is [`ChildGuard::spawn`]'s: stdin
/// `/dev/null`, stdout and stderr piped (take them with [`ChildGuard::take_stdout`] and
/// [`ChildGuard::take_stderr`]), and a new process group.
#[derive(Debug)]
pub struct Setup {
    stdin: Stdio,
    stdout: Stdio,
    stderr: Stdio,
    terminal_session: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            stdin: Stdio::null(),
            stdout: Stdio::piped(),
            stderr: Stdio::piped(),
            terminal_session: false,
        }
    }
}

impl Setup {
    /// The process's stdin.
    pub fn stdin(mut self, stdin: impl Into<Stdio>) -> Setup {
        self.stdin = stdin.into();
        self
    }

    /// The process's stdout (e.g. a pipe the test filled, a terminal, `Stdio::null()`).
    pub fn stdout(mut self, stdout: impl Into<Stdio>) -> Setup {
        self.stdout = stdout.into();
        self
    }

    /// The process's stderr.
    pub fn stderr(mut self, stderr: impl Into<Stdio>) -> Setup {
        self.stderr = stderr.into();
        self
    }

    /// Instead of a new process group, a new session (`setsid`) whose controlling terminal is
    /// the process's stdin, which must be a terminal: the process is then its terminal's
    /// foreground process group, so a typed `^C` reaches it as SIGINT. The session leader also
    /// leads its own process group, so the guard still kills exactly that group.
    pub fn terminal_session(mut self) -> Setup {
        self.terminal_session = true;
        self
    }
}

impl ChildGuard {
    /// Spawn `cmd` (called `what` in failure messages) in a new process group, with stdin
    /// closed (`/dev/null`) and stdout and stderr piped. Panics when it cannot be started.
    pub fn spawn(cmd: &mut Command, what: &str) -> ChildGuard {
        Self::spawn_with(cmd, what, Setup::default())
    }

    /// [`spawn`](Self::spawn), with `input` written to the process's stdin by a thread, which
    /// then closes it.
    pub fn spawn_with_input(cmd: &mut Command, what: &str, input: &[u8]) -> ChildGuard {
        let mut guard = Self::spawn_with(cmd, what, Setup::default().stdin(Stdio::piped()));
        let mut stdin = guard.child.stdin.take().expect("stdin is piped");
        let input = input.to_vec();
        // A thread, so that a large input cannot deadlock against a full stdout pipe. A write
        // error (the process exited without reading it all) shows in the process's status.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        guard
    }

    /// [`spawn`](Self::spawn) with the standard streams (and the session) `setup` chooses: for a
    /// process whose stdout or stderr is a pipe the test fills or a terminal.
    pub fn spawn_with(cmd: &mut Command, what: &str, setup: Setup) -> ChildGuard {
        Self::try_spawn_with(cmd, what, setup).unwrap_or_else(|e| {
            panic!("cannot run {what} ({e}): these tests require it (CI installs it)\n{cmd:?}")
        })
    }

    /// [`spawn_with`](Self::spawn_with), returning the error when the program cannot be
    /// started (for a caller that explains what is missing in its own words).
    pub fn try_spawn_with(
        cmd: &mut Command,
        what: &str,
        setup: Setup,
    ) -> std::io::Result<ChildGuard> {
        cmd.stdin(setup.stdin)
            .stdout(setup.stdout)
            .stderr(setup.stderr);
        if setup.terminal_session {
            // SAFETY: runs in the forked child before exec, after the standard streams are in
            // place; setsid(2) and ioctl(TIOCSCTTY) are async-signal-safe and allocate nothing.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        } else {
            cmd.process_group(0);
        }
        let spawned = cmd.spawn();
        // `cmd` would otherwise keep `setup`'s fds (a pipe's write end, a terminal) open in this
        // process for as long as the caller keeps it, and the reader would never see EOF.
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Ok(ChildGuard {
            child: spawned?,
            what: what.to_owned(),
            status: None,
        })
    }

    /// The process's pid (also its process group id).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The read end of the process's stdout; panics when taken twice.
    pub fn take_stdout(&mut self) -> ChildStdout {
        self.child
            .stdout
            .take()
            .expect("stdout is piped, taken once")
    }

    /// The read end of the process's stdout if it is piped and not taken yet, else `None` (the
    /// process writes its stdout elsewhere: see [`Setup::stdout`]).
    pub fn piped_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// The read end of the process's stderr; panics when taken twice.
    pub fn take_stderr(&mut self) -> ChildStderr {
        self.child
            .stderr
            .take()
            .expect("stderr is piped, taken once")
    }

    /// The exit status if the process has exited (reaping it), else `None`; the same status
    /// again on later calls.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.status {
            return Some(status);
        }
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.status = Some(status);
                    return Some(status);
                }
                Ok(None) => return None,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("waitpid for {}: {e}", self.what),
            }
        }
    }

    /// Wait for the process to exit, at most until `deadline`; `None` if it is still running.
    pub fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        // Bounded polling of the exit status: callers get here once the process has closed its
        // output, that is when it is exiting. The interval synchronises nothing; the deadline
        // only turns a hang into a failure.
        poll_until(deadline, || self.try_status().is_some());
        self.status
    }

    /// Wait (bounded by [`LIMIT`]) for the process to exit, and return its status; panics
    /// when it is still running then (the guard then kills it).
    pub fn wait_exit(&mut self) -> ExitStatus {
        self.wait_until(Instant::now() + LIMIT)
            .unwrap_or_else(|| panic!("{} did not exit within {LIMIT:?}", self.what))
    }

    /// Has the process been reaped (so that its pid may name another process by now)?
    pub fn reaped(&self) -> bool {
        self.status.is_some()
    }

    /// What the process is, as given at spawn.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Send `sig` to the process, by pid; panics if it cannot be sent (the process was reaped).
    pub fn signal(&self, sig: Signal) {
        assert!(self.status.is_none(), "{} was already reaped", self.what);
        let pid = Pid::from_raw(self.id() as i32);
        kill(pid, sig).unwrap_or_else(|e| panic!("kill({pid}, {sig}): {e}"));
    }

    /// Collect stdout and stderr (to EOF) and the exit status, within `limit` (usually
    /// [`LIMIT`]). On overrun the
    /// process group is killed and the test fails, showing what the process had written.
    pub fn output_raw(mut self, limit: Duration) -> std::process::Output {
        let deadline = Instant::now() + limit;
        let (tx, rx) = mpsc::channel();
        let streams = [
            self.child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            self.child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ];
        for (i, stream) in streams.into_iter().enumerate() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut stream) = stream {
                    let _ = stream.read_to_end(&mut buf);
                }
                let _ = tx.send((i, buf));
            });
        }
        drop(tx);
        let mut got = [Vec::new(), Vec::new()];
        let mut open = 2;
        gather(&rx, &mut got, &mut open, deadline);
        let status = if open == 0 {
            self.wait_until(deadline)
        } else {
            None
        };
        let [stdout, stderr] = got;
        if let Some(status) = status {
            return std::process::Output {
                status,
                stdout,
                stderr,
            };
        }
        self.kill();
        let mut got = [stdout, stderr];
        // The pipes close once the group is dead; the bound matters only if something escaped it.
        gather(&rx, &mut got, &mut open, Instant::now() + LIMIT);
        panic!(
            "{} did not finish within {limit:?}; killed it\n--- stdout\n{}\n--- stderr\n{}",
            self.what,
            String::from_utf8_lossy(&got[0]),
            String::from_utf8_lossy(&got[1])
        );
    }

    /// [`output_raw`](Self::output_raw), with the output as (lossily decoded) text.
    pub fn output(self, limit: Duration) -> Output {
        let raw = self.output_raw(limit);
        Output {
            status: raw.status,
            stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&raw.stderr).into_owned(),
        }
    }

    /// Kill the process group and the process with SIGKILL, and reap the process.
    fn kill(&mut self) {
        if self.status.is_some() {
            return;
        }
        // The process is not reaped, so its pid, which is also its process group id, cannot
        // have been reused: this reaches only what we started.
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        // The process itself too, in case it left its group (Child::kill signals the pid only
        // while the process is unreaped).
        let _ = self.child.kill();
        self.status = self.child.wait().ok();
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Store the streams the reader threads deliver into `got` until none is `open` or `until`.
fn gather(
    rx: &Receiver<(usize, Vec<u8>)>,
    got: &mut [Vec<u8>; 2],
    open: &mut usize,
    until: Instant,
) {
    while *open > 0 {
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok((i, buf)) => {
                got[i] = buf;
                *open -= 1;
            }
            Err(_) => return,
        }
    }
}

/// What a finished process left behind, as text.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Panics with both streams when the process failed.
    pub fn success(self, what: &str) -> Self {
        assert!(
            self.status.success(),
            "{what} failed ({}).\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// The exit code; panics (with the output) when the process died of a signal.
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("process killed by a signal: {self:?}"))
    }

    /// stderr's lines.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }
}

/// A command that runs `inner` (its program, arguments and environment changes) under `outer`,
/// as in `strace -f -o FILE -- python3 -I script`: `outer` with `inner`'s program and arguments
/// appended.
pub fn wrap(mut outer: Command, inner: &Command) -> Command {
    outer.arg(inner.get_program()).args(inner.get_args());
    for (key, value) in inner.get_envs() {
        match value {
            Some(v) => outer.env(key, v),
            None => outer.env_remove(key),
        };
    }
    outer
}

/// Run `cmd` (shown as its command line in failures) with `stdin` as its input, and collect its
/// output as text within [`LIMIT`].
pub fn run(mut cmd: Command, stdin: &str) -> Output {
    let shown = format!("{cmd:?}");
    ChildGuard::spawn_with_input(&mut cmd, &shown, stdin.as_bytes()).output(LIMIT)
}

// ---------------------------------------------------------------------------------------------
// The line reader
// ---------------------------------------------------------------------------------------------

/// Every line of one output stream so far, and whether it reached EOF.
#[derive(Default)]
struct Seen {
    lines: Vec<String>,
    /// The bytes as read, newlines and all.
    raw: Vec<u8>,
    eof: bool,
}

/// One output stream of a live process, read line by line by a thread into shared state, so
/// that a test can wait for the line the process prints after an event.
pub struct Lines {
    shared: Arc<(Mutex<Seen>, Condvar)>,
    /// Index of the first line not yet returned by [`Lines::next`].
    cursor: usize,
}

impl Lines {
    /// Start a thread that reads `pipe` to EOF (the thread ends there on its own). Lines are
    /// kept without their newline; a last line without one is marked `<no newline>`.
    pub fn read(pipe: impl Read + Send + 'static) -> Lines {
        let shared = Arc::new((Mutex::new(Seen::default()), Condvar::new()));
        let theirs = Arc::clone(&shared);
        std::thread::spawn(move || {
            let (state, changed) = &*theirs;
            let mut reader = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                // `read_until` retries EINTR itself; an error ends the stream like EOF.
                let n = reader.read_until(b'\n', &mut buf).unwrap_or(0);
                let mut seen = state.lock().unwrap_or_else(PoisonError::into_inner);
                if n == 0 {
                    seen.eof = true;
                    changed.notify_all();
                    return;
                }
                seen.raw.extend_from_slice(&buf);
                let mut line = String::from_utf8_lossy(&buf).into_owned();
                if line.ends_with('\n') {
                    line.pop();
                } else {
                    // A last line without its newline: keep it visibly so.
                    line.push_str("<no newline>");
                }
                seen.lines.push(line);
                changed.notify_all();
            }
        });
        Lines { shared, cursor: 0 }
    }

    /// A stream the test does not read here (the process's stdout went to a pipe the test
    /// holds, a terminal or `/dev/null`): no lines, and at EOF from the start.
    pub fn absent() -> Lines {
        let seen = Seen {
            eof: true,
            ..Seen::default()
        };
        Lines {
            shared: Arc::new((Mutex::new(seen), Condvar::new())),
            cursor: 0,
        }
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        self.shared.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.seen().lines.clone()
    }

    /// Everything read so far, exactly as written (lossily decoded).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen().raw).into_owned()
    }

    /// Has the stream reached EOF (every writer closed it)?
    pub fn eof(&self) -> bool {
        self.seen().eof
    }

    /// Wait until `pred` holds for the lines so far (true), or until EOF (after which nothing
    /// can change) or `deadline` without it (false).
    pub fn wait_lines(&self, deadline: Instant, mut pred: impl FnMut(&[String]) -> bool) -> bool {
        self.wait(deadline, |s| pred(&s.lines))
    }

    /// Wait for EOF; false at `deadline`.
    pub fn wait_eof(&self, deadline: Instant) -> bool {
        self.wait(deadline, |s| s.eof)
    }

    /// The next line not yet returned, waiting until `deadline`; `None` at EOF or `deadline`.
    pub fn next(&mut self, deadline: Instant) -> Option<String> {
        let i = self.cursor;
        if !self.wait(deadline, |s| s.lines.len() > i) {
            return None;
        }
        self.cursor += 1;
        Some(self.seen().lines[i].clone())
    }

    fn wait(&self, deadline: Instant, mut pred: impl FnMut(&Seen) -> bool) -> bool {
        let mut seen = self.seen();
        loop {
            if pred(&seen) {
                return true;
            }
            let now = Instant::now();
            if seen.eof || now >= deadline {
                return false;
            }
            seen = self
                .shared
                .1
                .wait_timeout(seen, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Re-running one test in a child process
// ---------------------------------------------------------------------------------------------

/// The environment variable that tells a re-executed test binary it is a child, and which role
/// to play (for [`in_child`], the test's own name).
pub const CHILD_ENV: &str = "PYSELECT_TEST_CHILD";

/// The role this process was started for, if it is a re-executed child.
pub fn role() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

/// The current test binary, set to run exactly the test `name`, alone, with its output shown,
/// and with [`CHILD_ENV`] set to `role`. (The test must be at the crate's top level; add
/// `--ignored` for an `#[ignore]`d one.)
pub fn test_command(name: &str, role: &str) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, role)
        // `--test-threads=1` decides; a RUST_TEST_THREADS from outside must not.
        .env_remove("RUST_TEST_THREADS");
    cmd
}

/// Panics, with both streams, unless a re-executed child (`what`) exited 0 after running
/// exactly one test that passed (not, say, zero tests because a filter matched nothing).
pub fn assert_one_test_passed(out: &Output, what: &str) {
    let report = format!(
        "{what}: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status, out.stdout, out.stderr
    );
    assert!(out.status.success(), "{report}");
    assert!(
        out.stdout.contains("test result: ok. 1 passed"),
        "{what} did not run exactly one test\n{report}"
    );
}

/// Re-run the test `name` in a child process playing `role`, within [`LIMIT`], and return its
/// output; the caller judges it (usually with [`assert_one_test_passed`]).
pub fn run_test(name: &str, role: &str) -> Output {
    let what = format!("child test {name} ({role})");
    ChildGuard::spawn(&mut test_command(name, role), &what).output(LIMIT)
}

/// Run `body` in a fresh process: the test binary re-executed for exactly the test `name`
/// (which must be the test function's name, at the crate's top level). In that child `body`
/// runs; in the parent this checks the child ran exactly that one test and it passed. For tests
/// that change process-wide state (signal handlers, rlimits, specific fd numbers).
pub fn in_child(name: &str, body: impl FnOnce()) {
    if role().as_deref() == Some(name) {
        body();
        return;
    }
    let out = run_test(name, name);
    assert_one_test_passed(&out, &format!("child test {name}"));
}
