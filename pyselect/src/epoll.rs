//! [`Epoll`]: Python's `select.epoll` object on Linux `epoll(7)`.
//!
//! The algorithm, as CPython's `Modules/selectmodule.c`: the object owns one epoll fd; each of
//! `register`/`modify`/`unregister` is one `epoll_ctl(2)` whose error is the kernel's errno;
//! `poll()` is one `epoll_wait(2)` into a buffer of `maxevents` events (more calls only when a
//! signal interrupts it). Interest lives in the kernel, so a wait costs what is ready,
//! not what is watched.

use std::cell::Cell;
use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};
use crate::fdset::FD_SETSIZE;
use crate::fileno::FileNo;
use crate::poll::checked_fd;
use crate::retry;
use crate::sys;
use crate::timeout::{self, MsTimeout};

/// `EPOLLIN` (1): there is data to read.
pub const EPOLLIN: u32 = libc::EPOLLIN as u32;
/// `EPOLLPRI` (2): there is urgent data to read (TCP out-of-band data).
pub const EPOLLPRI: u32 = libc::EPOLLPRI as u32;
/// `EPOLLOUT` (4): writing will not block.
pub const EPOLLOUT: u32 = libc::EPOLLOUT as u32;
/// `EPOLLERR` (8): an error condition; always reported.
pub const EPOLLERR: u32 = libc::EPOLLERR as u32;
/// `EPOLLHUP` (16): hang up; always reported.
pub const EPOLLHUP: u32 = libc::EPOLLHUP as u32;
/// `EPOLLRDNORM` (64): normal data to read.
pub const EPOLLRDNORM: u32 = libc::EPOLLRDNORM as u32;
/// `EPOLLRDBAND` (128): priority band data to read.
pub const EPOLLRDBAND: u32 = libc::EPOLLRDBAND as u32;
/// `EPOLLWRNORM` (256): writing normal data will not block.
pub const EPOLLWRNORM: u32 = libc::EPOLLWRNORM as u32;
/// `EPOLLWRBAND` (512): writing priority data will not block.
pub const EPOLLWRBAND: u32 = libc::EPOLLWRBAND as u32;
/// `EPOLLMSG` (1024): unused by Linux; Python exports it.
pub const EPOLLMSG: u32 = libc::EPOLLMSG as u32;
/// `EPOLLRDHUP` (8192): the peer closed its end or shut down writing.
pub const EPOLLRDHUP: u32 = libc::EPOLLRDHUP as u32;
/// `EPOLLEXCLUSIVE` (1 << 28): wake only one of several epoll instances waiting on the fd.
pub const EPOLLEXCLUSIVE: u32 = libc::EPOLLEXCLUSIVE as u32;
/// `EPOLLONESHOT` (1 << 30): report once, then disable until `modify`.
pub const EPOLLONESHOT: u32 = libc::EPOLLONESHOT as u32;
/// `EPOLLET` (1 << 31): edge-triggered instead of level-triggered.
pub const EPOLLET: u32 = libc::EPOLLET as u32;
/// `EPOLL_CLOEXEC` (0o2000000): the one flag [`Epoll::with_options`] accepts (and always uses).
pub const EPOLL_CLOEXEC: i32 = libc::EPOLL_CLOEXEC;

/// The mask `register` uses when given none: `EPOLLIN | EPOLLPRI | EPOLLOUT`, as Python's.
const DEFAULT_MASK: u32 = EPOLLIN | EPOLLPRI | EPOLLOUT;

/// `maxevents` when given none or -1: `FD_SETSIZE - 1` (1023), as CPython.
const DEFAULT_MAXEVENTS: i32 = FD_SETSIZE as i32 - 1;

