//! [`Socket`]: a Python-shaped socket over the raw syscalls, one syscall per method wherever
//! CPython makes one, so that a trace of a pyselect program reads like a trace of the Python one.

use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::addr::{Family, ToAddress, Type};
use crate::error::{Error, Result};
use crate::fileno::FileNo;
use crate::retry;
use crate::timeout::{self, Deadline};
use crate::{signals, sys};

/// A socket, shaped after Python's `socket.socket`.
///
/// Each method is the syscall Python's method makes: `accept` is `accept4(.., SOCK_CLOEXEC)`,
/// `recv` one `recvfrom`, `send` one `sendto` (with `MSG_NOSIGNAL`, so a peer's reset is an
/// [`Error::Os`] with `EPIPE`, never a `SIGPIPE` death). With [`Socket::settimeout`] set, each
/// blocking-style call first waits with `poll()` for the time left and fails with
/// [`Error::Timeout`] when it runs out, as CPython does.
///
/// A signal the program watches through [`crate::signals`] that interrupts a call gives
/// [`Error::Interrupted`]; any other `EINTR` is retried (PEP 475).
///
/// Dropping the socket closes it; [`Socket::close`] does so explicitly and may be called twice.
///
/// # References
///
/// - Linux man page: [`socket(7)`](https://man7.org/linux/man-pages/man7/socket.7.html)
/// - Python: [`socket.socket`](https://docs.python.org/3.11/library/socket.html#socket.socket)
pub struct Socket {
    /// The descriptor; `None` once closed (then `fileno()` is -1, and a syscall on it fails
    /// with `EBADF`, as on a closed Python socket).
    fd: Option<OwnedFd>,
    family: Family,
    ty: Type,
    /// Python's `sock_timeout` in nanoseconds: `None` blocks, `Some(0)` never waits.
    timeout_ns: Option<i64>,
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("fd", &self.fileno())
            .field("family", &self.family)
            .field("type", &self.ty)
            .field("timeout", &self.gettimeout())
            .finish()
    }
}

fn is_eintr(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINTR)
}

fn would_block(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EAGAIN)) || e.raw_os_error() == Some(libc::EWOULDBLOCK)
}

impl Socket {
    /// `socket(family, type | SOCK_CLOEXEC, 0)`, and nothing else: no option is set.
    ///
    /// # References
    ///
    /// - Linux man page: [`socket(2)`](https://man7.org/linux/man-pages/man2/socket.2.html)
    /// - POSIX: [`socket`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/socket.html)
    /// - Python: [`socket.socket`](https://docs.python.org/3.11/library/socket.html#socket.socket)
    #[doc(alias = "socket")]
    pub fn new(family: Family, ty: Type) -> Result<Socket> {
        let fd = sys::socket(family.raw(), ty.raw())?;
        Ok(Socket {
            fd: Some(fd),
            family,
            ty,
            timeout_ns: None,
        })
    }

    /// `socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)`.
    ///
    /// # References
    ///
    /// - Linux man page: [`socket(2)`](https://man7.org/linux/man-pages/man2/socket.2.html)
    /// - POSIX: [`socket`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/socket.html)
    /// - Python: [`socket.socket`](https://docs.python.org/3.11/library/socket.html#socket.socket)
    pub fn tcp_v4() -> Result<Socket> {
        Socket::new(Family::Inet, Type::Stream)
    }

    /// `socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0)`.
    ///
    /// # References
    ///
    /// - Linux man page: [`socket(2)`](https://man7.org/linux/man-pages/man2/socket.2.html)
    /// - POSIX: [`socket`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/socket.html)
    /// - Python: [`socket.socket`](https://docs.python.org/3.11/library/socket.html#socket.socket)
    pub fn tcp_v6() -> Result<Socket> {
        Socket::new(Family::Inet6, Type::Stream)
    }

    /// The socket's family.
    ///
    /// # References
    ///
    /// - Python: [`socket.socket.family`](https://docs.python.org/3.11/library/socket.html#socket.socket.family)
    pub fn family(&self) -> Family {
        self.family
    }

    /// The socket's type.
    ///
    /// # References
    ///
    /// - Python: [`socket.socket.type`](https://docs.python.org/3.11/library/socket.html#socket.socket.type)
    pub fn socket_type(&self) -> Type {
        self.ty
    }

