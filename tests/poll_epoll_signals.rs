//! `Poll::poll` and `Epoll::poll` and signals, as PEP 475 and CPython behave:
//! - a signal whose handler returns (a no-op SIGALRM handler without `SA_RESTART`) interrupts
//!   the syscall with EINTR and the call is retried: with a timeout it lasts the whole timeout
//!   and returns an empty list, each retry asking for the time left rounded up to whole
//!   milliseconds (strace shows the shrinking timeouts); without one it keeps waiting and
//!   returns the fd that becomes ready;
//! - a signal the program watches through `pyselect::signals::notify` gives
//!   `Error::Interrupted(sig)` instead, and the object stays usable.
//!
//! Every test runs in its own child process (signal handlers are process-wide). The signal is
//! sent with `pthread_kill` to the very thread blocked in the wait, and only once the kernel
//! shows that thread blocked in the syscall (`/proc/self/task/<tid>/syscall`).

mod pyref;
mod twins;

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use pyselect::{signals, Epoll, Error, Poll, EPOLLIN, POLLIN};

use twins::GENEROUS;

/// Stands in for the `util` helpers (which cannot share a test crate with `pyref`).
mod util {
    use std::os::fd::{AsFd, OwnedFd};

    pub use super::in_child;

    pub fn pipe() -> (OwnedFd, OwnedFd) {
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe2")
    }

    pub fn write_fd(fd: impl AsFd, data: &[u8]) {
        assert_eq!(nix::unistd::write(fd, data).expect("write"), data.len());
    }

    pub fn gettid() -> libc::pid_t {
        nix::unistd::gettid().as_raw()
    }

    /// The syscall thread `tid` of this process is blocked in, if any
    /// (`/proc/self/task/<tid>/syscall`).
    pub fn blocked_syscall(tid: libc::pid_t) -> Option<i64> {
        let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")).ok()?;
        text.split_whitespace()
            .next()?
            .parse::<i64>()
            .ok()
            .filter(|&n| n >= 0)
    }
}

use util::{pipe, write_fd};

/// Env var naming the one test a re-executed binary runs for real (see [`in_child`]).
const IN_CHILD_ENV: &str = "PYSELECT_TWINS_IN_CHILD";

/// Run `body` in a fresh process: this test binary re-executed for exactly the test `name`.
pub fn in_child(name: &str, body: impl FnOnce()) {
    if std::env::var(IN_CHILD_ENV).as_deref() == Ok(name) {
        body();
        return;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = std::process::Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(IN_CHILD_ENV, name)
        .env_remove("RUST_TEST_THREADS");
    let out = pyref::run(cmd, "");
    let report = format!(
        "child test {name}: {}\n{}\n{}",
        out.status, out.stdout, out.stderr
    );
    assert!(out.status.success(), "{report}");
    assert!(out.stdout.contains("test result: ok. 1 passed"), "{report}");
}

/// The syscalls glibc issues for `poll()` and `epoll_wait()`.
#[cfg(target_arch = "x86_64")]
const NR_POLL: i64 = libc::SYS_poll;
#[cfg(target_arch = "x86_64")]
const NR_EPOLL_WAIT: i64 = libc::SYS_epoll_wait;
#[cfg(not(target_arch = "x86_64"))]
const NR_POLL: i64 = libc::SYS_ppoll;
#[cfg(not(target_arch = "x86_64"))]
const NR_EPOLL_WAIT: i64 = libc::SYS_epoll_pwait;

static ALARMS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_alarm(_: libc::c_int) {
    ALARMS.fetch_add(1, Ordering::SeqCst);
}

/// A SIGALRM handler that only counts, installed without `SA_RESTART` (as CPython installs
/// Python-level handlers).
fn install_noop_alarm_handler() {
    let action = SigAction::new(
        SigHandler::Handler(count_alarm),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only increments an atomic, which is async-signal-safe.
    unsafe { signal::sigaction(Signal::SIGALRM, &action) }.expect("sigaction(SIGALRM)");
}

/// The thread that will block, as a helper thread addresses it.
#[derive(Clone, Copy)]
struct Target {
    tid: libc::pid_t,
    thread: libc::pthread_t,
}

impl Target {
    fn current() -> Target {
        Target {
            tid: util::gettid(),
            // SAFETY: pthread_self has no preconditions.
            thread: unsafe { libc::pthread_self() },
        }
    }

    fn kill(self, sig: Signal) {
        // SAFETY: the target thread is alive: it is the test thread, which joins the helper
        // before it returns.
        let rc = unsafe { libc::pthread_kill(self.thread, sig as libc::c_int) };
        assert_eq!(
            rc,
            0,
            "pthread_kill: {}",
            std::io::Error::from_raw_os_error(rc)
        );
    }
}

/// From a helper thread: send `sig` to `target` up to `count` times, each once the previous
/// one was handled and the target is blocked in syscall `nr` again, at least `gap` apart.
/// Stops when `done` is set. Returns how many were sent. Bounded by [`GENEROUS`].
fn send_while_blocked(
    target: Target,
    nr: i64,
    count: usize,
    gap: Duration,
    handled: impl Fn() -> usize,
    done: &AtomicBool,
) -> usize {
    let deadline = Instant::now() + GENEROUS;
    let mut sent = 0;
    let mut last = Instant::now();
    while sent < count && Instant::now() < deadline && !done.load(Ordering::SeqCst) {
        if handled() == sent
            && last.elapsed() >= gap
            && util::blocked_syscall(target.tid) == Some(nr)
        {
            target.kill(Signal::SIGALRM);
            sent += 1;
            last = Instant::now();
        } else {
            std::thread::yield_now();
        }
    }
    sent
}

/// Wait (bounded) until `cond()` holds.
fn wait_for(cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + GENEROUS;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::yield_now();
    }
    false
}

/// The two waits under test, on the read end of a pipe, with a timeout in seconds.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Poll,
    Epoll,
}