/// An epoll instance (`epoll_create1(2)`), as Python's `select.epoll`.
///
/// ```
/// use pyselect::{Epoll, EPOLLIN};
/// use std::io::Write;
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
///
/// let (a, mut b) = UnixStream::pair()?;
/// let mut ep = Epoll::new()?;                   // epoll_create1(EPOLL_CLOEXEC)
/// ep.register(&a, Some(EPOLLIN))?;              // epoll_ctl(EPOLL_CTL_ADD)
/// assert_eq!(ep.poll(Some(0.0), None)?, vec![]);  // epoll_wait(.., 1023, 0)
/// b.write_all(b"x")?;
/// let ready = ep.poll(Some(1.5), None)?;        // the timeout is in SECONDS
/// assert_eq!(ready, vec![(a.as_raw_fd(), EPOLLIN)]);
/// ep.unregister(&a)?;                           // epoll_ctl(EPOLL_CTL_DEL)
/// ep.close()?;                                  // close(2)
/// assert!(ep.closed());
/// assert_eq!(
///     ep.fileno().unwrap_err().to_string(),
///     "I/O operation on closed epoll object"
/// );
/// assert_eq!(
///     ep.poll(None, None).unwrap_err().to_string(),
///     "I/O operation on closed epoll object"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Behaviour, as CPython 3.11 on Linux:
/// - the epoll fd is created close-on-exec; dropping the object closes it;
/// - `register`, `modify` and `unregister` check the fd (negative: [`Error::Value`]), then
///   that the object is open, then make one `epoll_ctl`; its error is the kernel's
///   [`Error::Os`]: `[Errno 17] File exists` for a second `register`, `[Errno 2]` for an fd not
///   registered, `[Errno 9]` for an fd not open, `[Errno 1]` for a regular file;
/// - `poll` checks the object is open, then the timeout (in **seconds**, converted by
///   [`timeout::epoll_timeout`]: `-0.0001` returns at once, `-0.001` blocks), then
///   `maxevents`; results come in the kernel's ready order, at most 1,023 by default;
/// - `EINTR` is retried as [`crate::Poll::poll`] retries it (PEP 475), and a watched signal
///   ([`crate::signals`]) gives [`Error::Interrupted`].
///
/// Where it differs from CPython, because Rust's types make the error impossible: masks are
/// `u32` (Python truncates any int to 32 bits), the timeout is an `f64` (no integer-path
/// errors), `fromfd` takes an [`OwnedFd`] (so it cannot be given -1 or a number it does not
/// own). Where pyselect fixes a CPython bug:
/// - [`Epoll::close`] reports `close(2)`'s error; CPython's `epoll.close()` swallows it
///   (gh-146205). The object is closed either way.
/// - [`Epoll::fromfd`] wraps the fd it is given; CPython's `epoll.fromfd(-1)` silently creates a
///   new epoll instead.
/// - `epoll_ctl` gets `data.u64` equal to the fd, upper 32 bits zero; CPython sets only
///   `data.fd` and leaves the upper bits uninitialised (bpo-35561), which strace shows as a
///   garbage `u64`.
/// - A `maxevents` too large to allocate is [`Error::Os`] `ENOMEM` (Python's `MemoryError`);
///   one the kernel refuses (above `INT_MAX / 12`) is its `[Errno 22]`.
/// - `Epoll` has no `__enter__`/`__exit__`: `Drop` closes it.
/// - CPython allocates the event buffer on every `poll`; pyselect reuses one per thread when
///   `maxevents` is at most 1,023 (the kernel sees the same call, strace prints the same line).
/// - Like `select()`, `poll` returns [`Error::Interrupted`] at once when a watched signal is
///   already pending, before its first syscall.
///
/// # References
///
/// - Linux man pages: [`epoll(7)`](https://man7.org/linux/man-pages/man7/epoll.7.html), [`epoll_create(2)`](https://man7.org/linux/man-pages/man2/epoll_create.2.html), [`epoll_ctl(2)`](https://man7.org/linux/man-pages/man2/epoll_ctl.2.html), [`epoll_wait(2)`](https://man7.org/linux/man-pages/man2/epoll_wait.2.html)
/// - Python: [`select.epoll`](https://docs.python.org/3.11/library/select.html#select.epoll)
#[doc(alias = "epoll_create1")]
pub struct Epoll {
    /// The epoll fd; `None` once closed.
    fd: Option<OwnedFd>,
}

impl fmt::Debug for Epoll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Epoll")
            .field("fd", &FileNo::fileno(self))
            .finish()
    }
}

impl Epoll {
    /// `epoll_create1(EPOLL_CLOEXEC)`: a new epoll instance, as Python's `select.epoll()`.
    ///
    /// # References
    ///
    /// - Linux man page: [`epoll_create(2)`](https://man7.org/linux/man-pages/man2/epoll_create.2.html)
    /// - Python: [`select.epoll`](https://docs.python.org/3.11/library/select.html#select.epoll)
    #[doc(alias = "epoll_create1")]
    pub fn new() -> Result<Self> {
        Self::with_options(-1, 0)
    }

