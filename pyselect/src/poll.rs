//! [`Poll`]: Python's `select.poll()` object on POSIX `poll(2)`.
//!
//! The algorithm, as CPython's `Modules/selectmodule.c`: a map fd -> event mask in registration
//! order (a Python dict), and a `struct pollfd` array rebuilt from it only when the map changed
//! since the last `poll()`. `register`/`modify`/`unregister` touch only the map, so they make
//! no syscall; `poll()` makes one `poll(2)` (more only when a signal interrupts it).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::os::fd::RawFd;

use crate::error::{Error, Result};
use crate::fileno::FileNo;
use crate::retry;
use crate::sys;
use crate::timeout::{self, MsTimeout};

/// `POLLIN` (1): there is data to read.
pub const POLLIN: u16 = libc::POLLIN as u16;
/// `POLLPRI` (2): there is urgent data to read (TCP out-of-band data).
pub const POLLPRI: u16 = libc::POLLPRI as u16;
/// `POLLOUT` (4): writing will not block.
pub const POLLOUT: u16 = libc::POLLOUT as u16;
/// `POLLERR` (8): an error condition; reported even when not asked for.
pub const POLLERR: u16 = libc::POLLERR as u16;
/// `POLLHUP` (16): hang up; reported even when not asked for.
pub const POLLHUP: u16 = libc::POLLHUP as u16;
/// `POLLNVAL` (32): the fd is not open; reported even when not asked for.
pub const POLLNVAL: u16 = libc::POLLNVAL as u16;
/// `POLLRDNORM` (64): normal data to read.
pub const POLLRDNORM: u16 = libc::POLLRDNORM as u16;
/// `POLLRDBAND` (128): priority band data to read.
pub const POLLRDBAND: u16 = libc::POLLRDBAND as u16;
/// `POLLWRNORM` (256): writing normal data will not block.
pub const POLLWRNORM: u16 = libc::POLLWRNORM as u16;
/// `POLLWRBAND` (512): writing priority data will not block.
pub const POLLWRBAND: u16 = libc::POLLWRBAND as u16;
/// `POLLMSG` (1024): unused by Linux; Python exports it.
pub const POLLMSG: u16 = 0x400;
/// `POLLRDHUP` (8192): the peer closed its end or shut down writing.
pub const POLLRDHUP: u16 = libc::POLLRDHUP as u16;

/// The mask `register` uses when given none: `POLLIN | POLLPRI | POLLOUT`, as Python's.
const DEFAULT_MASK: u16 = POLLIN | POLLPRI | POLLOUT;

/// A slot of the registration map that `unregister` emptied (its fd is never negative).
const REMOVED: RawFd = -1;

/// `poll(2)` with a registration set, as Python's `select.poll()` object.
///
/// ```
/// use pyselect::{Poll, POLLIN, POLLOUT};
/// use std::io::Write;
/// use std::os::unix::net::UnixStream;
///
/// let (a, mut b) = UnixStream::pair()?;
/// let mut p = Poll::new();                       // no syscall
/// p.register(&a, Some(POLLIN))?;                 // no syscall
/// assert_eq!(p.poll(Some(0.0))?, vec![]);        // poll([{fd=3, events=POLLIN}], 1, 0)
/// b.write_all(b"x")?;
/// p.register(&b, Some(POLLOUT))?;
/// let ready = p.poll(Some(1500.0))?;             // the timeout is in MILLISECONDS
/// use std::os::fd::AsRawFd;
/// assert_eq!(ready, vec![(a.as_raw_fd(), POLLIN), (b.as_raw_fd(), POLLOUT)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Behaviour, as CPython 3.11 on Linux:
/// - the fds are kept in registration order (Python's dict order): registering an fd again
///   overwrites its mask and keeps its place; `unregister` and `register` again moves it last.
///   `poll()` passes them in that order and returns `(fd, revents)` pairs in that order;
/// - a negative fd is [`Error::Value`] (`file descriptor cannot be a negative integer (-1)`);
///   fds are not checked against `FD_SETSIZE` or for being open: a closed fd comes back as
///   `(fd, POLLNVAL)`, and fds above 1,023 are fine;
/// - `modify` of an unregistered fd is [`Error::Os`] `[Errno 2] No such file or directory`,
///   `unregister` of one is [`Error::Key`] whose text is the fd;
/// - the timeout is in milliseconds, converted by [`timeout::poll_timeout`] (every negative
///   value blocks, `0.0001` waits 1 ms);
/// - on `EINTR` the call is retried with the time left, rounded up to whole ms (PEP 475), or
///   returns an empty list once the deadline has passed, unless a signal the program watches
///   ([`crate::signals`]) arrived: then [`Error::Interrupted`].
///
/// Where it differs from CPython, because Rust's types make the error impossible: a mask is a
/// `u16`, so Python's `value must be positive` and `Python int too large for C unsigned short`
/// cannot happen; the timeout is an `f64`, so the integer-path errors (`timeout must be an
/// integer or None`, `timestamp too large to convert to C _PyTime_t`) cannot either; `poll`
/// takes `&mut self`, so `RuntimeError('concurrent poll() invocation')` is ruled out at compile
/// time, and so is changing the registrations from another thread during a `poll()`. Like
/// `select()`, `poll` returns [`Error::Interrupted`] at once when a watched signal is already
/// pending, before its first syscall.
///
/// # References
///
/// - Linux man page: [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html)
/// - POSIX: [`poll`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/poll.html)
/// - Python: [`select.poll`](https://docs.python.org/3.11/library/select.html#select.poll)
#[doc(alias = "poll")]
#[derive(Clone, Default)]
pub struct Poll {
    /// (fd, mask) in registration order; unregistered slots hold [`REMOVED`].
    entries: Vec<(RawFd, u16)>,
    /// fd -> its slot in `entries`.
    index: HashMap<RawFd, usize>,
    /// The array handed to poll(2), valid while `uptodate`.
    ufds: Vec<libc::pollfd>,
    /// False after any register/modify/unregister (CPython's `ufd_uptodate`).
    uptodate: bool,
}