impl Kind {
    fn nr(self) -> i64 {
        match self {
            Kind::Poll => NR_POLL,
            Kind::Epoll => NR_EPOLL_WAIT,
        }
    }
}

/// A poll or epoll object watching `r` for input.
enum Waiter {
    Poll(Poll),
    Epoll(Epoll),
}

impl Waiter {
    fn new(kind: Kind, r: &OwnedFd) -> Waiter {
        match kind {
            Kind::Poll => {
                let mut p = Poll::new();
                p.register(r.as_raw_fd(), Some(POLLIN)).unwrap();
                Waiter::Poll(p)
            }
            Kind::Epoll => {
                let ep = Epoll::new().unwrap();
                ep.register(r.as_raw_fd(), Some(EPOLLIN)).unwrap();
                Waiter::Epoll(ep)
            }
        }
    }

    /// Wait up to `seconds` (None: for ever); the ready fds.
    fn wait(&mut self, seconds: Option<f64>) -> pyselect::Result<Vec<i32>> {
        match self {
            Waiter::Poll(p) => p
                .poll(seconds.map(|s| s * 1000.0))
                .map(|v| v.into_iter().map(|(fd, _)| fd).collect()),
            Waiter::Epoll(ep) => ep
                .poll(seconds, None)
                .map(|v| v.into_iter().map(|(fd, _)| fd).collect()),
        }
    }
}

/// A wait of `timeout` seconds under a stream of signals `gap` apart; (result, elapsed, sent).
fn wait_under_signals(
    kind: Kind,
    timeout: f64,
    gap: Duration,
    count: usize,
) -> (pyselect::Result<Vec<i32>>, Duration, usize) {
    ALARMS.store(0, Ordering::SeqCst);
    let (r, _w) = pipe();
    let mut waiter = Waiter::new(kind, &r);
    let target = Target::current();
    let done = Arc::new(AtomicBool::new(false));
    let helper = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let handled = || ALARMS.load(Ordering::SeqCst);
            send_while_blocked(target, kind.nr(), count, gap, handled, &done)
        })
    };
    let start = Instant::now();
    let res = waiter.wait(Some(timeout));
    let elapsed = start.elapsed();
    done.store(true, Ordering::SeqCst);
    let sent = helper.join().unwrap();
    assert!(wait_for(|| ALARMS.load(Ordering::SeqCst) == sent));
    (res, elapsed, sent)
}