    /// The fd, or -1 once closed (as Python's `fileno()`).
    ///
    /// # References
    ///
    /// - Python: [`socket.socket.fileno`](https://docs.python.org/3.11/library/socket.html#socket.socket.fileno)
    pub fn fileno(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }

    /// `bind(2)`. `("", port)` binds every interface, as in Python.
    ///
    /// # References
    ///
    /// - Linux man page: [`bind(2)`](https://man7.org/linux/man-pages/man2/bind.2.html)
    /// - POSIX: [`bind`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/bind.html)
    /// - Python: [`socket.socket.bind`](https://docs.python.org/3.11/library/socket.html#socket.socket.bind)
    pub fn bind(&self, addr: impl ToAddress) -> Result<()> {
        let addr = addr.to_address(self.family)?;
        sys::bind(self.fileno(), &addr)?;
        Ok(())
    }

    /// `listen(2)`, with Python's default backlog (128) for `None`; a negative backlog is 0.
    ///
    /// # References
    ///
    /// - Linux man page: [`listen(2)`](https://man7.org/linux/man-pages/man2/listen.2.html)
    /// - POSIX: [`listen`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/listen.html)
    /// - Python: [`socket.socket.listen`](https://docs.python.org/3.11/library/socket.html#socket.socket.listen)
    pub fn listen(&self, backlog: Option<i32>) -> Result<()> {
        let backlog = backlog.unwrap_or(crate::consts::DEFAULT_BACKLOG).max(0);
        sys::listen(self.fileno(), backlog)?;
        Ok(())
    }

    /// `connect(2)`. With a timeout (or after `EINTR`) the connection completes in the
    /// background: CPython then waits with `poll()` for writability and reads `SO_ERROR`.
    ///
    /// # References
    ///
    /// - Linux man page: [`connect(2)`](https://man7.org/linux/man-pages/man2/connect.2.html)
    /// - POSIX: [`connect`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/connect.html)
    /// - Python: [`socket.socket.connect`](https://docs.python.org/3.11/library/socket.html#socket.socket.connect)
    pub fn connect(&self, addr: impl ToAddress) -> Result<()> {
        let addr = addr.to_address(self.family)?;
        let err = match sys::connect(self.fileno(), &addr) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let wait = if is_eintr(&err) {
            signals::check_signals()?;
            self.timeout_ns != Some(0)
        } else {
            self.timeout_ns.is_some_and(|t| t > 0) && err.raw_os_error() == Some(libc::EINPROGRESS)
        };
        if !wait {
            return Err(Error::Os(err));
        }
        self.wait_for(libc::POLLOUT | libc::POLLERR, self.deadline())?;
        match sys::getsockopt::<i32>(self.fileno(), libc::SOL_SOCKET, libc::SO_ERROR)? {
            0 => Ok(()),
            errno => Err(Error::Os(io::Error::from_raw_os_error(errno))),
        }
    }

    /// `accept4(fd, .., SOCK_CLOEXEC)`: the new connection and the peer's address.
    ///
    /// When this listener has a (non-zero) timeout the new socket is set back to blocking with
    /// `ioctl(FIONBIO)`, as Python's `socket.accept` does.
    ///
    /// # References
    ///
    /// - Linux man page: [`accept(2)`](https://man7.org/linux/man-pages/man2/accept.2.html)
    /// - POSIX: [`accept`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/accept.html)
    /// - Python: [`socket.socket.accept`](https://docs.python.org/3.11/library/socket.html#socket.socket.accept)
    #[doc(alias = "accept4")]
    pub fn accept(&self) -> Result<(Socket, SocketAddr)> {
        let (fd, addr) = self.call(false, sys::accept4)?;
        let sock = Socket {
            fd: Some(fd),
            family: Family::of(&addr),
            ty: self.ty,
            timeout_ns: None,
        };
        if self.timeout_ns.is_some_and(|t| t > 0) {
            sys::set_nonblocking(sock.fileno(), false)?;
        }
        Ok((sock, addr))
    }

