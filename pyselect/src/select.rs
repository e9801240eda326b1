//! [`select()`]: Python's `select.select(rlist, wlist, xlist, timeout)` on POSIX `select(2)`.

use std::os::fd::RawFd;

use crate::error::{Error, Result};
use crate::fdset::{FdSet, FD_SETSIZE};
use crate::fileno::FileNo;
use crate::timeout::{self, Deadline};
use crate::{signals, sys};

mod entries;
use entries::Entries;

/// The three ready lists `select()` returns: (readable, writable, exceptional).
pub type Ready<T> = (Vec<T>, Vec<T>, Vec<T>);

/// `select(2)`: wait until some of the given files are ready, as Python's
/// `select.select(rlist, wlist, xlist, timeout)`.
///
/// Each list may be any iterable of [`FileNo`] items (raw fds, `&Socket`, `&dyn FileNo`, std
/// sockets and files...). The result holds the very items given whose fd is ready, in input
/// order, repeats kept. `timeout` is in seconds; `None` waits for ever and `Some(0.0)` polls.
///
/// Behaviour, as CPython 3.11 on Linux:
/// - the timeout is checked first (`NaN`, out of range, negative), then the lists left to right,
///   `fileno()` once per entry; the first bad entry fails the call before any syscall;
/// - a negative fd, an fd `>= FD_SETSIZE` (never written into an `fd_set`) and a list of more
///   than `FD_SETSIZE` entries are [`Error::Value`] with CPython's messages;
/// - `nfds` is the highest fd + 1; an empty list is passed as NULL; `None` as a NULL timeval;
/// - on `EINTR` the call is retried with the time left on a monotonic deadline (PEP 475), or
///   returns three empty lists once it has passed, unless a signal the program asked to hear
///   about ([`crate::signals`]) arrived: then it returns [`Error::Interrupted`];
/// - a bad fd fails the whole call with [`Error::Os`] (`[Errno 9] Bad file descriptor`), but
///   only inside the process's fd table: the kernel caps `nfds` at the table's size (`FDSize`
///   in `/proc/self/status`, which grows as fds are opened), so a closed fd beyond it, though
///   below `FD_SETSIZE`, is never looked at, its bit comes back as given, and it is returned as
///   ready in every list it was in. CPython's `select.select([1000], [], [], 0)` in a fresh
///   interpreter returns `([1000], [], [])` the same way.
///
/// The seed's server loop, `select.select(read_socket_list, [], [])`, in Rust:
///
/// ```
/// use pyselect::{select, Socket};
///
/// let server_socket1 = Socket::tcp_v4()?;
/// server_socket1.bind(("127.0.0.1", 0))?;
/// server_socket1.listen(None)?;
/// let server_socket2 = Socket::tcp_v4()?;
/// server_socket2.bind(("127.0.0.1", 0))?;
/// server_socket2.listen(None)?;
///
/// // A client knocks on the second port.
/// let client = Socket::tcp_v4()?;
/// client.connect(("127.0.0.1", server_socket2.getsockname()?.port()))?;
///
/// let read_socket_list = [&server_socket1, &server_socket2];
/// let (conn_read_socket_list, _, _) = select(read_socket_list, [], [], None)?;
/// for conn_read_socket in conn_read_socket_list {
///     assert!(std::ptr::eq(conn_read_socket, &server_socket2));
///     let (client_socket, client_addr) = conn_read_socket.accept()?;
///     assert_eq!(client_addr.ip().to_string(), "127.0.0.1");
///     drop(client_socket);
/// }
/// # Ok::<(), pyselect::Error>(())
/// ```
#[doc(alias = "pselect6")]
pub fn select<T, R, W, X>(rlist: R, wlist: W, xlist: X, timeout: Option<f64>) -> Result<Ready<T>>
where
    T: FileNo,
    R: IntoIterator<Item = T>,
    W: IntoIterator<Item = T>,
    X: IntoIterator<Item = T>,
{
    select_with(Syscall::Libc, rlist, wlist, xlist, timeout)
}

/// [`select()`] issuing the chosen [`Syscall`]: `Syscall::Select` makes strace show the
/// kernel's `select(` instead of glibc's `pselect6(`. Everything else is as [`select()`].
///
/// ```
/// use pyselect::{select_with, Syscall};
/// # if Syscall::raw_select_available() {
/// let (r, w, x) = select_with(Syscall::Select, [0], [1], [], Some(0.0))?;
/// # }
/// # Ok::<(), pyselect::Error>(())
/// ```
pub fn select_with<T, R, W, X>(
    syscall: Syscall,
    rlist: R,
    wlist: W,
    xlist: X,
    timeout: Option<f64>,
) -> Result<Ready<T>>
where
    T: FileNo,
    R: IntoIterator<Item = T>,
    W: IntoIterator<Item = T>,
    X: IntoIterator<Item = T>,
{
    let wait = match timeout {
        Some(seconds) => Some(timeout::select_timeout(seconds)?),
        None => None,
    };
    let (mut r, mut w, mut x) = (List::new(), List::new(), List::new());
    r.fill(rlist)?;
    w.fill(wlist)?;
    x.fill(xlist)?;
    let nfds = r.nfds.max(w.nfds).max(x.nfds);
    if syscall == Syscall::Select && !Syscall::raw_select_available() {
        return Err(Error::raw_select_unavailable());
    }

    signals::refuse_pending()?;
    // CPython reads the monotonic clock here, just before the first syscall (a zero timeout
    // reads none: its deadline is `Now`).
    let deadline = wait.map(|(_, ns)| Deadline::start(ns));
    let mut tv = wait.map(|(tv, _)| tv);
    // On failure Linux's select(2) leaves the sets as they were (select(2): "the file
    // descriptor sets are unmodified"; POSIX leaves them unspecified), so a retry after EINTR
    // passes the caller's sets again without copying them. No timeout: retry with NULL.
    let done = timeout::pep475(deadline, |left| {
        if let Some(left) = left {
            tv = Some(timeout::remaining_timeval(left));
        }
        call(
            syscall,
            nfds,
            r.raw_set(),
            w.raw_set(),
            x.raw_set(),
            tv.as_mut(),
        )
    })?;
    if done.is_none() {
        // The deadline has passed: three empty lists, no further syscall.
        return Ok((Vec::new(), Vec::new(), Vec::new()));
    }
    Ok((r.ready(), w.ready(), x.ready()))
}

