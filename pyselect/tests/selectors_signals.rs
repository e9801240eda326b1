//! Signals and the selectors: a signal the program watches (`pyselect::signals`) ends a blocked
//! `select()` of each selector with `Error::Interrupted`, and leaves the selector usable; a
//! signal whose handler returns makes the wait go on to its whole timeout (PEP 475), as
//! CPython's selectors do. Each test runs in a child process of its own (handlers are
//! process-wide), and the signal is sent only once the kernel shows the thread blocked in the
//! selector's syscall.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use pyselect::selectors::{
    EpollSelector, PollSelector, SelectSelector, Selector, EVENT_READ, EVENT_WRITE,
};
use pyselect::{signals, Error};

use testkit::alarm::{install_noop_alarm_handler, Signaller, ALARMS};
use testkit::child::in_child;
use testkit::fd::{pipe, write_fd};
use testkit::proc::{SYS_EPOLL_WAIT, SYS_POLL, SYS_PSELECT6};

/// Block `sel` (watching an empty pipe's read end) in `select(timeout)` while a helper sends
/// `sig` `count` times; the outcome (number ready) and how long the call took.
fn hit<S: Selector<RawFd, i64>>(
    sel: &mut S,
    nr: i64,
    sig: Signal,
    count: usize,
    handled: fn() -> usize,
    timeout: Option<f64>,
) -> (pyselect::Result<usize>, Duration) {
    let helper = Signaller::start(nr, sig, count, Duration::ZERO, handled);
    let start = Instant::now();
    let res = sel.select(timeout).map(|r| r.len());
    let took = start.elapsed();
    assert_eq!(helper.stop(), count, "not every signal was sent");
    (res, took)
}

fn no_alarms_counted() -> usize {
    0
}

fn alarms() -> usize {
    ALARMS.load(Ordering::SeqCst)
}

/// A watched SIGTERM interrupts each selector; the selector keeps its keys and works after.
fn watched_signal_interrupts<S: Selector<RawFd, i64>>(mut sel: S, nr: i64) {
    let _guard = signals::notify(&[Signal::SIGTERM]).unwrap();
    let (r, w) = pipe();
    sel.register(r.as_raw_fd(), EVENT_READ, 7).unwrap();
    let (res, _) = hit(&mut sel, nr, Signal::SIGTERM, 1, no_alarms_counted, None);
    assert!(
        matches!(res, Err(Error::Interrupted(Signal::SIGTERM))),
        "expected Interrupted(SIGTERM), got {res:?}"
    );
    assert_eq!(sel.get_key(r.as_raw_fd()).unwrap().data, 7);
    write_fd(&w, b"x");
    let ready = sel.select(Some(5.0)).unwrap();
    assert_eq!(ready.len(), 1);
    assert_eq!((ready[0].0.data, ready[0].1), (7, EVENT_READ));
    // Writable too, for a second key: the selector is whole.
    sel.register(w.as_raw_fd(), EVENT_WRITE, 8).unwrap();
    assert_eq!(sel.select(Some(0.0)).unwrap().len(), 2);
}

#[test]
fn a_watched_signal_interrupts_each_selector() {
    in_child("a_watched_signal_interrupts_each_selector", || {
        watched_signal_interrupts(SelectSelector::new().unwrap(), SYS_PSELECT6);
        watched_signal_interrupts(PollSelector::new().unwrap(), SYS_POLL);
        watched_signal_interrupts(EpollSelector::new().unwrap(), SYS_EPOLL_WAIT);
    });
}

/// Two SIGALRMs whose handler returns: the wait still lasts its whole timeout, and times out.
fn returning_handler_waits_out_the_timeout<S: Selector<RawFd, i64>>(mut sel: S, nr: i64) {
    let (r, _w) = pipe();
    sel.register(r.as_raw_fd(), EVENT_READ, 1).unwrap();
    let (res, took) = hit(
        &mut sel,
        nr,
        Signal::SIGALRM,
        2,
        alarms_since_base,
        Some(0.3),
    );
    assert_eq!(res.unwrap(), 0, "a timeout gives an empty list");
    assert!(
        took >= Duration::from_millis(300),
        "returned after {took:?}, before its timeout"
    );
}

/// The alarm count when the current check began.
static BASE: AtomicUsize = AtomicUsize::new(0);

/// Alarms handled since the current check began.
fn alarms_since_base() -> usize {
    alarms() - BASE.load(Ordering::SeqCst)
}

#[test]
fn a_returning_handler_does_not_shorten_the_wait() {
    in_child("a_returning_handler_does_not_shorten_the_wait", || {
        install_noop_alarm_handler();
        BASE.store(alarms(), Ordering::SeqCst);
        returning_handler_waits_out_the_timeout(SelectSelector::new().unwrap(), SYS_PSELECT6);
        BASE.store(alarms(), Ordering::SeqCst);
        returning_handler_waits_out_the_timeout(PollSelector::new().unwrap(), SYS_POLL);
        BASE.store(alarms(), Ordering::SeqCst);
        returning_handler_waits_out_the_timeout(EpollSelector::new().unwrap(), SYS_EPOLL_WAIT);
        assert_eq!(alarms(), 6, "every SIGALRM was handled");
    });
}
