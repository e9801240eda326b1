//! Signals and the selectors: a signal the program watches (`pyselect::signals`) ends a blocked
//! `select()` of each selector with `Error::Interrupted`, and leaves the selector usable; a
//! signal whose handler returns makes the wait go on to its whole timeout (PEP 475), as
//! CPython's selectors do. Each test runs in a child process of its own (handlers are
//! process-wide), and the signal is sent only once the kernel shows the thread blocked in the
//! selector's syscall.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod util;

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use pyselect::selectors::{
    EpollSelector, PollSelector, SelectSelector, Selector, EVENT_READ, EVENT_WRITE,
};
use pyselect::{signals, Error};

use util::{pipe, write_fd, GENEROUS};

/// x86-64 syscall numbers, as `/proc/self/task/<tid>/syscall` shows them.
const SYS_PSELECT6: i64 = libc::SYS_pselect6;
const SYS_POLL: i64 = libc::SYS_poll;
const SYS_EPOLL_WAIT: i64 = libc::SYS_epoll_wait;

static ALARMS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_alarm(_: libc::c_int) {
    ALARMS.fetch_add(1, Ordering::SeqCst);
}

/// A SIGALRM handler that only counts, without `SA_RESTART` (as CPython installs its own).
fn install_noop_alarm_handler() {
    let action = SigAction::new(
        SigHandler::Handler(count_alarm),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only increments an atomic, which is async-signal-safe.
    unsafe { signal::sigaction(Signal::SIGALRM, &action) }.expect("sigaction(SIGALRM)");
}

/// From a helper thread: send `sig` to the calling thread `count` times, each once the
/// previous one was handled (`handled()` caught up) and the thread is blocked in syscall `nr`
/// again; stops when `done` is set. Returns the helper; it yields how many were sent.
fn signal_when_blocked(
    nr: i64,
    sig: Signal,
    count: usize,
    handled: fn() -> usize,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    let tid = util::gettid();
    // SAFETY: pthread_self has no preconditions.
    let thread = unsafe { libc::pthread_self() };
    std::thread::spawn(move || {
        let deadline = Instant::now() + GENEROUS;
        let mut sent = 0;
        while sent < count && Instant::now() < deadline && !done.load(Ordering::SeqCst) {
            if handled() == sent && util::blocked_syscall(tid) == Some(nr) {
                // SAFETY: the target thread outlives this helper: it joins it before returning.
                let rc = unsafe { libc::pthread_kill(thread, sig as libc::c_int) };
                assert_eq!(rc, 0, "pthread_kill");
                sent += 1;
            } else {
                std::thread::yield_now();
            }
        }
        sent
    })
}

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
    let done = Arc::new(AtomicBool::new(false));
    let helper = signal_when_blocked(nr, sig, count, handled, Arc::clone(&done));
    let start = Instant::now();
    let res = sel.select(timeout).map(|r| r.len());
    let took = start.elapsed();
    done.store(true, Ordering::SeqCst);
    assert_eq!(helper.join().unwrap(), count, "not every signal was sent");
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
    util::in_child("a_watched_signal_interrupts_each_selector", || {
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
    util::in_child("a_returning_handler_does_not_shorten_the_wait", || {
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