/// A pause, as `select.select([], [], [], seconds)`: `select(0, NULL, NULL, NULL, &tv)`.
pub fn sleep(seconds: f64) -> Result<()> {
    select::<RawFd, _, _, _>([], [], [], Some(seconds)).map(drop)
}

/// Which system call [`select_with`] issues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Syscall {
    /// glibc's `select()`, which Linux's strace shows as `pselect6` (glibc implements
    /// `select()` with that syscall). What CPython uses, and the default.
    #[default]
    Libc,
    /// The kernel's own `select` syscall, so that strace shows `select(`. Only on x86-64
    /// Linux; elsewhere [`select_with`] fails with [`Error::NotImplemented`].
    Select,
}

impl Syscall {
    /// Is the raw `select` syscall available on this target?
    pub const fn raw_select_available() -> bool {
        cfg!(all(target_os = "linux", target_arch = "x86_64"))
    }
}

/// One of the three lists, converted: its entries and its set.
struct List<T> {
    entries: Entries<T>,
    /// `None` for an empty list, which is passed to the kernel as a NULL pointer.
    set: Option<FdSet>,
    /// Highest fd + 1, or 0 for an empty list.
    nfds: usize,
}

impl<T: FileNo> List<T> {
    fn new() -> Self {
        List {
            entries: Entries::Empty,
            set: None,
            nfds: 0,
        }
    }

    /// Convert one list as CPython's `seq2set` does: `fileno()` once per entry, in order; the
    /// first bad entry stops everything.
    ///
    /// Fills `self` in place (an empty list to start with) rather than returning a new one, so
    /// that the `fd_set` inside is never copied.
    fn fill(&mut self, list: impl IntoIterator<Item = T>) -> Result<()> {
        let mut iter = list.into_iter();
        // An empty list stays a NULL set: no fd_set is even built for it.
        let Some(first) = iter.next() else {
            return Ok(());
        };
        self.entries
            .reserve(iter.size_hint().0.saturating_add(1).min(FD_SETSIZE));
        let set = self.set.insert(FdSet::new());
        let fd = admit(set, &first, 0)?;
        self.nfds = fd as usize + 1;
        self.entries.push(fd, first);
        match &mut self.entries {
            // A long list: push straight into the vectors, without matching on every entry.
            Entries::Heap { fds, items } => {
                for item in iter {
                    let fd = admit(set, &item, items.len())?;
                    self.nfds = self.nfds.max(fd as usize + 1);
                    fds.push(fd);
                    items.push(item);
                }
            }
            entries => {
                for item in iter {
                    let fd = admit(set, &item, entries.len())?;
                    self.nfds = self.nfds.max(fd as usize + 1);
                    entries.push(fd, item);
                }
            }
        }
        Ok(())
    }

    /// After a successful call: the items whose fd the kernel left in the set.
    fn ready(&mut self) -> Vec<T> {
        match &self.set {
            // A NULL set: the list was empty.
            None => Vec::new(),
            Some(ready) => self.entries.take_ready(ready),
        }
    }

    /// The set for the syscall, or `None` (a NULL pointer) for an empty list.
    fn raw_set(&mut self) -> Option<&mut libc::fd_set> {
        self.set.as_mut().map(FdSet::as_raw_mut)
    }
}

/// One entry of a list, as CPython's `seq2set` takes it: `fileno()` once; a negative fd, an fd
/// `>= FD_SETSIZE` (never written into the set) and the `FD_SETSIZE + 1`-th entry are errors,
/// in that order. `count` is how many entries the list already holds.
#[inline]
fn admit<T: FileNo>(set: &mut FdSet, item: &T, count: usize) -> Result<RawFd> {
    let fd = item.fileno();
    if fd < 0 {
        return Err(Error::negative_fd(fd));
    }
    // insert() refuses fd >= FD_SETSIZE with CPython's message before touching the set.
    set.insert(fd)?;
    if count >= FD_SETSIZE {
        return Err(Error::too_many_fds());
    }
    Ok(fd)
}

/// One wait, with the chosen syscall.
fn call(
    syscall: Syscall,
    nfds: usize,
    rs: Option<&mut libc::fd_set>,
    ws: Option<&mut libc::fd_set>,
    xs: Option<&mut libc::fd_set>,
    tv: Option<&mut libc::timeval>,
) -> std::io::Result<usize> {
    match syscall {
        Syscall::Libc => sys::select(nfds, rs, ws, xs, tv),
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        Syscall::Select => sys::select_raw(nfds, rs, ws, xs, tv),
        #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
        Syscall::Select => Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "the raw select syscall exists only on x86-64 Linux",
        )),
    }
}