    /// `recvfrom(fd, buf, n, 0, NULL, NULL)`: at most `n` bytes; empty at end of stream.
    ///
    /// # References
    ///
    /// - Linux man page: [`recv(2)`](https://man7.org/linux/man-pages/man2/recv.2.html)
    /// - POSIX: [`recvfrom`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/recvfrom.html)
    /// - Python: [`socket.socket.recv`](https://docs.python.org/3.11/library/socket.html#socket.socket.recv)
    #[doc(alias = "recvfrom")]
    pub fn recv(&self, n: usize) -> Result<Vec<u8>> {
        self.recv_flags(n, 0)
    }

    /// `recvfrom` with `flags` (`MSG_PEEK`, `MSG_OOB`, ...).
    ///
    /// # References
    ///
    /// - Linux man page: [`recv(2)`](https://man7.org/linux/man-pages/man2/recv.2.html)
    /// - POSIX: [`recvfrom`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/recvfrom.html)
    /// - Python: [`socket.socket.recv`](https://docs.python.org/3.11/library/socket.html#socket.socket.recv)
    pub fn recv_flags(&self, n: usize, flags: i32) -> Result<Vec<u8>> {
        self.call(false, |fd| sys::recvfrom_vec(fd, n, flags))
    }

    /// `recvfrom(fd, buf, n, MSG_OOB, ..)`: the urgent byte a peer sent with `MSG_OOB`
    /// (Python's `recv(n, socket.MSG_OOB)`). With no urgent data pending the kernel answers
    /// `EINVAL` (`EAGAIN` once it has been read).
    ///
    /// # References
    ///
    /// - Linux man page: [`recv(2)`](https://man7.org/linux/man-pages/man2/recv.2.html)
    /// - POSIX: [`recvfrom`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/recvfrom.html)
    /// - Python: [`socket.socket.recv`](https://docs.python.org/3.11/library/socket.html#socket.socket.recv)
    pub fn recv_oob(&self, n: usize) -> Result<Vec<u8>> {
        self.recv_flags(n, libc::MSG_OOB)
    }

    /// `recvfrom` into a caller's buffer; the number of bytes read. (With `MSG_TRUNC` on a
    /// datagram socket the kernel reports the datagram's full length, which can exceed
    /// `buf.len()`, as in Python's `recv_into`.)
    ///
    /// # References
    ///
    /// - Linux man page: [`recv(2)`](https://man7.org/linux/man-pages/man2/recv.2.html)
    /// - POSIX: [`recvfrom`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/recvfrom.html)
    /// - Python: [`socket.socket.recv_into`](https://docs.python.org/3.11/library/socket.html#socket.socket.recv_into)
    pub fn recv_into(&self, buf: &mut [u8], flags: i32) -> Result<usize> {
        self.call(false, |fd| sys::recvfrom(fd, buf, flags))
    }

    /// `sendto(fd, data, len, MSG_NOSIGNAL, NULL, 0)`, once: how many bytes went out.
    ///
    /// # References
    ///
    /// - Linux man page: [`send(2)`](https://man7.org/linux/man-pages/man2/send.2.html)
    /// - POSIX: [`sendto`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/sendto.html)
    /// - Python: [`socket.socket.send`](https://docs.python.org/3.11/library/socket.html#socket.socket.send)
    #[doc(alias = "sendto")]
    pub fn send(&self, data: &[u8]) -> Result<usize> {
        self.send_flags(data, 0)
    }

    /// `sendto` with extra `flags` (`MSG_OOB` for urgent data); `MSG_NOSIGNAL` is always added.
    ///
    /// # References
    ///
    /// - Linux man page: [`send(2)`](https://man7.org/linux/man-pages/man2/send.2.html)
    /// - POSIX: [`sendto`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/sendto.html)
    /// - Python: [`socket.socket.send`](https://docs.python.org/3.11/library/socket.html#socket.socket.send)
    pub fn send_flags(&self, data: &[u8], flags: i32) -> Result<usize> {
        let flags = flags | libc::MSG_NOSIGNAL;
        self.call(true, |fd| sys::sendto(fd, data, flags))
    }

