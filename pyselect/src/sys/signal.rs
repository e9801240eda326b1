//! Signals: the crate's one handler, the state it reads and writes, and the `sigaction(2)`
//! calls that install and remove it. Their soundness is one argument, made in this file alone.

use std::io;
use std::os::fd::RawFd;
use std::ptr;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;

// The signal number, named here in the leaf beside the handler that records one, so that both
// `error` (which carries it) and `signals` (which re-exports it publicly as
// `pyselect::signals::Signal`) take it from below instead of from each other.
pub use nix::sys::signal::Signal;

/// The last watched signal that arrived and was not yet taken; 0 for none. Set only by
/// [`record`], the one handler this crate installs; `signals` takes and clears it.
pub(crate) static PENDING: AtomicI32 = AtomicI32::new(0);

/// The descriptor [`record`] writes each signal's number to, as one byte; -1 for none. Set
/// only through [`swap_wakeup_fd`] (Python's `signal.set_wakeup_fd`).
static WAKEUP_FD: AtomicI32 = AtomicI32::new(-1);

/// Make `fd` (-1: none) the descriptor the handler writes to, returning the previous one.
/// The caller has checked `fd` (open, non-blocking), as CPython does before it swaps.
pub(crate) fn swap_wakeup_fd(fd: RawFd) -> RawFd {
    WAKEUP_FD.swap(fd, Ordering::SeqCst)
}

/// The signal handler: it records the signal number and, when a wakeup fd is set, writes the
/// number to it as one byte (CPython's `trip_signal`), with `errno` saved before and restored
/// after, so that the code the signal interrupted reads its own `errno`, not the write's.
///
/// Every step is async-signal-safe: atomic loads and stores, the read and write of this
/// thread's `errno`, and one `write(2)` (listed in signal-safety(7)). That is what makes
/// installing it sound: [`install_handler`] installs this function and no other, so keep its
/// body to those steps.
extern "C" fn record(sig: libc::c_int) {
    PENDING.store(sig, Ordering::SeqCst);
    let fd = WAKEUP_FD.load(Ordering::SeqCst);
    if fd != -1 {
        let saved = Errno::last_raw();
        // CPython's `(unsigned char)sig_num`.
        let byte = sig as u8;
        // The result is ignored: a full pipe (EAGAIN) loses the byte, not the signal, which
        // is in PENDING; any other error has no one to be reported to from a handler.
        // SAFETY: `byte` is a live, readable one-byte buffer for the call, and write(2) is
        // async-signal-safe. `fd` is only a number: if the caller closed it while it was set,
        // the kernel answers EBADF (or the byte goes to whatever now has that number, as in
        // CPython); no memory of this process is touched either way.
        let _ = unsafe { libc::write(fd, ptr::from_ref(&byte).cast(), 1) };
        Errno::set_raw(saved);
    }
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
    // SAFETY: the handler installed is `record` (above), whose body is atomic loads and stores,
    // a save and restore of errno and one write(2): all async-signal-safe, and it touches no
    // state a signal could find half-updated.
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
