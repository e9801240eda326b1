//! The signals guard, alone in its own test binary (so in its own process): handlers and the
//! pending signal are process-wide.

use std::sync::Mutex;
use std::time::Duration;

use pyselect::signals::{self, Signal};
use pyselect::{select, Error};

/// The tests share the process-wide pending signal: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn a_signal_left_untaken_is_forgotten_when_the_guard_drops() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let guard = signals::notify(&[Signal::SIGUSR1]).expect("install");
    nix::sys::signal::raise(Signal::SIGUSR1).expect("raise");
    // The handler ran synchronously in raise(): the signal is pending, not yet taken.
    assert_eq!(signals::pending(), Some(Signal::SIGUSR1));
    drop(guard);
    assert_eq!(signals::pending(), None);
    // And a later select() with nobody listening is not interrupted by it.
    let started = std::time::Instant::now();
    let r = select::<i32, _, _, _>([], [], [], Some(0.01));
    assert!(r.is_ok(), "{r:?}");
    assert!(started.elapsed() >= Duration::from_millis(10));
}

#[test]
fn a_pending_watched_signal_interrupts_before_the_syscall() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _guard = signals::notify(&[Signal::SIGUSR2]).expect("install");
    nix::sys::signal::raise(Signal::SIGUSR2).expect("raise");
    // No fd will become ready; the 30 s timeout only bounds the test if the check is missing.
    let (r, _w) = std::os::unix::net::UnixStream::pair().unwrap();
    let e = select([&r], [], [], Some(30.0)).unwrap_err();
    assert!(matches!(e, Error::Interrupted(Signal::SIGUSR2)), "{e:?}");
    assert_eq!(signals::pending(), None);
}