    /// `epoll_create1(EPOLL_CLOEXEC)` after checking Python's two arguments, as
    /// `select.epoll(sizehint, flags)`.
    ///
    /// `sizehint` is otherwise ignored; 0 or below -1 is `Value("negative sizehint")` (checked
    /// first). `flags` other than 0 and [`EPOLL_CLOEXEC`] is `OSError('invalid flags')`: an
    /// [`Error::Os`] whose `errno()` is `None`. The fd is close-on-exec whatever `flags` says.
    ///
    /// # References
    ///
    /// - Linux man page: [`epoll_create(2)`](https://man7.org/linux/man-pages/man2/epoll_create.2.html)
    /// - Python: [`select.epoll`](https://docs.python.org/3.11/library/select.html#select.epoll)
    #[doc(alias = "epoll_create1")]
    pub fn with_options(sizehint: i32, flags: i32) -> Result<Self> {
        if sizehint == 0 || sizehint < -1 {
            return Err(Error::negative_sizehint());
        }
        if flags != 0 && flags != EPOLL_CLOEXEC {
            return Err(Error::invalid_flags());
        }
        let fd = sys::epoll_create1(libc::EPOLL_CLOEXEC)?;
        Ok(Epoll { fd: Some(fd) })
    }

    /// No syscall: take ownership of an existing epoll fd, as Python's `epoll.fromfd(fd)`.
    ///
    /// The fd is not checked: if it is not an epoll instance, `poll` fails with the kernel's
    /// `[Errno 22]`. Unlike CPython, there is no "-1 means create a new one".
    ///
    /// # References
    ///
    /// - Python: [`select.epoll.fromfd`](https://docs.python.org/3.11/library/select.html#select.epoll.fromfd)
    pub fn fromfd(fd: OwnedFd) -> Self {
        Epoll { fd: Some(fd) }
    }

