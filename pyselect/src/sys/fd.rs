//! Descriptors: taking ownership of one a syscall just created, and `close(2)`.

use std::io;
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