    /// `sendto` until every byte is out, across partial writes and `EINTR`. With a timeout,
    /// one deadline covers the whole transfer, as in Python.
    ///
    /// # References
    ///
    /// - Linux man page: [`send(2)`](https://man7.org/linux/man-pages/man2/send.2.html)
    /// - POSIX: [`sendto`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/sendto.html)
    /// - Python: [`socket.socket.sendall`](https://docs.python.org/3.11/library/socket.html#socket.socket.sendall)
    pub fn sendall(&self, mut data: &[u8]) -> Result<()> {
        let deadline = self.deadline();
        while !data.is_empty() {
            // As CPython's sendall: give up once the interval left is <= 0.
            if deadline.is_some_and(|d| d.left().is_none_or(|left| left.is_zero())) {
                return Err(Error::Timeout);
            }
            let n = self.call_within(true, deadline, |fd| {
                sys::sendto(fd, data, libc::MSG_NOSIGNAL)
            })?;
            data = &data[n..];
            // As CPython's sendall: the signal handlers run between sends.
            signals::check_signals()?;
        }
        Ok(())
    }

    /// `ioctl(fd, FIONBIO, ..)`: Python's `settimeout`. `None` blocks; `Some(0.0)` makes the socket non-blocking; a
    /// positive value makes every blocking-style call wait at most that long. Each call is one
    /// `ioctl(FIONBIO)`. A negative value is `Value("Timeout value out of range")`.
    ///
    /// # References
    ///
    /// - Linux man page: [`ioctl(2)`](https://man7.org/linux/man-pages/man2/ioctl.2.html)
    /// - Python: [`socket.socket.settimeout`](https://docs.python.org/3.11/library/socket.html#socket.socket.settimeout)
    #[doc(alias = "ioctl")]
    #[doc(alias = "FIONBIO")]
    pub fn settimeout(&mut self, timeout: Option<f64>) -> Result<()> {
        let ns = match timeout {
            None => None,
            Some(seconds) => {
                let ns = timeout::seconds_to_ns(seconds)?;
                if ns < 0 {
                    return Err(Error::socket_timeout_out_of_range());
                }
                Some(ns)
            }
        };
        sys::set_nonblocking(self.fileno(), ns.is_some())?;
        self.timeout_ns = ns;
        Ok(())
    }

    /// Python's `setblocking`: `setblocking(true)` is `settimeout(None)`, `false` is
    /// `settimeout(Some(0.0))`.
    ///
    /// # References
    ///
    /// - Linux man page: [`ioctl(2)`](https://man7.org/linux/man-pages/man2/ioctl.2.html)
    /// - Python: [`socket.socket.setblocking`](https://docs.python.org/3.11/library/socket.html#socket.socket.setblocking)
    pub fn setblocking(&mut self, blocking: bool) -> Result<()> {
        self.settimeout(if blocking { None } else { Some(0.0) })
    }

    /// The timeout in seconds, as Python's `gettimeout` (nanoseconds / 1e9).
    ///
    /// # References
    ///
    /// - Python: [`socket.socket.gettimeout`](https://docs.python.org/3.11/library/socket.html#socket.socket.gettimeout)
    pub fn gettimeout(&self) -> Option<f64> {
        self.timeout_ns.map(|ns| ns as f64 / 1e9)
    }

    /// When a blocking-style call started now must give up: `None` without a (positive)
    /// timeout.
    fn deadline(&self) -> Option<Deadline> {
        self.timeout_ns
            .filter(|&ns| ns > 0)
            .map(|ns| Deadline::start(Duration::from_nanos(ns as u64)))
    }

    /// `setsockopt(fd, level, name, &value, sizeof(int))`.
    ///
    /// # References
    ///
    /// - Linux man page: [`getsockopt(2)`](https://man7.org/linux/man-pages/man2/getsockopt.2.html)
    /// - POSIX: [`setsockopt`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/setsockopt.html)
    /// - Python: [`socket.socket.setsockopt`](https://docs.python.org/3.11/library/socket.html#socket.socket.setsockopt)
    pub fn setsockopt(&self, level: i32, name: i32, value: i32) -> Result<()> {
        sys::setsockopt(self.fileno(), level, name, value)?;
        Ok(())
    }

