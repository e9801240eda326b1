//! Signals: the crate's one handler, the state it writes, and the `sigaction(2)` calls that
//! install and remove it. Their soundness is one argument, made in this file alone.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

// The signal number, named here in the leaf beside the handler that records one, so that both
// `error` (which carries it) and `signals` (which re-exports it publicly as
// `pyselect::signals::Signal`) take it from below instead of from each other.
pub use nix::sys::signal::Signal;

/// The last watched signal that arrived and was not yet taken; 0 for none. Set only by
/// [`record`], the one handler this crate installs; `signals` takes and clears it.
pub(crate) static PENDING: AtomicI32 = AtomicI32::new(0);

/// The signal handler: it records the signal number and returns. A store to an atomic is
/// async-signal-safe, which is what makes installing it sound: [`install_handler`] installs
/// this function and no other, so keep its body to that one store.
extern "C" fn record(sig: libc::c_int) {
    PENDING.store(sig, Ordering::SeqCst);
}

/// `sigaction(sig, {record, flags: 0, mask: empty}, &old)` (`rt_sigaction` in strace): install
/// the crate's one handler, [`record`], for `sig` without `SA_RESTART` (so blocking calls see
/// `EINTR`), returning the previous disposition.
///
/// The handler is fixed here rather than passed in, so that the soundness argument below
/// depends on one named function, not on every caller's choice.
///
#[doc = man!(sigaction(2))]
pub(crate) fn install_handler(sig: Signal) -> io::Result<nix::sys::signal::SigAction> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet};
    let action = SigAction::new(
        SigHandler::Handler(record),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler installed is `record` (above), whose whole body is one store to an
    // `AtomicI32`: async-signal-safe, and it touches no state a signal could find half-updated.
    unsafe { nix::sys::signal::sigaction(sig, &action) }.map_err(io::Error::from)
}

/// Put back a disposition returned by [`install_handler`] (`sigaction(sig, old, NULL)`).
///
#[doc = man!(sigaction(2))]
pub(crate) fn restore_handler(sig: Signal, old: &nix::sys::signal::SigAction) -> io::Result<()> {
    // SAFETY: `old` is a disposition sigaction returned for this signal, one the process
    // already had; reinstalling it adds no new handler code.
    unsafe { nix::sys::signal::sigaction(sig, old) }
        .map(drop)
        .map_err(io::Error::from)
}
