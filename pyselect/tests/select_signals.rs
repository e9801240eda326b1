//! `select()` and signals, as PEP 475 and CPython's KeyboardInterrupt behave:
//! - a signal whose handler returns (a no-op SIGALRM handler installed without `SA_RESTART`)
//!   interrupts the syscall with EINTR, and `select()` retries: with a timeout the call lasts
//!   the whole timeout, ends at its deadline even under a stream of signals, and returns three
//!   empty lists; without one it keeps waiting and returns the fd that becomes ready;
//! - a signal the program asked to hear about through `pyselect::signals::notify` makes
//!   `select()` return `Error::Interrupted(sig)` instead.
//!
//! Every test runs in its own child process (the test binary re-executed for that one test):
//! signal handlers are process-wide. The signal is sent with `pthread_kill` to the very thread
//! blocked in `select()`, and only once the kernel shows that thread blocked in the syscall
//! (`/proc/self/task/<tid>/syscall`), so each signal really lands inside the wait.

use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use pyselect::{select, select_with, signals, Error, Syscall};

use testkit::alarm::{install_noop_alarm_handler, Signaller, ALARMS};
use testkit::fd::{pipe, write_fd};
use testkit::proc::SYS_PSELECT6;
use testkit::{wait_until, LIMIT, LIMIT_SECS};

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
const BOTH: &[(Syscall, i64)] = &[
    (Syscall::Libc, SYS_PSELECT6),
    (Syscall::Select, testkit::proc::SYS_SELECT),
];
#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
const BOTH: &[(Syscall, i64)] = &[(Syscall::Libc, SYS_PSELECT6)];

#[test]
fn eintr_with_a_timeout_waits_until_the_deadline() {
    testkit::child::in_child("eintr_with_a_timeout_waits_until_the_deadline", || {
        install_noop_alarm_handler();
        for &(sys, nr) in BOTH {
            ALARMS.store(0, Ordering::SeqCst);
            let (r, _w) = pipe();
            // A stream of signals for as long as select() waits: it must still end at its
            // deadline (a retry with the full timeout would never end).
            let helper = Signaller::start(nr, Signal::SIGALRM, usize::MAX, Duration::ZERO, || {
                ALARMS.load(Ordering::SeqCst)
            });
            let timeout = 0.6;
            let start = Instant::now();
            let res = select_with(sys, [&r], [], [&r], Some(timeout));
            let elapsed = start.elapsed();
            let sent = helper.stop();

            let (rr, ww, xx) = res.unwrap_or_else(|e| panic!("{sys:?}: EINTR leaked: {e:?}"));
            assert!(rr.is_empty() && ww.is_empty() && xx.is_empty());
            assert!(sent >= 1, "{sys:?}: no signal reached the blocked select()");
            assert!(
                wait_until(LIMIT, || ALARMS.load(Ordering::SeqCst) == sent),
                "{sys:?}: sent {sent} signals, handled {}",
                ALARMS.load(Ordering::SeqCst)
            );
            assert!(
                elapsed >= Duration::from_secs_f64(timeout),
                "{sys:?}: returned after {elapsed:?}, before the {timeout} s timeout"
            );
        }
    });
}

#[test]
fn eintr_without_a_timeout_retries_until_the_fd_is_ready() {
    testkit::child::in_child(
        "eintr_without_a_timeout_retries_until_the_fd_is_ready",
        || {
            install_noop_alarm_handler();
            for &(sys, nr) in BOTH {
                ALARMS.store(0, Ordering::SeqCst);
                let (r, w) = pipe();
                // Only after the last signal was handled and select() is waiting again does
                // the data arrive: the retries are what returns it.
                let helper = Signaller::start_then(
                    nr,
                    Signal::SIGALRM,
                    3,
                    || ALARMS.load(Ordering::SeqCst),
                    move |_| {
                        write_fd(&w, b"x");
                        w
                    },
                );
                let res = select_with(sys, [&r], [], [], None);
                let (sent, back, _w) = helper.stop();

                let (rr, ww, xx) = res.unwrap_or_else(|e| panic!("{sys:?}: EINTR leaked: {e:?}"));
                assert_eq!(
                    sent, 3,
                    "{sys:?}: select() left its wait before all signals came"
                );
                assert!(back, "{sys:?}: select() did not go back to waiting");
                assert_eq!(ALARMS.load(Ordering::SeqCst), 3);
                assert_eq!(rr.len(), 1);
                assert!(std::ptr::eq(rr[0], &r));
                assert!(ww.is_empty() && xx.is_empty());
            }
        },
    );
}

