//! `poll(2)`: the call behind `Poll` (Python's `select.poll`), and the one-fd wait with which
//! CPython's socket methods honour a timeout. glibc's `poll` wrapper issues exactly the
//! syscall CPython's does, so strace prints the same lines.

use std::io;
use std::os::fd::RawFd;

use super::cvt;

/// `poll([{fd, events}], 1, timeout_ms)`: how CPython waits on a socket with a timeout.
/// Returns the `revents`, or 0 when the wait timed out.
///
#[doc = man!(poll(2))]
pub(crate) fn poll_one(fd: RawFd, events: i16, timeout_ms: i32) -> io::Result<i16> {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: `pfd` is one live, writable pollfd and nfds is 1.
    let n = cvt(unsafe { libc::poll(&mut pfd, 1, timeout_ms) })?;
    Ok(if n == 0 { 0 } else { pfd.revents })
}

/// `poll(fds, nfds, timeout_ms)` on the whole slice. Returns how many entries have a non-zero
/// `revents`; the kernel writes `revents` of every entry.
///
#[doc = man!(poll(2))]
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a live, writable slice of `fds.len()` pollfds and exactly that length is
    // passed as nfds, so the kernel reads and writes only inside it (for an empty slice nothing
    // is read through the dangling but non-NULL pointer).
    let n = cvt(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) })?;
    Ok(n as usize)
}
