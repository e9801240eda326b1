//! Ask to be told about SIGINT/SIGTERM, so that a blocked [`crate::select()`],
//! [`crate::Poll::poll`], [`crate::Epoll::poll`] or a selector's `select` returns
//! [`crate::Error::Interrupted`] instead of retrying.
//!
//! CPython's default SIGINT handler raises `KeyboardInterrupt` out of a blocked
//! `select.select`; any other signal whose handler returns normally makes `select` retry
//! (PEP 475). This module gives a Rust program the first behaviour for the signals it names:
//!
//! ```no_run
//! use pyselect::signals::{self, Signal};
//! use pyselect::{select, Error};
//!
//! let _guard = signals::notify(&[Signal::SIGINT, Signal::SIGTERM])?;
//! match select::<i32, _, _, _>([0], [], [], None) {
//!     Err(Error::Interrupted(sig)) => eprintln!("stopping on {sig}"),
//!     other => println!("{other:?}"),
//! }
//! # Ok::<(), pyselect::Error>(())
//! ```
//!
//! The handler only records the signal number in an atomic. `select()`, `Poll::poll` and
//! `Epoll::poll` look at it before their first syscall and after every `EINTR`; the line writers
//! of `pyselect_cli::output` look at it too, so a blocked `print` cannot outlive a Ctrl-C. Handlers are installed without `SA_RESTART`, so a
//! blocking socket call also returns `EINTR`, which the socket layer turns into the same error.
//! A signal that lands in the few instructions between the check and the syscall is seen at
//! the next `EINTR` or the next call (CPython has the same window).

use std::sync::atomic::Ordering;

use nix::sys::signal::SigAction;
/// A signal number, as [`notify`] takes it and [`Error::Interrupted`] carries it: `nix`'s own
/// type, re-exported.
///
/// A re-export rather than a newtype of our own: `Signal` is already a plain, complete enum of
/// the platform's signals (`SIGINT`, `SIGTERM`, ...) whose `Display` prints the C name, and
/// anyone who also uses `nix` (to send a signal with `kill`, say) can pass the same value on
/// without converting. The cost is that `nix`'s major version is part of this crate's public
/// API; naming it here, as `pyselect::signals::Signal`, means callers need not depend on `nix`
/// themselves.
pub use nix::sys::signal::Signal;

use crate::error::{Error, Result};
use crate::sys;

// The pending signal lives in `sys`, beside the one handler that records it and the
// `sigaction` call that installs that handler: their soundness is one argument, in one file.
use sys::PENDING;

/// Installed handlers; dropping it puts the previous dispositions back.
#[derive(Debug)]
#[must_use = "the handlers are removed when the guard is dropped"]
pub struct Guard {
    previous: Vec<(Signal, SigAction)>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for (sig, old) in self.previous.drain(..).rev() {
            let _ = sys::restore_handler(sig, &old);
        }
        // A signal that arrived but was never taken must not interrupt later, unrelated calls
        // once nobody is listening for it any more.
        PENDING.store(0, Ordering::SeqCst);
    }
}

/// Install handlers (`rt_sigaction`, without `SA_RESTART`) for `signals`, so that
/// [`crate::select()`], [`crate::Poll::poll`], [`crate::Epoll::poll`] and the socket methods
/// return [`Error::Interrupted`] when one of them interrupts a wait.
///
/// `SIGKILL` and `SIGSTOP` cannot be caught: asking for them is an [`Error::Os`] (`EINVAL`).
#[doc(alias = "sigaction")]
pub fn notify(signals: &[Signal]) -> Result<Guard> {
    let mut guard = Guard {
        previous: Vec::with_capacity(signals.len()),
    };
    for &sig in signals {
        // On error the guard drops here and restores what was installed so far.
        let old = sys::install_handler(sig).map_err(Error::Os)?;
        guard.previous.push((sig, old));
    }
    Ok(guard)
}

/// Take the pending watched signal, if one arrived since the last call.
pub fn take_pending() -> Option<Signal> {
    // Every select() and socket call asks; almost always nothing is pending, and a plain load
    // answers that without the locked exchange.
    if PENDING.load(Ordering::Relaxed) == 0 {
        return None;
    }
    match PENDING.swap(0, Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

/// Look at the pending watched signal without taking it.
// Public only so that tests/ can check that a signal was recorded, or that a `Guard`'s drop
// forgot it, without consuming it; a program wants `take_pending`.
#[doc(hidden)]
pub fn pending() -> Option<Signal> {
    match PENDING.load(Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}
