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

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use pyselect::{signals, Epoll, Error, Poll, EPOLLIN, POLLIN};

use testkit::alarm::{install_noop_alarm_handler, Signaller, ALARMS};
use testkit::child::{in_child, role, test_command};
use testkit::fd::{pipe, write_fd};
use testkit::proc::{SYS_EPOLL_WAIT, SYS_POLL};
use testkit::strace::{last_arg, normalise_poll_line, Trace};
use testkit::{fixture, python, twins, wait_until, LIMIT};

/// The two waits under test, on the read end of a pipe, with a timeout in seconds.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Poll,
    Epoll,
}

impl Kind {
    fn nr(self) -> i64 {
        match self {
            Kind::Poll => SYS_POLL,
            Kind::Epoll => SYS_EPOLL_WAIT,
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
    let helper = Signaller::start(kind.nr(), Signal::SIGALRM, count, gap, || {
        ALARMS.load(Ordering::SeqCst)
    });
    let start = Instant::now();
    let res = waiter.wait(Some(timeout));
    let elapsed = start.elapsed();
    let sent = helper.stop();
    assert!(wait_until(LIMIT, || ALARMS.load(Ordering::SeqCst) == sent));
    (res, elapsed, sent)
}

#[test]
fn eintr_with_a_timeout_waits_until_the_deadline() {
    in_child("eintr_with_a_timeout_waits_until_the_deadline", || {
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
    in_child(
        "eintr_without_a_timeout_retries_until_the_fd_is_ready",
        || {
            install_noop_alarm_handler();
            for kind in [Kind::Poll, Kind::Epoll] {
                ALARMS.store(0, Ordering::SeqCst);
                let (r, w) = pipe();
                let mut waiter = Waiter::new(kind, &r);
                // The data comes only once the wait has resumed after the last signal.
                let helper = Signaller::start_then(
                    kind.nr(),
                    Signal::SIGALRM,
                    3,
                    || ALARMS.load(Ordering::SeqCst),
                    move |_| {
                        write_fd(&w, b"x");
                        w
                    },
                );
                let res = waiter.wait(None);
                let (sent, back, _w) = helper.stop();
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
    in_child("a_watched_signal_is_error_interrupted", || {
        let _guard = signals::notify(&[Signal::SIGALRM]).expect("notify");
        for kind in [Kind::Poll, Kind::Epoll] {
            let (r, w) = pipe();
            let mut waiter = Waiter::new(kind, &r);
            let helper = Signaller::start(kind.nr(), Signal::SIGALRM, 1, Duration::ZERO, || 0);
            let res = waiter.wait(None);
            assert_eq!(helper.stop(), 1);
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

/// The child role of `traced_child`, followed by the kind (`eintr-poll`, `eintr-epoll`).
const TRACED_ROLE: &str = "eintr-";

/// Not a test: the body of the traced child of `strace_shows_shrinking_timeouts`.
#[test]
#[ignore = "entry point of the traced child process"]
fn traced_child() {
    let Some(kind) = role().and_then(|r| r.strip_prefix(TRACED_ROLE).map(str::to_owned)) else {
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
fn retry_timeouts(log: &Trace, name: &str, who: &str) -> Vec<i64> {
    let lines: Vec<String> = log
        .between_marks()
        .iter()
        .map(|l| normalise_poll_line(l).0)
        .collect();
    let calls: Vec<&String> = lines.iter().filter(|l| l.starts_with(name)).collect();
    let timeouts: Vec<i64> = calls
        .iter()
        .map(|l| last_arg(l).parse().expect("timeout"))
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
        let mut cmd = test_command("traced_child", &format!("{TRACED_ROLE}{kind}"));
        cmd.arg("--ignored").env("RUST_BACKTRACE", "0");
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
        let py = python::script_command(&fixture("poll_epoll_eintr.py"), &[kind]);
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
