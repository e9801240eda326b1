//! The socket calls behind `Socket`: `socket(2)`, `bind(2)` ... `shutdown(2)`, and the
//! `ioctl(FIONBIO)` that sets a socket's blocking mode.

use std::io;
use std::mem::{self, MaybeUninit};
use std::net::SocketAddr;
use std::os::fd::{OwnedFd, RawFd};
use std::ptr;

use super::cvt;
use super::fd::owned;
use super::sockaddr::{from_sockaddr, to_sockaddr};

/// `socket(domain, type | SOCK_CLOEXEC, 0)`.
///
#[doc = man!(socket(2))]
pub(crate) fn socket(domain: i32, ty: i32) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes only integers and returns a new fd or -1.
    cvt(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, 0) }).map(owned)
}

/// `bind(fd, addr, len)`.
///
#[doc = man!(bind(2))]
pub(crate) fn bind(fd: RawFd, addr: &SocketAddr) -> io::Result<()> {
    let (storage, len) = to_sockaddr(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes and outlives the call.
    cvt(unsafe { libc::bind(fd, ptr::from_ref(&storage).cast(), len) }).map(drop)
}

/// `connect(fd, addr, len)`.
///
#[doc = man!(connect(2))]
pub(crate) fn connect(fd: RawFd, addr: &SocketAddr) -> io::Result<()> {
    let (storage, len) = to_sockaddr(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes and outlives the call.
    cvt(unsafe { libc::connect(fd, ptr::from_ref(&storage).cast(), len) }).map(drop)
}

/// `listen(fd, backlog)`.
///
#[doc = man!(listen(2))]
pub(crate) fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: listen(2) takes only integers.
    cvt(unsafe { libc::listen(fd, backlog) }).map(drop)
}

/// `accept4(fd, &addr, &len, SOCK_CLOEXEC)`.
///
#[doc = man!(accept4(2))]
pub(crate) fn accept4(fd: RawFd) -> io::Result<(OwnedFd, SocketAddr)> {
    // SAFETY: sockaddr_storage is plain old data for which all-zero bytes are a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `storage` and `len` are live and writable; `len` tells the kernel the buffer size,
    // so it writes at most that many bytes of address.
    let new = owned(cvt(unsafe {
        libc::accept4(
            fd,
            ptr::from_mut(&mut storage).cast(),
            &mut len,
            libc::SOCK_CLOEXEC,
        )
    })?);
    // An address we cannot read drops (closes) the new connection.
    Ok((new, from_sockaddr(&storage, len)?))
}

/// The C signature `getsockname(2)` and `getpeername(2)` share.
type NameCall =
    unsafe extern "C" fn(libc::c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> libc::c_int;

/// One of the two address queries, into a `sockaddr_storage`.
fn sock_name(fd: RawFd, call: NameCall) -> io::Result<SocketAddr> {
    // SAFETY: sockaddr_storage is plain old data for which all-zero bytes are a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `call` is getsockname or getpeername (the only two callers below); `storage` and
    // `len` are live and writable, and `len` bounds what the kernel writes.
    cvt(unsafe { call(fd, ptr::from_mut(&mut storage).cast(), &mut len) })?;
    from_sockaddr(&storage, len)
}

/// `getsockname(fd, ...)`.
///
#[doc = man!(getsockname(2))]
pub(crate) fn getsockname(fd: RawFd) -> io::Result<SocketAddr> {
    sock_name(fd, libc::getsockname)
}

/// `getpeername(fd, ...)`.
///
#[doc = man!(getpeername(2))]
pub(crate) fn getpeername(fd: RawFd) -> io::Result<SocketAddr> {
    sock_name(fd, libc::getpeername)
}

/// `recvfrom(fd, buf, len, flags, NULL, NULL)`: what Python's `recv` issues, into a buffer
/// that may be uninitialised. The one `recvfrom` call of the crate; the two below shape its
/// buffer. Returns what the kernel returns (with `MSG_TRUNC` on a datagram socket that can be
/// more than `buf.len()`).
///
#[doc = man!(recvfrom(2))]
fn recvfrom_uninit(fd: RawFd, buf: &mut [MaybeUninit<u8>], flags: i32) -> io::Result<usize> {
    // SAFETY: `buf` is a live, writable buffer of `buf.len()` bytes, and the kernel writes at
    // most that many (only initialised bytes); NULL address arguments ask for no sender.
    let n = cvt(unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    })?;
    Ok(n as usize)
}

/// [`recvfrom_uninit`] into a caller's initialised buffer (Python's `recv_into`).
///
#[doc = man!(recvfrom(2))]
pub(crate) fn recvfrom(fd: RawFd, buf: &mut [u8], flags: i32) -> io::Result<usize> {
    // SAFETY: the same `buf.len()` bytes, exclusively borrowed, viewed as `MaybeUninit<u8>`
    // (same layout as `u8`); the view goes only to `recvfrom_uninit`, whose kernel call writes
    // initialised bytes, so `buf` never holds an uninitialised byte afterwards.
    let uninit = unsafe {
        std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<MaybeUninit<u8>>(), buf.len())
    };
    recvfrom_uninit(fd, uninit, flags)
}

