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
#[inline]
pub(crate) fn fd_zero() -> libc::fd_set {
    // SAFETY: an fd_set is an array of integers, for which all-zero bytes are a valid value,
    // and all-zero is exactly the empty set FD_ZERO makes.
    unsafe { MaybeUninit::<libc::fd_set>::zeroed().assume_init() }
}

/// `FD_SET(fd, set)`; `None` (nothing written) when `fd` is outside `0..FD_SETSIZE`.
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
#[inline]
pub(crate) fn fd_isset(set: &libc::fd_set, fd: RawFd) -> bool {
    if !fd_in_set_range(fd) {
        return false;
    }
    // SAFETY: 0 <= fd < FD_SETSIZE was checked above, so FD_ISSET reads a bit inside `set`.
    unsafe { libc::FD_ISSET(fd, set) }
}

fn opt_ptr(set: Option<&mut libc::fd_set>) -> *mut libc::fd_set {
    set.map_or(std::ptr::null_mut(), |s| s as *mut libc::fd_set)
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
pub(crate) fn select(
    nfds: usize,
    rset: Option<&mut libc::fd_set>,
    wset: Option<&mut libc::fd_set>,
    xset: Option<&mut libc::fd_set>,
    timeout: Option<&mut libc::timeval>,
) -> io::Result<usize> {
    let nfds = checked_nfds(nfds)?;
    let tv = timeout.map_or(std::ptr::null_mut(), |t| t as *mut libc::timeval);
    // SAFETY: each pointer is NULL or points to a live, exclusively borrowed `fd_set` (or
    // `timeval`) for the duration of the call; nfds <= FD_SETSIZE so the kernel reads and
    // writes only bits inside each set.
    let n = cvt(unsafe { libc::select(nfds, opt_ptr(rset), opt_ptr(wset), opt_ptr(xset), tv) })?;
    Ok(n as usize)
}

/// The kernel's own `select` syscall (x86-64 Linux only), so that strace shows `select(`.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub(crate) fn select_raw(
    nfds: usize,
    rset: Option<&mut libc::fd_set>,
    wset: Option<&mut libc::fd_set>,
    xset: Option<&mut libc::fd_set>,
    timeout: Option<&mut libc::timeval>,
) -> io::Result<usize> {
    let nfds = checked_nfds(nfds)? as libc::c_long;
    let tv = timeout.map_or(std::ptr::null_mut(), |t| t as *mut libc::timeval);
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
    // SAFETY: `fd` was returned (not -1) by socket(2) or accept4(2) a moment ago: it is open
    // and nothing else in the process knows its number yet, so this is its only owner.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `socket(domain, type | SOCK_CLOEXEC, 0)`.
pub(crate) fn socket(domain: i32, ty: i32) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes only integers and returns a new fd or -1.
    cvt(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, 0) }).map(owned)
}