impl fmt::Debug for Poll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.registered()).finish()
    }
}

impl Poll {
    /// A new, empty poll object; no syscall (Python's `select.poll()`).
    pub fn new() -> Self {
        Self::default()
    }

    /// No syscall: add `fd` with `eventmask` (default `POLLIN | POLLPRI | POLLOUT`), as
    /// Python's `poll.register(fd, eventmask)`; an fd already registered gets the new mask and
    /// keeps its place.
    ///
    /// A negative fd is [`Error::Value`], with `select()`'s message. Any 16-bit mask is taken
    /// as it is, unknown bits included.
    ///
    /// # References
    ///
    /// - Linux man page: [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html)
    /// - Python: [`select.poll.register`](https://docs.python.org/3.11/library/select.html#select.poll.register)
    pub fn register<T: FileNo>(&mut self, fd: T, eventmask: Option<u16>) -> Result<()> {
        let fd = checked_fd(&fd)?;
        let mask = eventmask.unwrap_or(DEFAULT_MASK);
        match self.index.get(&fd) {
            Some(&slot) => self.entries[slot].1 = mask,
            None => {
                self.index.insert(fd, self.entries.len());
                self.entries.push((fd, mask));
            }
        }
        self.uptodate = false;
        Ok(())
    }

    /// No syscall: change the mask of a registered fd, as Python's `poll.modify(fd, eventmask)`.
    ///
    /// An fd not registered is [`Error::Os`] `[Errno 2] No such file or directory` (CPython
    /// sets `errno = ENOENT` itself).
    ///
    /// # References
    ///
    /// - Linux man page: [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html)
    /// - Python: [`select.poll.modify`](https://docs.python.org/3.11/library/select.html#select.poll.modify)
    pub fn modify<T: FileNo>(&mut self, fd: T, eventmask: u16) -> Result<()> {
        let fd = checked_fd(&fd)?;
        let Some(&slot) = self.index.get(&fd) else {
            return Err(Error::Os(io::Error::from_raw_os_error(libc::ENOENT)));
        };
        self.entries[slot].1 = eventmask;
        self.uptodate = false;
        Ok(())
    }

    /// No syscall: remove a registered fd, as Python's `poll.unregister(fd)`.
    ///
    /// An fd not registered is [`Error::Key`]; its text is the fd (`str(KeyError(3))` is `3`).
    ///
    /// # References
    ///
    /// - Python: [`select.poll.unregister`](https://docs.python.org/3.11/library/select.html#select.poll.unregister)
    pub fn unregister<T: FileNo>(&mut self, fd: T) -> Result<()> {
        let fd = checked_fd(&fd)?;
        let Some(slot) = self.index.remove(&fd) else {
            return Err(Error::key_fd(fd));
        };
        self.entries[slot].0 = REMOVED;
        // Keep the map compact: squeeze the holes out once they are half of it.
        if self.entries.len() >= 8 && self.index.len() * 2 < self.entries.len() {
            self.entries.retain(|&(fd, _)| fd != REMOVED);
            for (slot, &(fd, _)) in self.entries.iter().enumerate() {
                self.index.insert(fd, slot);
            }
        }
        self.uptodate = false;
        Ok(())
    }

