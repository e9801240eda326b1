//! # pyselect
//!
//! Python's `select.select(rlist, wlist, xlist, timeout)` rebuilt on raw POSIX `select(2)`,
//! with thin, safe wrappers over `fd_set` and the socket syscalls, so that a program ported
//! from the classic Python select server behaves the same and makes the same syscalls under
//! `strace`.
//!
//! - [`select()`]: same results, errors, timeout rounding and `EINTR` retry as CPython 3.11;
//!   [`select_with`] can issue the kernel's own `select` syscall instead of glibc's `pselect6`.
//! - [`FdSet`]: one `fd_set`, range-checked so that an fd `>= FD_SETSIZE` is an error, never a
//!   write past its end.
//! - [`Socket`]: a Python-shaped socket, one syscall per method.
//! - [`Error`]: one variant per Python exception class; `Display` prints Python's message.
//! - [`signals`]: turn SIGINT/SIGTERM into [`Error::Interrupted`] out of a blocked `select()`.
//! - [`Poll`], [`Epoll`] and [`selectors`]: Python's `select.poll`, `select.epoll` and
//!   `selectors` module, with CPython's results, errors, timeout rounding and syscalls.
//!
//! ```
//! use pyselect::select;
//! use std::os::unix::net::UnixStream;
//!
//! let (a, b) = UnixStream::pair()?;
//! // Both ends are writable, neither is readable yet: wlist comes back whole, in order.
//! let (r, w, x) = select([&a, &b], [&a, &b, &a], [], Some(0.0))?;
//! assert!(r.is_empty() && x.is_empty());
//! assert_eq!(w.len(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! All `unsafe` code lives in one private module, `sys`, one small wrapper per C call, each
//! with a `// SAFETY:` comment; the rest of the crate is compiled with `deny(unsafe_code)`.
#![deny(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod addr;
pub mod consts;
mod epoll;
mod error;
mod fdset;
mod fileno;
mod poll;
mod retry;
mod select;
pub mod selectors;
pub mod signals;
mod socket;
#[allow(unsafe_code)]
mod sys;
// Public only for pyselect/tests/timeout_cpython.rs, which checks CPython's float-to-timeval rounding
// against a Python model; not part of the API a caller should build on.
#[doc(hidden)]
pub mod timeout;

pub use addr::{Family, ToAddress, Type};
pub use epoll::{
    Epoll, EpollEvents, EPOLLERR, EPOLLET, EPOLLEXCLUSIVE, EPOLLHUP, EPOLLIN, EPOLLMSG,
    EPOLLONESHOT, EPOLLOUT, EPOLLPRI, EPOLLRDBAND, EPOLLRDHUP, EPOLLRDNORM, EPOLLWRBAND,
    EPOLLWRNORM, EPOLL_CLOEXEC,
};
pub use error::{Error, Result};
pub use fdset::{FdSet, FD_SETSIZE};
pub use fileno::FileNo;
pub use poll::{
    Poll, POLLERR, POLLHUP, POLLIN, POLLMSG, POLLNVAL, POLLOUT, POLLPRI, POLLRDBAND, POLLRDHUP,
    POLLRDNORM, POLLWRBAND, POLLWRNORM,
};
pub use select::{
    select, select_into, select_into_with, select_with, sleep, Ready, ReadyLists, Syscall,
};
pub use socket::Socket;