    /// `epoll_ctl(EPOLL_CTL_ADD)`: watch `fd` for `eventmask` (default `EPOLLIN | EPOLLPRI |
    /// EPOLLOUT`), as Python's `epoll.register(fd, eventmask)`.
    ///
    /// # References
    ///
    /// - Linux man page: [`epoll_ctl(2)`](https://man7.org/linux/man-pages/man2/epoll_ctl.2.html)
    /// - Python: [`select.epoll.register`](https://docs.python.org/3.11/library/select.html#select.epoll.register)
    #[doc(alias = "epoll_ctl")]
    pub fn register<T: FileNo>(&self, fd: T, eventmask: Option<u32>) -> Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, &fd, eventmask.unwrap_or(DEFAULT_MASK))
    }

    /// `epoll_ctl(EPOLL_CTL_MOD)`: change what a registered fd is watched for, as Python's
    /// `epoll.modify(fd, eventmask)`.
    ///
    /// # References
    ///
    /// - Linux man page: [`epoll_ctl(2)`](https://man7.org/linux/man-pages/man2/epoll_ctl.2.html)
    /// - Python: [`select.epoll.modify`](https://docs.python.org/3.11/library/select.html#select.epoll.modify)
    #[doc(alias = "epoll_ctl")]
    pub fn modify<T: FileNo>(&self, fd: T, eventmask: u32) -> Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, &fd, eventmask)
    }

    /// `epoll_ctl(EPOLL_CTL_DEL)`: stop watching `fd`, as Python's `epoll.unregister(fd)`.
    ///
    /// The event pointer passed is not NULL (the kernel ignores it), so strace shows an
    /// address, as for CPython.
    ///
    /// # References
    ///
    /// - Linux man page: [`epoll_ctl(2)`](https://man7.org/linux/man-pages/man2/epoll_ctl.2.html)
    /// - Python: [`select.epoll.unregister`](https://docs.python.org/3.11/library/select.html#select.epoll.unregister)
    #[doc(alias = "epoll_ctl")]
    pub fn unregister<T: FileNo>(&self, fd: T) -> Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, &fd, 0)
    }

    /// The fd first, then the closed check, then one `epoll_ctl` (CPython's order).
    fn ctl<T: FileNo>(&self, op: i32, fd: &T, mask: u32) -> Result<()> {
        let fd = checked_fd(fd)?;
        let epfd = self.open_fd()?;
        sys::epoll_ctl(epfd, op, fd, mask).map_err(Error::Os)
    }

    /// `epoll_wait(2)`: wait until a registered fd is ready, as Python's `epoll.poll(timeout,
    /// maxevents)`, and return at most `maxevents` `(fd, events)` pairs in the kernel's order.
    ///
    /// `timeout` is in **seconds**: `None` blocks, `Some(0.0)` returns at once; negative values
    /// block unless they round to 0 ms (`-0.0001`). `maxevents` `None` or `Some(-1)` means
    /// 1,023 (`FD_SETSIZE - 1`), so with more fds ready the rest wait for the next call; any
    /// other value below 1 is `Value("maxevents must be greater than 0, got N")`.
    ///
    /// Checks in CPython's order: closed, timeout, maxevents. Kernel errors are
    /// [`Error::Os`]; a watched signal is [`Error::Interrupted`].
    ///
    /// # References
    ///
    /// - Linux man page: [`epoll_wait(2)`](https://man7.org/linux/man-pages/man2/epoll_wait.2.html)
    /// - Python: [`select.epoll.poll`](https://docs.python.org/3.11/library/select.html#select.epoll.poll)
    #[doc(alias = "epoll_wait")]
    pub fn poll(&self, timeout: Option<f64>, maxevents: Option<i32>) -> Result<Vec<(RawFd, u32)>> {
        if maxevents.is_some_and(|n| n > DEFAULT_MAXEVENTS) {
            // A fresh buffer, as CPython's.
            let mut events = EpollEvents::new();
            self.poll_into(timeout, maxevents, &mut events)?;
            return Ok(events.iter().collect());
        }
        // Up to the default 1,023 events, this thread's buffer is reused (CPython allocates one
        // per call; the kernel sees the same call). Taken, so a nested use cannot alias it.
        let mut events = SCRATCH.with(|cell| cell.take());
        let result = self.poll_into(timeout, maxevents, &mut events);
        let ready = result.map(|()| events.iter().collect());
        SCRATCH.with(|cell| cell.set(events));
        ready
    }

    /// [`Epoll::poll`] into an event buffer that lives across calls: the same checks,
    /// `epoll_wait(2)` call, `EINTR` retries, errors and `(fd, events)` pairs, left in `events`
    /// (the very buffer the kernel wrote) instead of a new `Vec`.
    ///
    /// `events` is emptied first, whatever happens: on `Ok(())` [`EpollEvents::iter`] yields
    /// exactly what [`Epoll::poll`] would return, on an error nothing. Once the buffer has room
    /// for `maxevents` (1,023 by default, or [`EpollEvents::with_capacity`]), a call allocates
    /// nothing; a `maxevents` too large to allocate is [`Error::Os`] `ENOMEM`, as for
    /// [`Epoll::poll`].
    ///
    /// ```
    /// use pyselect::{Epoll, EpollEvents, EPOLLIN};
    /// use std::io::Write;
    /// use std::os::fd::AsRawFd;
    /// use std::os::unix::net::UnixStream;
    ///
    /// let (a, mut b) = UnixStream::pair()?;
    /// let ep = Epoll::new()?;
    /// ep.register(&a, Some(EPOLLIN))?;
    /// let mut events = EpollEvents::new();
    /// ep.poll_into(Some(0.0), None, &mut events)?;   // epoll_wait(4, .., 1023, 0)
    /// assert!(events.is_empty());
    /// b.write_all(b"x")?;
    /// ep.poll_into(Some(1.5), None, &mut events)?;   // seconds, as Epoll::poll
    /// assert_eq!(events.iter().collect::<Vec<_>>(), [(a.as_raw_fd(), EPOLLIN)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # References
    ///
    /// - Linux man page: [`epoll_wait(2)`](https://man7.org/linux/man-pages/man2/epoll_wait.2.html)
    /// - Python: [`epoll.poll`](https://docs.python.org/3.11/library/select.html#select.epoll.poll)
    #[doc(alias = "epoll_wait")]
    pub fn poll_into(
        &self,
        timeout: Option<f64>,
        maxevents: Option<i32>,
        events: &mut EpollEvents,
    ) -> Result<()> {
        let buf = &mut events.buf;
        buf.clear();
        let epfd = self.open_fd()?;
        let timeout = match timeout {
            None => MsTimeout { ms: -1, wait: None },
            Some(t) => timeout::epoll_timeout(t)?,
        };
        let maxevents = match maxevents {
            None | Some(-1) => DEFAULT_MAXEVENTS,
            Some(n) if n < 1 => return Err(Error::maxevents(n)),
            Some(n) => n,
        };
        // Not zeroed: the kernel writes what it returns. Nothing to do once the buffer has room.
        buf.try_reserve_exact(maxevents as usize)
            .map_err(|_| Error::Os(std::io::Error::from_raw_os_error(libc::ENOMEM)))?;
        // On a deadline passed during EINTR retries, the buffer is left empty.
        retry::retry_ms(timeout, |ms| sys::epoll_wait(epfd, buf, maxevents, ms))?;
        Ok(())
    }

    /// `close(2)` of the epoll fd, as Python's `epoll.close()`; a second call does nothing.
    ///
    /// Unlike CPython (gh-146205), an error of `close(2)` is returned; the object counts as
    /// closed afterwards either way, and the fd is not closed twice.
    ///
    /// # References
    ///
    /// - Linux man page: [`close(2)`](https://man7.org/linux/man-pages/man2/close.2.html)
    /// - POSIX: [`close`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/close.html)
    /// - Python: [`select.epoll.close`](https://docs.python.org/3.11/library/select.html#select.epoll.close)
    pub fn close(&mut self) -> Result<()> {
        match self.fd.take() {
            Some(fd) => sys::close(fd).map_err(Error::Os),
            None => Ok(()),
        }
    }

    /// No syscall: has [`Epoll::close`] been called? (Python's `epoll.closed`.)
    ///
    /// # References
    ///
    /// - Python: [`select.epoll.closed`](https://docs.python.org/3.11/library/select.html#select.epoll.closed)
    pub fn closed(&self) -> bool {
        self.fd.is_none()
    }

    /// No syscall: the epoll fd, as Python's `epoll.fileno()`; once closed, its
    /// `Value("I/O operation on closed epoll object")`.
    ///
    /// The [`FileNo`] and [`AsRawFd`] impls give -1 once closed instead (what a closed
    /// [`crate::Socket`] gives), so that a closed epoll passed where an fd is expected fails
    /// with the negative-fd error.
    ///
    /// # References
    ///
    /// - Python: [`select.epoll.fileno`](https://docs.python.org/3.11/library/select.html#select.epoll.fileno)
    pub fn fileno(&self) -> Result<RawFd> {
        self.open_fd()
    }

    /// The open fd, or CPython's closed-object `ValueError`.
    fn open_fd(&self) -> Result<RawFd> {
        match &self.fd {
            Some(fd) => Ok(fd.as_raw_fd()),
            None => Err(Error::epoll_closed()),
        }
    }
}

