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
///
/// # References
///
/// - Linux man page: [`select(2)`](https://man7.org/linux/man-pages/man2/select.2.html)
/// - POSIX: [`pselect`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/pselect.html)
/// - Python: [`select.select`](https://docs.python.org/3.11/library/select.html#select.select)
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
///
/// # References
///
/// - Linux man page: [`select(2)`](https://man7.org/linux/man-pages/man2/select.2.html)
/// - Python: [`select.select`](https://docs.python.org/3.11/library/select.html#select.select)
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
    let mut lists = [List::new(), List::new(), List::new()];
    if !wait_lists(syscall, rlist, wlist, xlist, timeout, &mut lists)? {
        // The deadline passed during EINTR retries: three empty lists.
        return Ok((Vec::new(), Vec::new(), Vec::new()));
    }
    let [r, w, x] = &mut lists;
    Ok((r.ready(), w.ready(), x.ready()))
}

/// The one implementation behind [`select_with`] and [`select_into_with`]: convert the
/// three lists into `lists`, then wait. `Ok(true)`: the kernel answered and each list's set
/// holds its ready fds; `Ok(false)`: the deadline passed during `EINTR` retries (nothing is
/// ready).
fn wait_lists<T, R, W, X>(
    syscall: Syscall,
    rlist: R,
    wlist: W,
    xlist: X,
    timeout: Option<f64>,
    lists: &mut [List<T>; 3],
) -> Result<bool>
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
    let [r, w, x] = lists;
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
    // `None`: the deadline has passed; nothing is ready, and no further syscall is made.
    Ok(done.is_some())
}

/// [`select()`] into buffers that live across calls: the same checks, syscalls, `EINTR`
/// retries, errors and ready items, written into `ready` instead of three new `Vec`s.
///
/// Python's `select.select` returns new lists on every call, and so does [`select()`]; a Rust
/// event loop that calls it again and again can keep one [`ReadyLists`] instead, as mio keeps
/// its `Events` and nix its `FdSet`. After the first few calls have grown its vectors, a call
/// allocates nothing. `ready` is cleared first, whatever happens: on `Ok(())` it holds the ready
/// items in input order, repeats kept, exactly the three lists [`select()`] would return; on an
/// error it is empty (the items given are dropped, as [`select()`] drops them).
///
/// ```
/// use pyselect::{select_into, ReadyLists};
/// use std::io::Write;
/// use std::os::fd::{AsRawFd, RawFd};
/// use std::os::unix::net::UnixStream;
///
/// let (a, mut b) = UnixStream::pair()?;
/// let fds: [RawFd; 1] = [a.as_raw_fd()];
/// let mut ready = ReadyLists::new();
/// select_into(fds, [], [], Some(0.0), &mut ready)?;     // pselect6(4, [3], NULL, NULL, {0, 0})
/// assert!(ready.readable.is_empty());
/// b.write_all(b"x")?;
/// select_into(fds, [], [], Some(1.5), &mut ready)?;     // the same buffers, filled again
/// assert_eq!(ready.readable, fds);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # References
///
/// - Linux man page: [`select(2)`](https://man7.org/linux/man-pages/man2/select.2.html)
/// - POSIX: [`pselect`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/pselect.html)
/// - Python: [`select.select`](https://docs.python.org/3.11/library/select.html#select.select)
#[doc(alias = "pselect6")]
pub fn select_into<T, R, W, X>(
    rlist: R,
    wlist: W,
    xlist: X,
    timeout: Option<f64>,
    ready: &mut ReadyLists<T>,
) -> Result<()>
where
    T: FileNo,
    R: IntoIterator<Item = T>,
    W: IntoIterator<Item = T>,
    X: IntoIterator<Item = T>,
{
    select_into_with(Syscall::Libc, rlist, wlist, xlist, timeout, ready)
}

/// [`select_into`] issuing the chosen [`Syscall`], as [`select_with`] is [`select()`] with one.
///
/// # References
///
/// - Linux man page: [`select(2)`](https://man7.org/linux/man-pages/man2/select.2.html)
pub fn select_into_with<T, R, W, X>(
    syscall: Syscall,
    rlist: R,
    wlist: W,
    xlist: X,
    timeout: Option<f64>,
    ready: &mut ReadyLists<T>,
) -> Result<()>
where
    T: FileNo,
    R: IntoIterator<Item = T>,
    W: IntoIterator<Item = T>,
    X: IntoIterator<Item = T>,
{
    // Each list is converted straight into the caller's vectors: its items into the ready
    // list they will be filtered in, its fds into the kept scratch vector beside it.
    let mut lists = ready.lend();
    let result = wait_lists(syscall, rlist, wlist, xlist, timeout, &mut lists);
    let answered = matches!(result, Ok(true));
    ready.take_back(lists, answered);
    result.map(drop)
}