/// [`recvfrom_uninit`] into a new buffer of capacity `n`, as CPython does: the buffer is
/// allocated but not zeroed, so a large `n` costs only what arrives, and an `n` that cannot be
/// allocated is `ENOMEM` (Python's `MemoryError`), not an abort.
///
#[doc = man!(recvfrom(2))]
pub(crate) fn recvfrom_vec(fd: RawFd, n: usize, flags: i32) -> io::Result<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::new();
    buf.try_reserve_exact(n)
        .map_err(|_| io::Error::from_raw_os_error(libc::ENOMEM))?;
    let got = recvfrom_uninit(fd, &mut buf.spare_capacity_mut()[..n], flags)?;
    // MSG_TRUNC on a datagram socket reports the datagram's full length, which can exceed
    // what was written: only the bytes actually written are initialised.
    let got = got.min(n);
    // SAFETY: the kernel initialised the first `got` bytes (got <= n <= capacity).
    unsafe { buf.set_len(got) };
    if n - got > 4096 {
        // Keep what arrived, not the whole request (CPython resizes its bytes object too).
        buf.shrink_to_fit();
    }
    Ok(buf)
}

/// `sendto(fd, buf, len, flags, NULL, 0)`: what Python's `send` issues.
///
#[doc = man!(sendto(2))]
pub(crate) fn sendto(fd: RawFd, buf: &[u8], flags: i32) -> io::Result<usize> {
    // SAFETY: `buf` is a live buffer of `buf.len()` readable bytes; a NULL address with length
    // 0 means "the connected peer".
    let n =
        cvt(unsafe { libc::sendto(fd, buf.as_ptr().cast(), buf.len(), flags, ptr::null(), 0) })?;
    Ok(n as usize)
}

/// A value `setsockopt`/`getsockopt` pass by pointer: a C option type for which any bytes
/// the kernel writes, and all-zero bytes, are a valid value. Sealed by being crate-private;
/// implemented for exactly the types the crate passes.
pub(crate) trait SockOpt: Copy {}

impl SockOpt for libc::c_int {}
impl SockOpt for libc::linger {}

/// `setsockopt(fd, level, name, &value, sizeof(value))`.
///
#[doc = man!(setsockopt(2))]
pub(crate) fn setsockopt<T: SockOpt>(fd: RawFd, level: i32, name: i32, value: T) -> io::Result<()> {
    // SAFETY: the option value is a live `T` and its exact size is passed, so the kernel reads
    // only inside it.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            ptr::from_ref(&value).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `getsockopt(fd, level, name, &value, &len)`.
///
#[doc = man!(getsockopt(2))]
pub(crate) fn getsockopt<T: SockOpt>(fd: RawFd, level: i32, name: i32) -> io::Result<T> {
    // SAFETY: a `SockOpt` is a C option type for which all-zero bytes are a valid value.
    let mut value: T = unsafe { MaybeUninit::zeroed().assume_init() };
    let mut len = mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` is a live, writable `T` and `len` holds its size, which bounds the
    // write; any bytes the kernel writes into a `SockOpt` make a valid value.
    cvt(unsafe { libc::getsockopt(fd, level, name, ptr::from_mut(&mut value).cast(), &mut len) })?;
    Ok(value)
}

/// `setsockopt(fd, SOL_SOCKET, SO_LINGER, {onoff, linger})`.
///
#[doc = man!(setsockopt(2))]
pub(crate) fn set_linger(fd: RawFd, linger: Option<i32>) -> io::Result<()> {
    let value = libc::linger {
        l_onoff: linger.is_some() as i32,
        l_linger: linger.unwrap_or(0),
    };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, value)
}

/// `shutdown(fd, how)`.
///
#[doc = man!(shutdown(2))]
pub(crate) fn shutdown(fd: RawFd, how: i32) -> io::Result<()> {
    // SAFETY: shutdown(2) takes only integers.
    cvt(unsafe { libc::shutdown(fd, how) }).map(drop)
}

/// `ioctl(fd, FIONBIO, &on)`: how CPython switches a socket's blocking mode on Linux.
///
#[doc = man!(ioctl(2))]
pub(crate) fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    let mut value: libc::c_int = on as libc::c_int;
    // SAFETY: FIONBIO reads one c_int through the pointer, which is live for the call.
    cvt(unsafe { libc::ioctl(fd, libc::FIONBIO, &mut value) }).map(drop)
}
