//! Every call into libc the two programs make themselves (the library makes its own in
//! `pyselect`'s private `sys`).
//!
//! # Safety
//!
//! This is the only module of the crate that may contain `unsafe` code (the crate root denies
//! `unsafe_code` everywhere else). Each function below is a thin, safe wrapper over exactly one
//! C call: it makes the call and turns `-1` into `io::Error::last_os_error()` through the one
//! [`cvt`] funnel, read right after the call. Nothing here retries on `EINTR`: the callers
//! decide.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};

/// A link to a call's Linux man page, as a doc line: `#[doc = man!(bind(2))]` renders as
/// "Linux man page: [`bind(2)`](https://man7.org/linux/man-pages/man2/bind.2.html)".
macro_rules! man {
    ($name:ident($section:literal)) => {
        concat!(
            "Linux man page: [`",
            stringify!($name),
            "(",
            $section,
            ")`](https://man7.org/linux/man-pages/man",
            $section,
            "/",
            stringify!($name),
            ".",
            $section,
            ".html)."
        )
    };
}

/// The one error funnel: a C return value of -1 becomes the `errno` of this thread.
fn cvt<T: PartialEq + From<i8>>(ret: T) -> io::Result<T> {
    if ret == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Take ownership of a descriptor a syscall just created.
fn owned(fd: RawFd) -> OwnedFd {
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

/// `write(fd, buf, len)`, once.
///
#[doc = man!(write(2))]
pub(crate) fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a live buffer of `buf.len()` readable bytes.
    let n = cvt(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })?;
    Ok(n as usize)
}

/// `sendto(fd, buf, len, flags, NULL, 0)`, once: `send` with per-call flags, so a socket
/// given as stdout is written without blocking while its description stays as it is.
///
#[doc = man!(sendto(2))]
pub(crate) fn sendto(fd: RawFd, buf: &[u8], flags: i32) -> io::Result<usize> {
    // SAFETY: `buf` is a live buffer of `buf.len()` readable bytes; a NULL address with length
    // 0 is sendto(2)'s "connected socket" form.
    let n = cvt(unsafe {
        libc::sendto(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            flags,
            std::ptr::null(),
            0,
        )
    })?;
    Ok(n as usize)
}

// ---------------------------------------------------------------------------------------------
// Output streams that must not block (used by `crate::output`)
// ---------------------------------------------------------------------------------------------

/// `fstat(fd)`'s file type bits (`st_mode & S_IFMT`): `S_IFIFO`, `S_IFSOCK`, `S_IFCHR`, ...
///
#[doc = man!(fstat(2))]
pub(crate) fn file_type(fd: RawFd) -> io::Result<libc::mode_t> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat(2) writes one whole `struct stat` through the pointer, which is live and
    // writable for the call; it is read only after the call succeeded.
    cvt(unsafe { libc::fstat(fd, st.as_mut_ptr()) })?;
    // SAFETY: fstat returned 0, so it filled the struct.
    let st = unsafe { st.assume_init() };
    Ok(st.st_mode & libc::S_IFMT)
}

/// `open("/proc/self/fd/N", O_WRONLY | O_NONBLOCK | O_CLOEXEC)`: for a pipe, a new open file
/// description of the same pipe, whose flags are this process's alone.
///
#[doc = man!(open(2))]
pub(crate) fn reopen_write_nonblocking(fd: RawFd) -> io::Result<OwnedFd> {
    let path = std::ffi::CString::new(format!("/proc/self/fd/{fd}"))
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let flags = libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC;
    // SAFETY: `path` is a live NUL-terminated string; open(2) returns a new fd or -1.
    cvt(unsafe { libc::open(path.as_ptr(), flags) }).map(owned)
}

/// `dup2(from, to)`: stdout or stderr then names `from`'s open file description (without
/// `FD_CLOEXEC`).
///
#[doc = man!(dup2(2))]
pub(crate) fn dup2(from: &OwnedFd, to: crate::output::Stream) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // `to` can only be fd 1 or fd 2 (`Stream` has no other value): the process's own stdout and
    // stderr, which no `OwnedFd` or `File` in the program owns (std's handles write by number).
    // `detach`, the one caller, passes a description of the same pipe, so writes still reach it.
    // SAFETY: dup2(2) takes two integers; `from` is open (it is owned), and `to` is stdout or
    // stderr, owned by no object in the program, so no owner sees its fd silently swapped.
    cvt(unsafe { libc::dup2(from.as_raw_fd(), to.fd()) }).map(drop)
}

// ---------------------------------------------------------------------------------------------
// RLIMIT_NOFILE (crate::limits)
// ---------------------------------------------------------------------------------------------

/// `getrlimit(RLIMIT_NOFILE, &rlim)`: (soft, hard).
///
#[doc = man!(getrlimit(2))]
pub(crate) fn getrlimit_nofile() -> io::Result<(libc::rlim_t, libc::rlim_t)> {
    let mut rlim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `rlim` is a valid, writable struct rlimit that lives across the call.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rlim) })?;
    Ok((rlim.rlim_cur, rlim.rlim_max))
}

/// `setrlimit(RLIMIT_NOFILE, {soft, hard})`.
///
#[doc = man!(setrlimit(2))]
pub(crate) fn setrlimit_nofile(soft: libc::rlim_t, hard: libc::rlim_t) -> io::Result<()> {
    let rlim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `rlim` is a valid struct rlimit that lives across the call; setrlimit only
    // reads it.
    cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rlim) }).map(drop)
}