#[test]
fn eintr_with_a_timeout_waits_until_the_deadline() {
    util::in_child("eintr_with_a_timeout_waits_until_the_deadline", || {
        install_noop_alarm_handler();
        for kind in [Kind::Poll, Kind::Epoll] {
            let timeout = 0.5;
            let (res, elapsed, sent) =
                wait_under_signals(kind, timeout, Duration::ZERO, usize::MAX);
            let ready = res.unwrap_or_else(|e| panic!("{kind:?}: EINTR leaked: {e:?}"));
            assert!(ready.is_empty(), "{kind:?}: {ready:?}");
            assert!(sent >= 1, "{kind:?}: no signal reached the blocked wait");
            assert!(
                elapsed >= Duration::from_secs_f64(timeout),
                "{kind:?}: returned after {elapsed:?}, before the {timeout} s timeout"
            );
        }
    });
}

#[test]
fn eintr_without_a_timeout_retries_until_the_fd_is_ready() {
    util::in_child(
        "eintr_without_a_timeout_retries_until_the_fd_is_ready",
        || {
            install_noop_alarm_handler();
            for kind in [Kind::Poll, Kind::Epoll] {
                ALARMS.store(0, Ordering::SeqCst);
                let (r, w) = pipe();
                let mut waiter = Waiter::new(kind, &r);
                let target = Target::current();
                let done = Arc::new(AtomicBool::new(false));
                let helper = {
                    let done = Arc::clone(&done);
                    std::thread::spawn(move || {
                        let handled = || ALARMS.load(Ordering::SeqCst);
                        let sent = send_while_blocked(
                            target,
                            kind.nr(),
                            3,
                            Duration::ZERO,
                            handled,
                            &done,
                        );
                        // The data comes only once the wait has resumed after the last signal.
                        let back = wait_for(|| {
                            ALARMS.load(Ordering::SeqCst) == sent
                                && util::blocked_syscall(target.tid) == Some(kind.nr())
                        });
                        write_fd(&w, b"x");
                        (sent, back, w)
                    })
                };
                let res = waiter.wait(None);
                done.store(true, Ordering::SeqCst);
                let (sent, back, _w) = helper.join().unwrap();
                let ready = res.unwrap_or_else(|e| panic!("{kind:?}: EINTR leaked: {e:?}"));
                assert_eq!(sent, 3, "{kind:?}: the wait ended before all signals came");
                assert!(back, "{kind:?}: the wait did not resume");
                assert_eq!(ready, vec![r.as_raw_fd()], "{kind:?}");
            }
        },
    );
}

#[test]
fn a_watched_signal_is_error_interrupted() {
    util::in_child("a_watched_signal_is_error_interrupted", || {
        let _guard = signals::notify(&[Signal::SIGALRM]).expect("notify");
        for kind in [Kind::Poll, Kind::Epoll] {
            let (r, w) = pipe();
            let mut waiter = Waiter::new(kind, &r);
            let target = Target::current();
            let done = Arc::new(AtomicBool::new(false));
            let helper = {
                let done = Arc::clone(&done);
                std::thread::spawn(move || {
                    send_while_blocked(target, kind.nr(), 1, Duration::ZERO, || 0, &done)
                })
            };
            let res = waiter.wait(None);
            done.store(true, Ordering::SeqCst);
            assert_eq!(helper.join().unwrap(), 1);
            match res {
                Err(ref e @ Error::Interrupted(Signal::SIGALRM)) => {
                    assert_eq!(e.python_name(), "InterruptedError");
                    assert_eq!(e.errno(), None);
                }
                other => panic!("{kind:?}: expected Interrupted(SIGALRM), got {other:?}"),
            }
            // The object is still usable: the next wait sees the data.
            write_fd(&w, b"x");
            assert_eq!(
                waiter.wait(Some(0.0)).unwrap(),
                vec![r.as_raw_fd()],
                "{kind:?}"
            );
        }
    });
}

/// Env var telling the re-executed binary to run [`traced_child`]'s body, with the kind.
const TRACED_ENV: &str = "PYSELECT_TWINS_EINTR_CHILD";