/// Run `select([r], [], [], timeout)` in this thread while a helper sends `sig` once the thread
/// is blocked in it.
fn select_hit_by(sig: Signal, timeout: Option<f64>) -> pyselect::Result<usize> {
    let (r, _w): (OwnedFd, OwnedFd) = pipe();
    let helper = Signaller::start(SYS_PSELECT6, sig, 1, Duration::ZERO, || 0);
    let res = select([&r], [], [], timeout);
    assert_eq!(helper.stop(), 1, "the signal was never sent");
    res.map(|(rr, _, _)| rr.len())
}

/// The handler installed for `sig` right now.
fn current_handler(sig: Signal) -> libc::sighandler_t {
    // SAFETY: a NULL new action only reads the current disposition into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        assert_eq!(
            libc::sigaction(sig as libc::c_int, std::ptr::null(), &mut old),
            0
        );
        old.sa_sigaction
    }
}

#[test]
fn sigint_under_notify_interrupts_select() {
    testkit::child::in_child("sigint_under_notify_interrupts_select", || {
        // Usually SIG_DFL; SIG_IGN when the tests run as a background job of a shell.
        let inherited = current_handler(Signal::SIGINT);
        let guard = signals::notify(&[Signal::SIGINT]).unwrap();
        let installed = current_handler(Signal::SIGINT);
        assert_ne!(installed, libc::SIG_DFL);
        assert_ne!(installed, libc::SIG_IGN);

        for timeout in [None, Some(LIMIT_SECS)] {
            let err = select_hit_by(Signal::SIGINT, timeout).unwrap_err();
            assert!(
                matches!(err, Error::Interrupted(Signal::SIGINT)),
                "timeout {timeout:?}: {err:?}"
            );
            // Python's KeyboardInterrupt, whose str() is empty.
            assert_eq!(err.python_name(), "KeyboardInterrupt");
            assert_eq!(err.to_string(), "");
            // ... and no errno, as KeyboardInterrupt has none.
            assert_eq!(err.errno(), None);
            // The signal was taken: the next call waits normally.
            assert_eq!(signals::pending(), None);
        }
        let (r, _w) = pipe();
        let (rr, _, _) = select([&r], [], [], Some(0.0)).unwrap();
        assert!(rr.is_empty());

        drop(guard);
        assert_eq!(
            current_handler(Signal::SIGINT),
            inherited,
            "disposition not restored"
        );
    });
}

#[test]
fn sigterm_under_notify_interrupts_select() {
    testkit::child::in_child("sigterm_under_notify_interrupts_select", || {
        let _guard = signals::notify(&[Signal::SIGINT, Signal::SIGTERM]).unwrap();
        let err = select_hit_by(Signal::SIGTERM, None).unwrap_err();
        assert!(
            matches!(err, Error::Interrupted(Signal::SIGTERM)),
            "{err:?}"
        );
    });
}

#[test]
fn an_unwatched_signal_is_retried_while_a_watched_one_interrupts() {
    testkit::child::in_child(
        "an_unwatched_signal_is_retried_while_a_watched_one_interrupts",
        || {
            install_noop_alarm_handler();
            let _guard = signals::notify(&[Signal::SIGINT]).unwrap();
            ALARMS.store(0, Ordering::SeqCst);
            let (r, _w) = pipe();
            // Two unwatched signals, then a watched one once select() is back in its wait.
            let helper = Signaller::start_then(
                SYS_PSELECT6,
                Signal::SIGALRM,
                2,
                || ALARMS.load(Ordering::SeqCst),
                |target| target.kill(Signal::SIGINT),
            );
            let res = select([&r], [], [], None);
            let (sent, back, ()) = helper.stop();
            assert_eq!(
                sent, 2,
                "select() left its wait on an unwatched signal: {res:?}"
            );
            assert!(back);
            assert!(
                matches!(res, Err(Error::Interrupted(Signal::SIGINT))),
                "{res:?}"
            );
        },
    );
}

#[test]
fn a_watched_signal_that_came_before_select_interrupts_it_at_once() {
    testkit::child::in_child(
        "a_watched_signal_that_came_before_select_interrupts_it_at_once",
        || {
            let _guard = signals::notify(&[Signal::SIGINT]).unwrap();
            // raise() delivers to this thread before it returns: the handler has run.
            signal::raise(Signal::SIGINT).unwrap();
            assert_eq!(signals::pending(), Some(Signal::SIGINT));
            let (r, _w) = pipe();
            // No timeout: if the pending signal were missed this would wait for ever (and the
            // parent's limit would fail the test).
            let res = select([&r], [], [], None);
            assert!(
                matches!(res, Err(Error::Interrupted(Signal::SIGINT))),
                "{res:?}"
            );
            assert_eq!(signals::pending(), None);
            let (rr, _, _) = select([&r], [], [], Some(0.0)).unwrap();
            assert!(rr.is_empty());
        },
    );
}
