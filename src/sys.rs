//! Every call into libc lives here.
//!
//! # Safety
//!
//! This is the only module of the crate that may contain `unsafe` code (the crate root denies
//! `unsafe_code` everywhere else). Each function below is a thin, safe wrapper over exactly one
//! C call or macro: it checks whatever the C side cannot (fd ranges, buffer lengths), makes the
//! call, and turns `-1` into `io::Error::last_os_error()` through the one [`cvt`] funnel, read
//! right after the call. Nothing here retries on `EINTR`: the callers decide, as CPython does.

use std::io;
use std::mem::{self, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::ptr;

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

/// Take ownership of a descriptor a syscall just created.
fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was returned (not -1) by socket(2), accept4(2), open(2) or epoll_create1(2)
    // a moment ago: it is open
    // and nothing else in the process knows its number yet, so this is its only owner.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `socket(domain, type | SOCK_CLOEXEC, 0)`.
///
#[doc = man!(socket(2))]
pub(crate) fn socket(domain: i32, ty: i32) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes only integers and returns a new fd or -1.
    cvt(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, 0) }).map(owned)
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

/// A `sockaddr_storage` filled from a Rust address, with its length.
fn to_sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data for which all-zero bytes are a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned at least as sockaddr_in.
            unsafe {
                ptr::from_mut(&mut storage)
                    .cast::<libc::sockaddr_in>()
                    .write(sin)
            };
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo().to_be(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned at least as sockaddr_in6.
            unsafe {
                ptr::from_mut(&mut storage)
                    .cast::<libc::sockaddr_in6>()
                    .write(sin6)
            };
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// A Rust address from a `sockaddr_storage` the kernel filled.
fn from_sockaddr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> io::Result<SocketAddr> {
    let len = len as usize;
    match storage.ss_family as i32 {
        libc::AF_INET if len >= mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, and it is long enough.
            let sin = unsafe { &*ptr::from_ref(storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Ok(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the family says the storage holds a sockaddr_in6, and it is long enough.
            let sin6 = unsafe { &*ptr::from_ref(storage).cast::<libc::sockaddr_in6>() };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        _ => Err(io::Error::from_raw_os_error(libc::EAFNOSUPPORT)),
    }
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

/// `sigaction(sig, {record, flags: 0, mask: empty}, &old)` (`rt_sigaction` in strace): install
/// the crate's one handler, [`crate::signals::record`], for `sig` without `SA_RESTART` (so
/// blocking calls see `EINTR`), returning the previous disposition.
///
/// The handler is fixed here rather than passed in, so that the soundness argument below
/// depends on one named function, not on every caller's choice.
///
#[doc = man!(sigaction(2))]
pub(crate) fn install_handler(
    sig: nix::sys::signal::Signal,
) -> io::Result<nix::sys::signal::SigAction> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet};
    let action = SigAction::new(
        SigHandler::Handler(crate::signals::record),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler installed is `signals::record`, whose whole body is one store to an
    // `AtomicI32`: async-signal-safe, and it touches no state a signal could find half-updated.
    unsafe { nix::sys::signal::sigaction(sig, &action) }.map_err(io::Error::from)
}

/// Put back a disposition returned by [`install_handler`] (`sigaction(sig, old, NULL)`).
///
#[doc = man!(sigaction(2))]
pub(crate) fn restore_handler(
    sig: nix::sys::signal::Signal,
    old: &nix::sys::signal::SigAction,
) -> io::Result<()> {
    // SAFETY: `old` is a disposition sigaction returned for this signal, one the process
    // already had; reinstalling it adds no new handler code.
    unsafe { nix::sys::signal::sigaction(sig, old) }
        .map(drop)
        .map_err(io::Error::from)
}

/// The text of an errno, as C's `strerror` gives it (what Python prints after `[Errno N]`).
///
#[doc = man!(strerror(3))]
pub(crate) fn strerror(errno: i32) -> String {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: `buf` is a live, writable buffer and its exact length is passed; the XSI
    // strerror_r writes a NUL-terminated string of at most that length.
    let rc = unsafe { libc::strerror_r(errno, buf.as_mut_ptr(), buf.len()) };
    if rc != 0 {
        return format!("Unknown error {errno}");
    }
    // SAFETY: on success strerror_r left a NUL-terminated string inside `buf`.
    let text = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    text.to_string_lossy().into_owned()
}

// ---------------------------------------------------------------------------------------------
// poll(2) and epoll(7): the calls behind `Poll` and `Epoll` (Python's `select.poll` and
// `select.epoll`). glibc's `poll`, `epoll_create1`, `epoll_ctl` and `epoll_wait` wrappers issue
// exactly the syscalls CPython's do, so strace prints the same lines.
// ---------------------------------------------------------------------------------------------

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