/// The three lists [`select_into`] fills: (readable, writable, exceptional), as the tuple
/// [`select()`] returns, in vectors kept from call to call.
///
/// The lists are public to read and to take from; `select_into` clears them before it fills
/// them, so whatever a caller leaves in them is dropped by the next call. Besides them it keeps
/// each list's fds, so that a call converts every entry with `fileno()` once, as [`select()`]
/// does, without allocating.
#[derive(Debug)]
pub struct ReadyLists<T> {
    /// The ready items of `rlist`, in input order.
    pub readable: Vec<T>,
    /// The ready items of `wlist`, in input order.
    pub writable: Vec<T>,
    /// The ready items of `xlist`, in input order.
    pub exceptional: Vec<T>,
    /// Each list's fds, in input order, while a call runs (empty between calls).
    fds: [Vec<RawFd>; 3],
}

impl<T> ReadyLists<T> {
    /// Empty lists; nothing allocated until a call needs room.
    pub const fn new() -> Self {
        ReadyLists {
            readable: Vec::new(),
            writable: Vec::new(),
            exceptional: Vec::new(),
            fds: [Vec::new(), Vec::new(), Vec::new()],
        }
    }

    /// Room for `n` entries in each list, so that calls of up to `n` fds per list never
    /// allocate, not even the first.
    pub fn with_capacity(n: usize) -> Self {
        ReadyLists {
            readable: Vec::with_capacity(n),
            writable: Vec::with_capacity(n),
            exceptional: Vec::with_capacity(n),
            fds: std::array::from_fn(|_| Vec::with_capacity(n)),
        }
    }

    /// The three lists as [`select()`] returns them (the kept fd vectors are dropped).
    pub fn into_ready(self) -> Ready<T> {
        (self.readable, self.writable, self.exceptional)
    }

    /// Empty all three lists, keeping their memory.
    pub fn clear(&mut self) {
        self.readable.clear();
        self.writable.clear();
        self.exceptional.clear();
    }

    /// The vectors, cleared, as the storage of one call's three lists.
    fn lend(&mut self) -> [List<T>; 3] {
        self.clear();
        let [r, w, x] = &mut self.fds;
        [
            List::reusing(std::mem::take(r), std::mem::take(&mut self.readable)),
            List::reusing(std::mem::take(w), std::mem::take(&mut self.writable)),
            List::reusing(std::mem::take(x), std::mem::take(&mut self.exceptional)),
        ]
    }

    /// The vectors back from one call: the ready items kept when the kernel `answered`, none
    /// otherwise; the fds emptied.
    fn take_back(&mut self, [r, w, x]: [List<T>; 3], answered: bool) {
        let [rf, wf, xf] = &mut self.fds;
        (*rf, self.readable) = r.into_vecs(answered);
        (*wf, self.writable) = w.into_vecs(answered);
        (*xf, self.exceptional) = x.into_vecs(answered);
        for fds in &mut self.fds {
            fds.clear();
        }
    }
}

impl<T> Default for ReadyLists<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A pause, as `select.select([], [], [], seconds)`: `select(0, NULL, NULL, NULL, &tv)`.
///
/// # References
///
/// - Linux man page: [`select(2)`](https://man7.org/linux/man-pages/man2/select.2.html)
/// - POSIX: [`pselect`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/pselect.html)
/// - Python: [`select.select`](https://docs.python.org/3.11/library/select.html#select.select)
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

impl<T> List<T> {
    /// A list whose entries go into the given vectors (cleared), for [`select_into`].
    fn reusing(fds: Vec<RawFd>, items: Vec<T>) -> Self {
        List {
            entries: Entries::from_vecs(fds, items),
            set: None,
            nfds: 0,
        }
    }

    /// The vectors back, after [`List::reusing`]: the fds, and the items whose fd the kernel
    /// left in the set when it `answered`; no items otherwise (an error, or the deadline
    /// passed), nor for a NULL set (an empty list).
    fn into_vecs(self, answered: bool) -> (Vec<RawFd>, Vec<T>) {
        match (answered, &self.set) {
            (true, Some(ready)) => self.entries.into_ready_vecs(ready),
            _ => {
                let (fds, mut items) = self.entries.into_vecs();
                items.clear();
                (fds, items)
            }
        }
    }
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
