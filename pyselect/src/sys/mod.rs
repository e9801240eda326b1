//! Every call into libc lives here, one file per man-page family.
//!
//! # Safety
//!
//! This is the only module of the crate that may contain `unsafe` code (the crate root denies
//! `unsafe_code` everywhere else). Each function below is a thin, safe wrapper over exactly one
//! C call or macro: it checks whatever the C side cannot (fd ranges, buffer lengths), makes the
//! call, and turns `-1` into `io::Error::last_os_error()` through the one [`cvt`] funnel, read
//! right after the call. Nothing here retries on `EINTR`: the callers decide, as CPython does.
//!
//! It is the crate's leaf: its files use nothing from the modules above it, only `std`, `libc`,
//! `nix` and each other. The one signal handler, the state it writes and the `sigaction` call
//! that installs it are all in `signal.rs`, so their soundness is argued in that file alone.
//!
//! - `select.rs`: `fd_set` and `select(2)`.
//! - `poll.rs`: `poll(2)`.
//! - `epoll.rs`: `epoll_create1(2)`, `epoll_ctl(2)`, `epoll_wait(2)`.
//! - `socket.rs`: the socket calls, `socket(2)` to `shutdown(2)`, over the address conversions
//!   of `sockaddr.rs`.
//! - `fd.rs`: taking ownership of a new descriptor, `close(2)`, `fstat(2)`, `fcntl(F_GETFL)`.
//! - `signal.rs`: the signal handler, what it records and the wakeup fd it writes to, and
//!   `sigaction(2)`.
//! - `errno.rs`: `strerror(3)`.

use std::io;

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

mod epoll;
mod errno;
mod fd;
mod poll;
mod select;
mod signal;
mod sockaddr;
mod socket;

pub(crate) use epoll::{epoll_create1, epoll_ctl, epoll_wait};
pub(crate) use errno::strerror;
pub(crate) use fd::{close, fstat_ok, status_flags};
pub(crate) use poll::{poll, poll_one};
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub(crate) use select::select_raw;
pub(crate) use select::{fd_clr, fd_in_set_range, fd_isset, fd_set, fd_zero, select};
pub use signal::Signal;
pub(crate) use signal::{install_handler, restore_handler, swap_wakeup_fd, PENDING};
pub(crate) use socket::{
    accept4, bind, connect, getpeername, getsockname, getsockopt, listen, recvfrom, recvfrom_vec,
    sendto, set_linger, set_nonblocking, setsockopt, shutdown, socket,
};
