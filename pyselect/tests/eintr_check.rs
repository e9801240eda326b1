//! The host's check after `EINTR` (`pyselect::signals::set_eintr_check`), CPython's
//! `PyErr_CheckSignals()` in its PEP 475 loops: a signal whose handler returns interrupts the
//! wait, the check runs; `Ok` retries, an error ends the wait with that very error. This is what
//! lets a Python binding run the interpreter's handlers and raise what they raise
//! (test_selectors `test_select_interrupt_exc`) instead of waiting out the whole timeout.
//!
//! Each test runs in its own child process (handlers and the check are process-wide); each
//! signal is sent only once the kernel shows the thread blocked in the wait's syscall.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::sys::signal::Signal;
use pyselect::selectors::{PollSelector, Selector, EVENT_READ};
use pyselect::{signals, Epoll, Error, Poll, Socket, EPOLLIN, POLLIN};

use testkit::alarm::{install_noop_alarm_handler, Signaller, ALARMS};
use testkit::child::in_child;
use testkit::fd::pipe;
use testkit::proc::{SYS_EPOLL_WAIT, SYS_POLL, SYS_PSELECT6};

/// How many times the check ran.
static CHECKS: AtomicUsize = AtomicUsize::new(0);

/// The host's check: the first run finds nothing wrong (the wait goes on), the second "raises".
fn raise_on_second() -> pyselect::Result<()> {
    match CHECKS.fetch_add(1, Ordering::SeqCst) {
        0 => Ok(()),
        _ => Err(Error::Check("raised by a handler".into())),
    }
}

/// One wait: its name, the syscall its thread blocks in, and the call.
type Wait<'a> = (
    &'static str,
    i64,
    Box<dyn FnMut() -> pyselect::Result<()> + 'a>,
);

/// A wait for ever on `r` through each retrying call, with the syscall its thread blocks in.
fn waits(r: &OwnedFd) -> Vec<Wait<'_>> {
    let fd = r.as_raw_fd();
    vec![
        (
            "select",
            SYS_PSELECT6,
            Box::new(move || pyselect::select([fd], [], [], None).map(drop)),
        ),
        (
            "Poll",
            SYS_POLL,
            Box::new(move || {
                let mut p = Poll::new();
                p.register(fd, Some(POLLIN))?;
                p.poll(None).map(drop)
            }),
        ),
        (
            "Epoll",
            SYS_EPOLL_WAIT,
            Box::new(move || {
                let ep = Epoll::new()?;
                ep.register(fd, Some(EPOLLIN))?;
                ep.poll(Some(3600.0), None).map(drop)
            }),
        ),
        (
            "PollSelector",
            SYS_POLL,
            Box::new(move || {
                let mut sel: PollSelector<i32, ()> = PollSelector::new()?;
                sel.register(fd, EVENT_READ, ())?;
                sel.select(Some(3600.0)).map(drop)
            }),
        ),
    ]
}

#[test]
fn a_failing_check_ends_the_wait_with_its_error_a_passing_one_retries() {
    in_child(
        "a_failing_check_ends_the_wait_with_its_error_a_passing_one_retries",
        || {
            install_noop_alarm_handler();
            assert!(signals::set_eintr_check(Some(raise_on_second)).is_none());
            let (r, _w) = pipe();
            for (name, nr, mut wait) in waits(&r) {
                CHECKS.store(0, Ordering::SeqCst);
                ALARMS.store(0, Ordering::SeqCst);
                let helper = Signaller::start(nr, Signal::SIGALRM, 2, Duration::ZERO, || {
                    ALARMS.load(Ordering::SeqCst)
                });
                let res = wait();
                let sent = helper.stop();
                match res {
                    Err(Error::Check(e)) => assert_eq!(e.to_string(), "raised by a handler"),
                    other => panic!("{name}: expected the check's error, got {other:?}"),
                }
                // The first EINTR retried (the check passed), the second ended the wait.
                assert_eq!((sent, CHECKS.load(Ordering::SeqCst)), (2, 2), "{name}");
            }
            // Removed, a failing check no longer runs.
            assert!(signals::set_eintr_check(None).is_some());
        },
    );
}

#[test]
fn a_socket_call_runs_the_check_too() {
    in_child("a_socket_call_runs_the_check_too", || {
        install_noop_alarm_handler();
        signals::set_eintr_check(Some(raise_on_second));
        let listener = Socket::tcp_v4().unwrap();
        listener.bind(("127.0.0.1", 0)).unwrap();
        listener.listen(None).unwrap();
        // accept4 blocks: nobody connects.
        let helper = Signaller::start(
            libc::SYS_accept4,
            Signal::SIGALRM,
            2,
            Duration::ZERO,
            || ALARMS.load(Ordering::SeqCst),
        );
        let res = listener.accept();
        assert_eq!(helper.stop(), 2);
        assert!(matches!(res, Err(Error::Check(_))), "{res:?}");
        assert_eq!(CHECKS.load(Ordering::SeqCst), 2);
    });
}