/// Not a test: the body of the traced child of `strace_shows_shrinking_timeouts`.
#[test]
#[ignore = "entry point of the traced child process"]
fn traced_child() {
    let Ok(kind) = std::env::var(TRACED_ENV) else {
        return;
    };
    let kind = if kind == "poll" {
        Kind::Poll
    } else {
        Kind::Epoll
    };
    install_noop_alarm_handler();
    let _ = nix::unistd::close(-1);
    // Four signals, 150 ms apart, inside a 1 s wait: the last comes well before the deadline,
    // so the call after it is the one that times out.
    let (res, elapsed, sent) = wait_under_signals(kind, 1.0, Duration::from_millis(150), 4);
    let _ = nix::unistd::close(-1);
    assert!(res.unwrap().is_empty());
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    println!("sent={sent}");
}

/// The timeouts of the `name` calls between the markers of a strace log, after checking the
/// shape PEP 475 gives: every call but the last interrupted, the last timed out, each retry
/// asking for less than the one before.
fn retry_timeouts(log: &str, name: &str, who: &str) -> Vec<i64> {
    let lines: Vec<String> = twins::between_marks(&twins::joined(log))
        .iter()
        .map(|l| twins::normalise(l).0)
        .collect();
    let calls: Vec<&String> = lines.iter().filter(|l| l.starts_with(name)).collect();
    let timeouts: Vec<i64> = calls
        .iter()
        .map(|l| {
            let (args, _) = l.rsplit_once(") = ").expect("finished call");
            args.rsplit(", ").next().unwrap().parse().expect("timeout")
        })
        .collect();
    let (last, interrupted) = calls
        .split_last()
        .unwrap_or_else(|| panic!("{who}: {lines:#?}"));
    assert!(
        last.ends_with(") = 0 (Timeout)") || last.ends_with(") = 0"),
        "{who}: {last}"
    );
    assert!(
        interrupted
            .iter()
            .all(|l| l.contains("EINTR") || l.contains("ERESTART")),
        "{who}: {interrupted:#?}"
    );
    assert_eq!(timeouts[0], 1000, "{who}: {lines:#?}");
    assert!(
        timeouts.windows(2).all(|w| w[1] < w[0] && w[1] >= 0),
        "{who}: the retries do not shrink: {timeouts:?}"
    );
    timeouts
}

#[test]
fn strace_shows_shrinking_timeouts_as_for_cpython() {
    for (kind, name) in [("poll", "poll("), ("epoll", "epoll_wait(")] {
        let filter = "trace=poll,epoll_wait,close";
        let mut cmd = twins_reexec("traced_child", kind);
        cmd.args(["--ignored"]);
        let (out, log) = twins::traced(cmd, &[], "", &format!("eintr-{kind}"), filter);
        // libtest prints the test's name on the same line, before the child's output.
        let sent: usize = out
            .split_once("sent=")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{kind}: child printed {out}"))
            .parse()
            .unwrap();
        let ours = retry_timeouts(&log, name, &format!("pyselect {kind}"));
        assert_eq!(sent, 4, "{kind}: only {sent} signals landed");
        // One call per signal plus the last, which timed out.
        assert_eq!(
            ours.len(),
            sent + 1,
            "{kind}: {sent} signals, timeouts {ours:?}"
        );

        // CPython, with an interval timer, shows the same shape.
        let py = pyref::python_cmd(&pyref::fixture("poll_epoll_eintr.py"), &[kind]);
        let (out, log) = twins::traced(py, &[], "", &format!("eintr-py-{kind}"), filter);
        assert!(
            out.starts_with("[] handled="),
            "{kind}: CPython printed {out}"
        );
        let theirs = retry_timeouts(&log, name, &format!("CPython {kind}"));
        assert!(
            theirs.len() >= 2,
            "{kind}: CPython was never interrupted: {theirs:?}"
        );
    }
}

/// This test binary re-executed for the ignored test `name`, with [`TRACED_ENV`] = `kind`.
fn twins_reexec(name: &str, kind: &str) -> std::process::Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = std::process::Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(TRACED_ENV, kind)
        .env("RUST_BACKTRACE", "0")
        .env_remove("RUST_TEST_THREADS");
    cmd
}
