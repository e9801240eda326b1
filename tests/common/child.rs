//! A spawned helper process (python3, strace, a re-executed test binary, a binary under test)
//! owned by a guard. The process leads a process group of its own; unless it has been reaped,
//! dropping the guard kills that whole group (the process and anything it started, e.g. strace's
//! tracee) with SIGKILL and reaps the process, so a failing test never leaves one behind. Every
//! wait on it has a deadline, which only turns a hang into a failure.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// How long, after killing an overrunning process, to wait for the output it had written (its
/// pipes close once its group is dead); only so that the failure can show it.
const GRACE: Duration = Duration::from_secs(5);

/// A spawned process, leader of its own process group, killed (group and process, by id) and
/// reaped on drop unless it was reaped already.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    /// What the process is, for failure messages.
    what: String,
    reaped: bool,
}

impl ChildGuard {
    /// Spawn `cmd` (called `what` in failure messages) in a new process group, with stdin
    /// closed (`/dev/null`) and stdout and stderr piped. Panics when it cannot be started.
    pub fn spawn(cmd: &mut Command, what: &str) -> ChildGuard {
        Self::start(cmd.stdin(Stdio::null()), what)
    }

    /// [`spawn`](Self::spawn), with `input` written to the process's stdin by a thread, which
    /// then closes it.
    pub fn spawn_with_input(cmd: &mut Command, what: &str, input: &[u8]) -> ChildGuard {
        let mut guard = Self::start(cmd.stdin(Stdio::piped()), what);
        let mut stdin = guard.child.stdin.take().expect("stdin is piped");
        let input = input.to_vec();
        // A thread, so that a large input cannot deadlock against a full stdout pipe. A write
        // error (the process exited without reading it all) shows in the process's status.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        guard
    }

    fn start(cmd: &mut Command, what: &str) -> ChildGuard {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot run {what} ({e}): these tests require it (CI installs it)\n{cmd:?}")
        });
        ChildGuard {
            child,
            what: what.to_owned(),
            reaped: false,
        }
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

    /// The read end of the process's stderr; panics when taken twice.
    pub fn take_stderr(&mut self) -> ChildStderr {
        self.child
            .stderr
            .take()
            .expect("stderr is piped, taken once")
    }

    /// Wait for the process to exit, at most until `deadline`; `None` if it is still running.
    pub fn wait_until(&mut self, deadline: Instant) -> Option<ExitStatus> {
        // Bounded polling of the exit status: callers get here once the process has closed its
        // output, that is when it is exiting. The interval synchronises nothing; the deadline
        // only turns a hang into a failure.
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.reaped = true;
                    return Some(status);
                }
                Ok(None) if Instant::now() >= deadline => return None,
                Ok(None) => std::thread::sleep(Duration::from_millis(2)),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("waitpid for {}: {e}", self.what),
            }
        }
    }

    /// Collect stdout and stderr (to EOF) and the exit status, within `limit`. On overrun the
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
        gather(&rx, &mut got, &mut open, Instant::now() + GRACE);
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
        if self.reaped {
            return;
        }
        // The process is not reaped, so its pid, which is also its process group id, cannot
        // have been reused: this reaches only what we started.
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        // The process itself too, in case it left its group (Child::kill signals the pid only
        // while the process is unreaped).
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
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