/// `close(2)` of the epoll fd unless [`Epoll::close`] already closed it (Python's
/// deallocation); an error cannot be reported here: call `close` to see it.
impl Drop for Epoll {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

thread_local! {
    /// The event buffer of this thread's last `Epoll::poll` with `maxevents` <= 1,023.
    static SCRATCH: Cell<EpollEvents> = const { Cell::new(EpollEvents::new()) };
}

/// The event buffer [`Epoll::poll_into`] hands to `epoll_wait(2)`, kept from call to call, and
/// the `(fd, events)` pairs the kernel wrote into it by the last call.
///
/// ```
/// use pyselect::EpollEvents;
///
/// let events = EpollEvents::with_capacity(64);   // room for maxevents up to 64
/// assert!(events.is_empty());
/// assert_eq!(events.iter().count(), 0);
/// ```
#[derive(Clone, Default)]
pub struct EpollEvents {
    /// What the kernel wrote, `data.u64` holding the fd in its low 32 bits.
    buf: Vec<libc::epoll_event>,
}

impl EpollEvents {
    /// An empty buffer; the first [`Epoll::poll_into`] allocates room for its `maxevents`.
    pub const fn new() -> Self {
        EpollEvents { buf: Vec::new() }
    }

    /// An empty buffer with room for `maxevents` events, so that calls with at most that many
    /// never allocate, not even the first.
    pub fn with_capacity(maxevents: usize) -> Self {
        EpollEvents {
            buf: Vec::with_capacity(maxevents),
        }
    }

    /// How many events the last call returned.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Did the last call return no event?
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The `(fd, events)` pair at `index`, in the kernel's order.
    pub fn get(&self, index: usize) -> Option<(RawFd, u32)> {
        self.buf.get(index).map(pair)
    }

    /// The `(fd, events)` pairs of the last call, in the kernel's order (what
    /// [`Epoll::poll`] returns).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (RawFd, u32)> + '_ {
        self.buf.iter().map(pair)
    }

    /// Forget the events, keeping the buffer.
    pub fn clear(&mut self) {
        self.buf.clear();
    }
}

/// `data` holds the fd in its low 32 bits (what CPython reads back as `data.fd`).
fn pair(ev: &libc::epoll_event) -> (RawFd, u32) {
    let (data, mask) = (ev.u64, ev.events);
    (data as u32 as RawFd, mask)
}

/// Prints the pairs, as `[(4, 1)]`.
impl fmt::Debug for EpollEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// No syscall: the epoll fd, -1 once closed.
impl FileNo for Epoll {
    fn fileno(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }
}

/// No syscall: the epoll fd, -1 once closed.
impl AsRawFd for Epoll {
    fn as_raw_fd(&self) -> RawFd {
        FileNo::fileno(self)
    }
}

/// No syscall: [`Epoll::fromfd`].
impl From<OwnedFd> for Epoll {
    fn from(fd: OwnedFd) -> Self {
        Epoll::fromfd(fd)
    }
}