    /// The registered fds and their masks, in registration order (the order `poll()` passes).
    pub(crate) fn registered(&self) -> impl Iterator<Item = (RawFd, u16)> + '_ {
        self.entries
            .iter()
            .copied()
            .filter(|&(fd, _)| fd != REMOVED)
    }

    /// `poll(2)`: wait until a registered fd is ready, as Python's `poll.poll(timeout)`, and
    /// return the `(fd, revents)` pairs with a non-zero `revents`, in registration order.
    ///
    /// `timeout_ms` is in **milliseconds** (unlike every other timeout of the crate): `None` or
    /// any negative value waits for ever, `Some(0.0)` returns at once. `POLLERR`, `POLLHUP` and
    /// `POLLNVAL` are reported even when not asked for. A poll object with nothing registered
    /// calls `poll([], 0, ms)`: a plain sleep.
    ///
    /// Errors: the timeout's (checked first, before the array is rebuilt), the kernel's as
    /// [`Error::Os`] (`EINVAL` for more fds than `RLIMIT_NOFILE`), [`Error::Interrupted`] for a
    /// watched signal.
    ///
    /// # References
    ///
    /// - Linux man page: [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html)
    /// - POSIX: [`poll`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/poll.html)
    /// - Python: [`select.poll.poll`](https://docs.python.org/3.11/library/select.html#select.poll.poll)
    pub fn poll(&mut self, timeout_ms: Option<f64>) -> Result<Vec<(RawFd, u16)>> {
        let mut ready = Vec::new();
        self.poll_into(timeout_ms, &mut ready)?;
        Ok(ready)
    }

    /// [`Poll::poll`] into a vector that lives across calls: the same checks, `poll(2)` call,
    /// `EINTR` retries, errors and `(fd, revents)` pairs, written into `ready` instead of a new
    /// `Vec`.
    ///
    /// `ready` is cleared first, whatever happens: on `Ok(())` it holds exactly what
    /// [`Poll::poll`] would return, on an error nothing. Once it has grown to the most fds
    /// ever ready at once, a call allocates nothing (the `pollfd` array is kept by the object,
    /// as for [`Poll::poll`]).
    ///
    /// ```
    /// use pyselect::{Poll, POLLIN};
    /// use std::io::Write;
    /// use std::os::fd::AsRawFd;
    /// use std::os::unix::net::UnixStream;
    ///
    /// let (a, mut b) = UnixStream::pair()?;
    /// let mut p = Poll::new();
    /// p.register(&a, Some(POLLIN))?;
    /// let mut ready = Vec::new();
    /// p.poll_into(Some(0.0), &mut ready)?;        // poll([{fd=3, events=POLLIN}], 1, 0)
    /// assert!(ready.is_empty());
    /// b.write_all(b"x")?;
    /// p.poll_into(Some(1500.0), &mut ready)?;     // milliseconds, as Poll::poll
    /// assert_eq!(ready, [(a.as_raw_fd(), POLLIN)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # References
    ///
    /// - Linux man page: [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html)
    /// - Python: [`poll.poll`](https://docs.python.org/3.11/library/select.html#select.poll.poll)
    #[doc(alias = "poll")]
    pub fn poll_into(
        &mut self,
        timeout_ms: Option<f64>,
        ready: &mut Vec<(RawFd, u16)>,
    ) -> Result<()> {
        ready.clear();
        let timeout = match timeout_ms {
            None => MsTimeout { ms: -1, wait: None },
            Some(t) => timeout::poll_timeout(t)?,
        };
        if !self.uptodate {
            self.rebuild();
        }
        let ufds = &mut self.ufds;
        if let Some(n) = retry::retry_ms(timeout, |ms| sys::poll(ufds, ms))? {
            self.ready(n, ready);
        }
        Ok(())
    }

    /// Refill the pollfd array from the map, in registration order (CPython's
    /// `update_ufd_array`). The mask goes in as `(short)(unsigned short)mask`.
    fn rebuild(&mut self) {
        self.ufds.clear();
        let live = self.entries.iter().filter(|&&(fd, _)| fd != REMOVED);
        self.ufds.extend(live.map(|&(fd, mask)| libc::pollfd {
            fd,
            events: mask as i16,
            revents: 0,
        }));
        self.uptodate = true;
    }

    /// The first `n` entries with a non-zero `revents`, in array order, into `out` (empty).
    #[inline]
    fn ready(&self, n: usize, out: &mut Vec<(RawFd, u16)>) {
        debug_assert!(out.is_empty());
        out.reserve_exact(n);
        // The scan stops at the n-th, as CPython's does.
        for p in &self.ufds {
            if out.len() == n {
                break;
            }
            if p.revents != 0 {
                out.push((p.fd, p.revents as u16));
            }
        }
    }
}

/// `fileno()` once, refused when negative (CPython's `PyObject_AsFileDescriptor`).
pub(crate) fn checked_fd<T: FileNo>(fd: &T) -> Result<RawFd> {
    match fd.fileno() {
        fd if fd < 0 => Err(Error::negative_fd(fd)),
        fd => Ok(fd),
    }
}