/// `close(fd)`, reporting its error (dropping an `OwnedFd` would ignore it, and Python's
/// `close()` raises it).
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
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
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
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
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
            let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Ok(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the family says the storage holds a sockaddr_in6, and it is long enough.
            let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
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
pub(crate) fn bind(fd: RawFd, addr: &SocketAddr) -> io::Result<()> {
    let (storage, len) = to_sockaddr(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes and outlives the call.
    cvt(unsafe { libc::bind(fd, &storage as *const _ as *const libc::sockaddr, len) }).map(drop)
}

/// `connect(fd, addr, len)`.
pub(crate) fn connect(fd: RawFd, addr: &SocketAddr) -> io::Result<()> {
    let (storage, len) = to_sockaddr(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes and outlives the call.
    cvt(unsafe { libc::connect(fd, &storage as *const _ as *const libc::sockaddr, len) }).map(drop)
}

/// `listen(fd, backlog)`.
pub(crate) fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: listen(2) takes only integers.
    cvt(unsafe { libc::listen(fd, backlog) }).map(drop)
}

/// `accept4(fd, &addr, &len, SOCK_CLOEXEC)`.
pub(crate) fn accept4(fd: RawFd) -> io::Result<(OwnedFd, SocketAddr)> {
    // SAFETY: sockaddr_storage is plain old data for which all-zero bytes are a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `storage` and `len` are live and writable; `len` tells the kernel the buffer size,
    // so it writes at most that many bytes of address.
    let new = owned(cvt(unsafe {
        libc::accept4(
            fd,
            &mut storage as *mut _ as *mut libc::sockaddr,
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
    cvt(unsafe { call(fd, &mut storage as *mut _ as *mut libc::sockaddr, &mut len) })?;
    from_sockaddr(&storage, len)
}

/// `getsockname(fd, ...)`.
pub(crate) fn getsockname(fd: RawFd) -> io::Result<SocketAddr> {
    sock_name(fd, libc::getsockname)
}

/// `getpeername(fd, ...)`.
pub(crate) fn getpeername(fd: RawFd) -> io::Result<SocketAddr> {
    sock_name(fd, libc::getpeername)
}

/// `recvfrom(fd, buf, len, flags, NULL, NULL)`: what Python's `recv` issues.
pub(crate) fn recvfrom(fd: RawFd, buf: &mut [u8], flags: i32) -> io::Result<usize> {
    // SAFETY: `buf` is a live, writable buffer of `buf.len()` bytes; NULL address arguments
    // tell the kernel not to report the sender.
    let n = cvt(unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    })?;
    Ok(n as usize)
}

/// `recvfrom(fd, buf, n, flags, NULL, NULL)` into a new buffer of capacity `n`, as CPython
/// does: the buffer is allocated but not zeroed, so a large `n` costs only what arrives, and an
/// `n` that cannot be allocated is `ENOMEM` (Python's `MemoryError`), not an abort.
pub(crate) fn recvfrom_vec(fd: RawFd, n: usize, flags: i32) -> io::Result<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::new();
    buf.try_reserve_exact(n)
        .map_err(|_| io::Error::from_raw_os_error(libc::ENOMEM))?;
    let spare = buf.spare_capacity_mut();
    // SAFETY: `spare` is `n` bytes of writable, allocated memory (the reserve above); the
    // kernel writes at most `spare.len()` bytes into it; NULL address arguments ask for no
    // sender address.
    let got = cvt(unsafe {
        libc::recvfrom(
            fd,
            spare.as_mut_ptr().cast(),
            spare.len(),
            flags,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    })? as usize;
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
pub(crate) fn sendto(fd: RawFd, buf: &[u8], flags: i32) -> io::Result<usize> {
    // SAFETY: `buf` is a live buffer of `buf.len()` readable bytes; a NULL address with length
    // 0 means "the connected peer".
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

/// `setsockopt(fd, level, name, &int, sizeof(int))`.
pub(crate) fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: the option value is a live c_int and its exact size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const i32 as *const libc::c_void,
            mem::size_of::<i32>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `getsockopt(fd, level, name, &int, &len)`.
pub(crate) fn getsockopt_int(fd: RawFd, level: i32, name: i32) -> io::Result<i32> {
    let mut value: i32 = 0;
    let mut len = mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: `value` is a live, writable c_int and `len` holds its size, which bounds the write.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            &mut value as *mut i32 as *mut libc::c_void,
            &mut len,
        )
    })?;
    Ok(value)
}

/// `setsockopt(fd, SOL_SOCKET, SO_LINGER, {onoff, linger})`.
pub(crate) fn set_linger(fd: RawFd, linger: Option<i32>) -> io::Result<()> {
    let value = libc::linger {
        l_onoff: linger.is_some() as i32,
        l_linger: linger.unwrap_or(0),
    };
    // SAFETY: the option value is a live `struct linger` and its exact size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &value as *const libc::linger as *const libc::c_void,
            mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `shutdown(fd, how)`.
pub(crate) fn shutdown(fd: RawFd, how: i32) -> io::Result<()> {
    // SAFETY: shutdown(2) takes only integers.
    cvt(unsafe { libc::shutdown(fd, how) }).map(drop)
}

/// `ioctl(fd, FIONBIO, &on)`: how CPython switches a socket's blocking mode on Linux.
pub(crate) fn set_nonblocking(fd: RawFd, on: bool) -> io::Result<()> {
    let mut value: libc::c_int = on as libc::c_int;
    // SAFETY: FIONBIO reads one c_int through the pointer, which is live for the call.
    cvt(unsafe { libc::ioctl(fd, libc::FIONBIO, &mut value) }).map(drop)
}

/// `poll([{fd, events}], 1, timeout_ms)`: how CPython waits on a socket with a timeout.
/// Returns the `revents`, or 0 when the wait timed out.
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
pub(crate) fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a live buffer of `buf.len()` readable bytes.
    let n = cvt(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })?;
    Ok(n as usize)
}

/// The last watched signal that arrived and was not yet taken; 0 for none. Written only by
/// [`record_signal`], the one handler this crate installs.
pub(crate) static PENDING_SIGNAL: std::sync::atomic::AtomicI32 =
    std::sync::atomic::AtomicI32::new(0);

extern "C" fn record_signal(sig: libc::c_int) {
    PENDING_SIGNAL.store(sig, std::sync::atomic::Ordering::SeqCst);
}

/// Install the recording handler for `sig` with `sigaction` (no `SA_RESTART`, so blocking
/// calls see `EINTR`), returning the previous disposition.
pub(crate) fn install_recording_handler(
    sig: nix::sys::signal::Signal,
) -> io::Result<nix::sys::signal::SigAction> {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet};
    let action = SigAction::new(
        SigHandler::Handler(record_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe { nix::sys::signal::sigaction(sig, &action) }.map_err(io::Error::from)
}

/// Put back a disposition returned by [`install_recording_handler`].
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
// Output streams that must not block (used by `crate::output`)
// ---------------------------------------------------------------------------------------------

/// `fstat(fd)`'s file type bits (`st_mode & S_IFMT`): `S_IFIFO`, `S_IFSOCK`, `S_IFCHR`, ...
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
pub(crate) fn reopen_write_nonblocking(fd: RawFd) -> io::Result<OwnedFd> {
    let path = std::ffi::CString::new(format!("/proc/self/fd/{fd}"))
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let flags = libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC;
    // SAFETY: `path` is a live NUL-terminated string; open(2) returns a new fd or -1.
    cvt(unsafe { libc::open(path.as_ptr(), flags) }).map(owned)
}

/// `dup2(from, to)`: `to` then names `from`'s open file description (without `FD_CLOEXEC`).
pub(crate) fn dup2(from: &OwnedFd, to: RawFd) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: dup2(2) takes two integers; `from` is open (it is owned), and replacing `to` is
    // what the caller asks for (it owns the number, e.g. stdout).
    cvt(unsafe { libc::dup2(from.as_raw_fd(), to) }).map(drop)
}

/// `fcntl(fd, F_SETFL, flags | O_NONBLOCK)` after `F_GETFL`. This changes the open file
/// description, which every process sharing it sees.
pub(crate) fn set_status_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL takes no argument and returns the status flags or -1.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: F_SETFL takes an int argument and returns 0 or -1.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
}