    /// `getsockopt(fd, level, name, &int, &len)` for an integer option.
    ///
    /// # References
    ///
    /// - Linux man page: [`getsockopt(2)`](https://man7.org/linux/man-pages/man2/getsockopt.2.html)
    /// - POSIX: [`getsockopt`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/getsockopt.html)
    /// - Python: [`socket.socket.getsockopt`](https://docs.python.org/3.11/library/socket.html#socket.socket.getsockopt)
    pub fn getsockopt(&self, level: i32, name: i32) -> Result<i32> {
        Ok(sys::getsockopt(self.fileno(), level, name)?)
    }

    /// `setsockopt(SO_LINGER)`: `Some(0)` makes `close()` reset the connection.
    ///
    /// # References
    ///
    /// - Linux man pages: [`getsockopt(2)`](https://man7.org/linux/man-pages/man2/getsockopt.2.html), [`socket(7)`](https://man7.org/linux/man-pages/man7/socket.7.html)
    /// - POSIX: [`setsockopt`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/setsockopt.html)
    /// - Python: [`socket.socket.setsockopt`](https://docs.python.org/3.11/library/socket.html#socket.socket.setsockopt)
    pub fn set_linger(&self, seconds: Option<i32>) -> Result<()> {
        sys::set_linger(self.fileno(), seconds)?;
        Ok(())
    }

    /// `getsockname(2)`.
    ///
    /// # References
    ///
    /// - Linux man page: [`getsockname(2)`](https://man7.org/linux/man-pages/man2/getsockname.2.html)
    /// - POSIX: [`getsockname`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/getsockname.html)
    /// - Python: [`socket.socket.getsockname`](https://docs.python.org/3.11/library/socket.html#socket.socket.getsockname)
    pub fn getsockname(&self) -> Result<SocketAddr> {
        Ok(sys::getsockname(self.fileno())?)
    }

    /// `getpeername(2)`.
    ///
    /// # References
    ///
    /// - Linux man page: [`getpeername(2)`](https://man7.org/linux/man-pages/man2/getpeername.2.html)
    /// - POSIX: [`getpeername`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/getpeername.html)
    /// - Python: [`socket.socket.getpeername`](https://docs.python.org/3.11/library/socket.html#socket.socket.getpeername)
    pub fn getpeername(&self) -> Result<SocketAddr> {
        Ok(sys::getpeername(self.fileno())?)
    }

    /// `shutdown(2)`.
    ///
    /// # References
    ///
    /// - Linux man page: [`shutdown(2)`](https://man7.org/linux/man-pages/man2/shutdown.2.html)
    /// - POSIX: [`shutdown`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/shutdown.html)
    /// - Python: [`socket.socket.shutdown`](https://docs.python.org/3.11/library/socket.html#socket.socket.shutdown)
    pub fn shutdown(&self, how: Shutdown) -> Result<()> {
        let how = match how {
            Shutdown::Read => libc::SHUT_RD,
            Shutdown::Write => libc::SHUT_WR,
            Shutdown::Both => libc::SHUT_RDWR,
        };
        sys::shutdown(self.fileno(), how)?;
        Ok(())
    }

    /// `close(2)`. Idempotent: a second call does nothing; `fileno()` is then -1.
    ///
    /// # References
    ///
    /// - Linux man page: [`close(2)`](https://man7.org/linux/man-pages/man2/close.2.html)
    /// - POSIX: [`close`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/close.html)
    /// - Python: [`socket.socket.close`](https://docs.python.org/3.11/library/socket.html#socket.socket.close)
    pub fn close(&mut self) -> Result<()> {
        let Some(fd) = self.fd.take() else {
            return Ok(());
        };
        match sys::close(fd) {
            // As CPython: ECONNRESET from close() is not an error worth raising.
            Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => Ok(()),
            other => Ok(other?),
        }
    }

    /// Wait with `poll()` until the socket is ready for `events`, at most until `deadline`.
    fn wait_for(&self, events: i16, deadline: Option<Deadline>) -> Result<()> {
        // A closed socket is "ready", as in CPython: the syscall then fails with EBADF at
        // once instead of poll() ignoring fd -1 until the timeout runs out.
        if self.fd.is_none() {
            return Ok(());
        }
        let ms = match deadline {
            None => -1,
            Some(d) => match d.left() {
                Some(left) => timeout::poll_ms(left),
                None => return Err(Error::Timeout),
            },
        };
        // A retry after EINTR waits for the time left; once it has passed, a timeout.
        let fd = self.fileno();
        match retry::pep475(deadline, |left| {
            sys::poll_one(fd, events, left.map_or(ms, timeout::poll_ms))
        })? {
            None | Some(0) => Err(Error::Timeout),
            Some(_) => Ok(()),
        }
    }

