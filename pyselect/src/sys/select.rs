//! `fd_set` and `select(2)`: the calls behind `FdSet` and `select()` (Python's
//! `select.select`).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::ptr;

use super::cvt;

/// Is `fd` a valid index into an `fd_set`? (`0 <= fd < FD_SETSIZE`.)
#[inline]
pub(crate) fn fd_in_set_range(fd: RawFd) -> bool {
    fd >= 0 && (fd as usize) < libc::FD_SETSIZE
}

/// An empty `fd_set`, as `FD_ZERO` makes it.
///
#[doc = man!(select(2))]
#[inline]
pub(crate) fn fd_zero() -> libc::fd_set {
    // SAFETY: an fd_set is an array of integers, for which all-zero bytes are a valid value,
    // and all-zero is exactly the empty set FD_ZERO makes.
    unsafe { MaybeUninit::<libc::fd_set>::zeroed().assume_init() }
}

/// `FD_SET(fd, set)`; `None` (nothing written) when `fd` is outside `0..FD_SETSIZE`.
///
#[doc = man!(select(2))]
#[inline]
pub(crate) fn fd_set(set: &mut libc::fd_set, fd: RawFd) -> Option<()> {
    if !fd_in_set_range(fd) {
        return None;
    }
    // SAFETY: 0 <= fd < FD_SETSIZE was checked above, so the bit FD_SET writes lies inside `set`.
    unsafe { libc::FD_SET(fd, set) };
    Some(())
}

/// `FD_CLR(fd, set)`; `None` (nothing written) when `fd` is outside `0..FD_SETSIZE`.
///
#[doc = man!(select(2))]
#[inline]
pub(crate) fn fd_clr(set: &mut libc::fd_set, fd: RawFd) -> Option<()> {
    if !fd_in_set_range(fd) {
        return None;
    }
    // SAFETY: 0 <= fd < FD_SETSIZE was checked above, so the bit FD_CLR clears lies inside `set`.
    unsafe { libc::FD_CLR(fd, set) };
    Some(())
}

/// `FD_ISSET(fd, set)`; false for any fd outside `0..FD_SETSIZE` (such an fd is never a member).
///
#[doc = man!(select(2))]
#[inline]
pub(crate) fn fd_isset(set: &libc::fd_set, fd: RawFd) -> bool {
    if !fd_in_set_range(fd) {
        return false;
    }
    // SAFETY: 0 <= fd < FD_SETSIZE was checked above, so FD_ISSET reads a bit inside `set`.
    unsafe { libc::FD_ISSET(fd, set) }
}

fn opt_ptr(set: Option<&mut libc::fd_set>) -> *mut libc::fd_set {
    set.map_or(ptr::null_mut(), ptr::from_mut)
}

/// `nfds` as the C int the syscall takes, if the kernel will read only inside the sets.
fn checked_nfds(nfds: usize) -> io::Result<libc::c_int> {
    if nfds > libc::FD_SETSIZE {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(nfds as libc::c_int)
}

/// `select(2)` through glibc, which issues it as `pselect6`.
///
/// `nfds` above `FD_SETSIZE` is refused with `EINVAL` (the kernel would read past the sets);
/// callers build it from the members of the sets, so it never is.
///
#[doc = man!(select(2))]
pub(crate) fn select(
    nfds: usize,
    rset: Option<&mut libc::fd_set>,
    wset: Option<&mut libc::fd_set>,
    xset: Option<&mut libc::fd_set>,
    timeout: Option<&mut libc::timeval>,
) -> io::Result<usize> {
    let nfds = checked_nfds(nfds)?;
    let tv = timeout.map_or(ptr::null_mut(), ptr::from_mut);
    // SAFETY: each pointer is NULL or points to a live, exclusively borrowed `fd_set` (or
    // `timeval`) for the duration of the call; nfds <= FD_SETSIZE so the kernel reads and
    // writes only bits inside each set.
    let n = cvt(unsafe { libc::select(nfds, opt_ptr(rset), opt_ptr(wset), opt_ptr(xset), tv) })?;
    Ok(n as usize)
}

/// The kernel's own `select` syscall (x86-64 Linux only), so that strace shows `select(`.
///
#[doc = man!(select(2))]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub(crate) fn select_raw(
    nfds: usize,
    rset: Option<&mut libc::fd_set>,
    wset: Option<&mut libc::fd_set>,
    xset: Option<&mut libc::fd_set>,
    timeout: Option<&mut libc::timeval>,
) -> io::Result<usize> {
    let nfds = checked_nfds(nfds)? as libc::c_long;
    let tv = timeout.map_or(ptr::null_mut(), ptr::from_mut);
    // SAFETY: as for `select` above: NULL or live exclusive pointers, nfds <= FD_SETSIZE. The
    // x86-64 `select` syscall takes (int, fd_set*, fd_set*, fd_set*, struct timeval*) with the
    // same layouts as glibc's, which the `libc` crate mirrors.
    let n = cvt(unsafe {
        libc::syscall(
            libc::SYS_select,
            nfds,
            opt_ptr(rset),
            opt_ptr(wset),
            opt_ptr(xset),
            tv,
        )
    })?;
    Ok(n as usize)
}
