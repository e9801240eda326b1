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
//! The handler records the signal number in an atomic (and, once [`set_wakeup_fd`] named one,
//! writes it as one byte to a non-blocking fd, as CPython's does). `select()`, `Poll::poll` and
//! `Epoll::poll` look at it before their first syscall and after every `EINTR`; the line writers
//! of `pyselect_cli::output` look at it too, so a blocked `print` cannot outlive a Ctrl-C. Handlers are installed without `SA_RESTART`, so a
//! blocking socket call also returns `EINTR`, which the socket layer turns into the same error.
//! A signal that lands in the few instructions between the check and the syscall is seen at
//! the next `EINTR` or the next call (CPython has the same window).

use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::sync::RwLock;

use nix::sys::signal::SigAction;

use crate::error::{Error, Result};
use crate::sys;

/// A signal number, as [`notify`] takes it and [`Error::Interrupted`] carries it: `nix`'s own
/// type, re-exported.
///
/// A re-export rather than a newtype of our own: `Signal` is already a plain, complete enum of
/// the platform's signals (`SIGINT`, `SIGTERM`, ...) whose `Display` prints the C name, and
/// anyone who also uses `nix` (to send a signal with `kill`, say) can pass the same value on
/// without converting. The cost is that `nix`'s major version is part of this crate's public
/// API; naming it here, as `pyselect::signals::Signal`, means callers need not depend on `nix`
/// themselves.
// It is named in `sys`, the leaf, beside the handler that records one: `error` needs it too,
// and takes it from there, so that `error` and `signals` do not import each other.
pub use crate::sys::Signal;

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
///
/// # References
///
/// - Linux man pages: [`sigaction(2)`](https://man7.org/linux/man-pages/man2/sigaction.2.html), [`signal(7)`](https://man7.org/linux/man-pages/man7/signal.7.html)
/// - POSIX: [`sigaction`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/sigaction.html)
/// - Python: [`signal.signal`](https://docs.python.org/3.11/library/signal.html#signal.signal)
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

/// Python's `signal.set_wakeup_fd(fd)`: from now on the handler that [`notify`] installs also
/// writes the number of each signal it catches to `fd`, as one byte. Returns the fd set before,
/// `-1` for none; `-1` stops the writes.
///
/// An event loop that waits on the read end of a pipe (among its other fds) then wakes up
/// when a watched signal arrives, whatever call it is blocked in, and reads which one came.
///
/// `fd` is checked as CPython checks it: it must be open (`fstat`: otherwise the
/// [`Error::Os`] of that call, `[Errno 9] Bad file descriptor`) and in non-blocking mode
/// (`fcntl(F_GETFL)`: otherwise `ValueError: the fd N must be in non-blocking mode`), so that
/// the handler never blocks. On an error the fd set before stays set. The caller keeps `fd`
/// open while it is set; the handler saves and restores `errno` around its write, as
/// CPython's does.
///
/// Two differences from CPython. There is no main-thread rule (CPython's is about its
/// interpreter; here any thread may call it). And a write that fails is never reported:
/// CPython prints a warning for a full buffer (`warn_on_full_buffer=True`) or another error;
/// here the byte is lost and the signal is not, since [`take_pending`] still sees it.
///
/// ```
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
///
/// let (_r, w) = UnixStream::pair()?;
/// w.set_nonblocking(true)?;
/// let previous = pyselect::signals::set_wakeup_fd(w.as_raw_fd())?;
/// assert_eq!(previous, -1);
/// assert_eq!(pyselect::signals::set_wakeup_fd(-1)?, w.as_raw_fd());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn set_wakeup_fd(fd: RawFd) -> Result<RawFd> {
    if fd != -1 {
        sys::fstat_ok(fd).map_err(Error::Os)?;
        let flags = sys::status_flags(fd).map_err(Error::Os)?;
        if flags & libc::O_NONBLOCK == 0 {
            return Err(Error::wakeup_fd_blocking(fd));
        }
    }
    Ok(sys::swap_wakeup_fd(fd))
}

/// Take the pending watched signal, if one arrived since the last call.
///
/// # References
///
/// - Linux man page: [`signal(7)`](https://man7.org/linux/man-pages/man7/signal.7.html)
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

/// The host's check, run after every `EINTR` of a wait (see [`set_eintr_check`]).
pub type EintrCheck = fn() -> Result<()>;

/// The check [`set_eintr_check`] installed; `None` for none.
static EINTR_CHECK: RwLock<Option<EintrCheck>> = RwLock::new(None);

/// Install (or with `None`, remove) the host's check, process-wide, and return the previous
/// one: after every `EINTR` of a wait that retries (PEP 475: [`crate::select()`],
/// [`crate::Poll::poll`], [`crate::Epoll::poll`], the selectors, the socket methods), once a
/// watched signal ([`notify`]) has been looked for, the loop calls `check`. `Ok(())` retries
/// with the time left; an error ends the call with that error.
///
/// This is CPython's `PyErr_CheckSignals()` in its retry loops: a host that runs signal
/// handlers of its own (an interpreter, say) runs them here, and a handler that raises ends
/// the wait with its exception (wrap it in [`Error::Check`]). The check runs only after
/// `EINTR` (and between the sends of `Socket::sendall`, as CPython's), so the syscalls are
/// the same with or without it.
///
/// ```
/// use pyselect::signals;
/// use pyselect::Error;
///
/// fn check() -> pyselect::Result<()> {
///     // run the host's handlers; one raised:
///     Err(Error::Check("raised by a handler".into()))
/// }
/// let previous = signals::set_eintr_check(Some(check));
/// assert!(previous.is_none());
/// signals::set_eintr_check(previous);
/// ```
///
/// # References
///
/// - Linux man page: [`signal(7)`](https://man7.org/linux/man-pages/man7/signal.7.html)
/// - Python: [`PyErr_CheckSignals`](https://docs.python.org/3.11/c-api/exceptions.html#c.PyErr_CheckSignals),
///   [PEP 475](https://peps.python.org/pep-0475/)
pub fn set_eintr_check(check: Option<EintrCheck>) -> Option<EintrCheck> {
    let mut slot = EINTR_CHECK
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    std::mem::replace(&mut *slot, check)
}

/// CPython's `PyErr_CheckSignals()`, what every PEP 475 loop does after `EINTR` (and
/// `Socket::sendall` between sends): a watched signal is [`Error::Interrupted`]; otherwise the
/// host's check decides (none installed: go on).
pub(crate) fn check_signals() -> Result<()> {
    if let Some(sig) = take_pending() {
        return Err(Error::Interrupted(sig));
    }
    // Copied out, so that the lock is not held while the check runs (it may wait again).
    let check = *EINTR_CHECK
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match check {
        Some(check) => check(),
        None => Ok(()),
    }
}

/// A watched signal already pending is [`Error::Interrupted`] before a wait's first syscall.
pub(crate) fn refuse_pending() -> Result<()> {
    match take_pending() {
        Some(sig) => Err(Error::Interrupted(sig)),
        None => Ok(()),
    }
}
