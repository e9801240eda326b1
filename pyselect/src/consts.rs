//! Socket option and flag constants for [`Socket::setsockopt`], [`Socket::getsockopt`] and
//! [`Socket::recv_flags`]/[`Socket::send_flags`], under the names Python's `socket` module and
//! C give them. This module is the one place they are defined.
//!
//! All but [`DEFAULT_BACKLOG`] are `libc`'s own values, re-exported so that a caller needs no
//! `libc` dependency to write `sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)`.
//!
//! [`Socket::setsockopt`]: crate::Socket::setsockopt
//! [`Socket::getsockopt`]: crate::Socket::getsockopt
//! [`Socket::recv_flags`]: crate::Socket::recv_flags
//! [`Socket::send_flags`]: crate::Socket::send_flags

pub use libc::{
    IPPROTO_IPV6, IPPROTO_TCP, IPV6_V6ONLY, MSG_DONTWAIT, MSG_OOB, MSG_PEEK, SOL_SOCKET, SO_ERROR,
    SO_KEEPALIVE, SO_RCVBUF, SO_REUSEADDR, SO_REUSEPORT, SO_SNDBUF, SO_TYPE, TCP_NODELAY,
};

/// Python's default `listen()` backlog (`SOMAXCONN` capped at 128), what
/// [`Socket::listen(None)`](crate::Socket::listen) passes.
pub const DEFAULT_BACKLOG: i32 = 128;