    /// CPython's `sock_call`: with a timeout, wait for readiness first; make the syscall,
    /// retrying on `EINTR`; on `EAGAIN` with a timeout, wait again.
    fn call<R>(&self, writing: bool, f: impl FnMut(RawFd) -> io::Result<R>) -> Result<R> {
        self.call_within(writing, self.deadline(), f)
    }

    /// [`Socket::call`] against a given deadline (`sendall` shares one across its sends).
    fn call_within<R>(
        &self,
        writing: bool,
        deadline: Option<Deadline>,
        mut f: impl FnMut(RawFd) -> io::Result<R>,
    ) -> Result<R> {
        let events = if writing { libc::POLLOUT } else { libc::POLLIN };
        // A watched signal that arrived while the program was busy elsewhere is reported
        // before blocking, as CPython runs its handlers before the next call.
        signals::refuse_pending()?;
        loop {
            if deadline.is_some() {
                self.wait_for(events, deadline)?;
            }
            // The call itself has no deadline: EINTR retries it as it was.
            match retry::pep475(None, |_| f(self.fileno())) {
                Ok(Some(r)) => return Ok(r),
                Err(Error::Os(e)) if deadline.is_some() && would_block(&e) => {}
                Err(e) => return Err(e),
                // Without a deadline pep475 never gives up on its own.
                Ok(None) => return Err(Error::Timeout),
            }
        }
    }
}

impl FileNo for Socket {
    fn fileno(&self) -> RawFd {
        Socket::fileno(self)
    }
}

// Interop with std and other crates, in the shape socket2 gives its `Socket`: the raw fd, and
// conversions from and to `OwnedFd`. Two differences, both from Python's semantics: a pyselect
// socket can be closed and still exist (`fileno()` is then -1), and it knows its family and
// type. So the conversions that need an open socket of a known family are `TryFrom`, and there
// is no `AsFd`: a `BorrowedFd` cannot stand for "closed", and the crate does not panic.

/// The fd, as [`Socket::fileno`]: -1 once the socket is closed (as Python's `fileno()`).
impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fileno()
    }
}

/// Adopt an open socket made elsewhere (a std `TcpStream`, a `socket2::Socket`...), as
/// Python's `socket.socket(fileno=fd)` does: its family comes from `getsockname(2)` and its
/// type from `getsockopt(SO_TYPE)`. The new `Socket` has no timeout (`gettimeout()` is `None`);
/// the fd's `O_NONBLOCK` flag is left as it is, as in Python.
///
/// Errors: not a socket is [`Error::Os`] `ENOTSOCK`; a family other than IPv4/IPv6 (a Unix
/// socket, say) is `EAFNOSUPPORT`; a type other than stream/datagram is `ESOCKTNOSUPPORT`.
/// On error the descriptor, given away by value, is closed.
impl TryFrom<OwnedFd> for Socket {
    type Error = Error;

    fn try_from(fd: OwnedFd) -> Result<Socket> {
        let family = Family::of(&sys::getsockname(fd.as_raw_fd())?);
        let ty = match sys::getsockopt::<i32>(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TYPE)? {
            libc::SOCK_STREAM => Type::Stream,
            libc::SOCK_DGRAM => Type::Dgram,
            _ => return Err(io::Error::from_raw_os_error(libc::ESOCKTNOSUPPORT).into()),
        };
        Ok(Socket {
            fd: Some(fd),
            family,
            ty,
            timeout_ns: None,
        })
    }
}

/// Give the descriptor away, open, without a syscall (Python's `detach()`); the receiver now
/// owns and closes it. It keeps its `O_NONBLOCK` flag, which [`Socket::settimeout`] may have
/// set. A closed socket has no descriptor to give: [`Error::Os`] `EBADF`, as any call on it.
impl TryFrom<Socket> for OwnedFd {
    type Error = Error;

    fn try_from(sock: Socket) -> Result<OwnedFd> {
        sock.fd
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF).into())
    }
}
