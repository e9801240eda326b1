//! Descriptors: taking ownership of one a syscall just created, `close(2)`, and the two
//! questions CPython asks of a descriptor it is handed (`fstat(2)`, `fcntl(F_GETFL)`).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};

use super::cvt;

/// Take ownership of a descriptor a syscall just created.
pub(super) fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was returned (not -1) by socket(2), accept4(2), open(2) or epoll_create1(2)
    // a moment ago: it is open
    // and nothing else in the process knows its number yet, so this is its only owner.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `close(fd)`, reporting its error (dropping an `OwnedFd` would ignore it, and Python's
/// `close()` raises it).
///
#[doc = man!(close(2))]
pub(crate) fn close(fd: OwnedFd) -> io::Result<()> {
    // SAFETY: `fd` is owned and given up here: into_raw_fd() ends the OwnedFd without closing,
    // so the descriptor is closed exactly once.
    cvt(unsafe { libc::close(fd.into_raw_fd()) }).map(drop)
}

/// `fstat(fd, &st)` for its verdict only: `Ok` for an open descriptor, its error (`EBADF`)
/// otherwise. CPython's `_Py_fstat_noraise` check, as `signal.set_wakeup_fd` makes it.
///
#[doc = man!(fstat(2))]
pub(crate) fn fstat_ok(fd: RawFd) -> io::Result<()> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat(2) writes at most one whole `struct stat` through the pointer, which is
    // live and writable for the call; the struct is never read afterwards.
    cvt(unsafe { libc::fstat(fd, st.as_mut_ptr()) }).map(drop)
}

/// `fcntl(fd, F_GETFL)`: the file status flags (`O_NONBLOCK`, the access mode, ...).
///
#[doc = man!(fcntl(2))]
pub(crate) fn status_flags(fd: RawFd) -> io::Result<libc::c_int> {
    // SAFETY: fcntl(F_GETFL) takes integers only and returns the flags or -1; it changes
    // nothing.
    cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })
}
