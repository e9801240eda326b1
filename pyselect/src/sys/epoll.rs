//! epoll(7): the calls behind `Epoll` (Python's `select.epoll`). glibc's `epoll_create1`,
//! `epoll_ctl` and `epoll_wait` wrappers issue exactly the syscalls CPython's do, so strace
//! prints the same lines.

use std::io;
use std::os::fd::{OwnedFd, RawFd};

use super::cvt;
use super::fd::owned;

/// `epoll_create1(flags)`: a new epoll instance, owned.
///
#[doc = man!(epoll_create1(2))]
pub(crate) fn epoll_create1(flags: i32) -> io::Result<OwnedFd> {
    // SAFETY: epoll_create1(2) takes only an integer and returns a new fd or -1.
    cvt(unsafe { libc::epoll_create1(flags) }).map(owned)
}

/// `epoll_ctl(epfd, op, fd, &{events, data.u64 = fd})`. The event pointer is never NULL, not
/// even for `EPOLL_CTL_DEL` (which ignores it), as in CPython; the `data` field holds the fd
/// with its upper 32 bits zero.
///
#[doc = man!(epoll_ctl(2))]
pub(crate) fn epoll_ctl(epfd: RawFd, op: i32, fd: RawFd, events: u32) -> io::Result<()> {
    let mut event = libc::epoll_event {
        events,
        u64: fd as u32 as u64,
    };
    // SAFETY: `event` is a live, writable epoll_event for the duration of the call; the other
    // arguments are integers the kernel checks itself (EBADF, EINVAL, ...).
    cvt(unsafe { libc::epoll_ctl(epfd, op, fd, &mut event) }).map(drop)
}

/// `epoll_wait(epfd, buf, maxevents, timeout_ms)` into `buf`, emptied first, whose capacity
/// bounds `maxevents`. On success `buf` holds the events the kernel wrote, in its order; on
/// failure it is empty.
///
#[doc = man!(epoll_wait(2))]
pub(crate) fn epoll_wait(
    epfd: RawFd,
    buf: &mut Vec<libc::epoll_event>,
    maxevents: i32,
    timeout_ms: i32,
) -> io::Result<usize> {
    // The events are written from index 0: whatever `buf` held goes (epoll_event is `Copy`,
    // so this only resets the length), and `set_len(n)` below then covers only them.
    buf.clear();
    let spare = buf.spare_capacity_mut();
    // Never let the kernel write past the allocation, whatever the caller passed.
    let max = maxevents.min(i32::try_from(spare.len()).unwrap_or(i32::MAX));
    // SAFETY: `spare` is allocated, writable memory for at least `max` epoll_events (the min
    // above), and the kernel writes at most `max` of them (a `max` below 1 is its EINVAL).
    let n = cvt(unsafe { libc::epoll_wait(epfd, spare.as_mut_ptr().cast(), max, timeout_ms) })?
        as usize;
    // SAFETY: `buf` was emptied above, so `spare` began at index 0; on success the kernel
    // initialised the first `n` of its events (n <= max <= capacity), exactly `buf[..n]`.
    unsafe { buf.set_len(n) };
    Ok(n)
}
