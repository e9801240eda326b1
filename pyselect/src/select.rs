//! [`select()`]: Python's `select.select(rlist, wlist, xlist, timeout)` on POSIX `select(2)`.

use std::os::fd::RawFd;

use crate::error::{Error, Result};
use crate::fdset::{FdSet, FD_SETSIZE};
use crate::fileno::FileNo;
use crate::retry;
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

/// [`select_with`]'s conversion: the timeout, then the three lists into `lists`, then the
/// wait. `Ok(true)`: the kernel answered and each list's set holds its ready fds; `Ok(false)`:
/// the deadline passed during `EINTR` retries (nothing is ready).
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
    let wait = timeout.map(timeout::select_timeout).transpose()?;
    let [r, w, x] = lists;
    r.fill(rlist)?;
    w.fill(wlist)?;
    x.fill(xlist)?;
    let nfds = r.nfds.max(w.nfds).max(x.nfds);
    wait_sets(syscall, wait, nfds, [r.raw_set(), w.raw_set(), x.raw_set()])
}

/// The one wait behind [`select_with`] and [`select_into_with`], once the timeout and the
/// lists are converted: the syscall's availability, a pending watched signal, the deadline,
/// then the call and its `EINTR` retries. `sets` are the three `fd_set`s, `None` for an empty
/// list (a NULL pointer). `Ok(true)`: the kernel answered and the sets hold the ready fds;
/// `Ok(false)`: the deadline passed during `EINTR` retries.
#[inline(always)]
fn wait_sets(
    syscall: Syscall,
    wait: Option<(libc::timeval, std::time::Duration)>,
    nfds: usize,
    sets: [Option<&mut libc::fd_set>; 3],
) -> Result<bool> {
    if syscall == Syscall::Select && !Syscall::raw_select_available() {
        return Err(Error::raw_select_unavailable());
    }
    let [mut rs, mut ws, mut xs] = sets;

    signals::refuse_pending()?;
    // CPython reads the monotonic clock here, just before the first syscall (a zero timeout
    // reads none: its deadline is `Now`).
    let deadline = wait.map(|(_, ns)| Deadline::start(ns));
    let mut tv = wait.map(|(tv, _)| tv);
    // On failure Linux's select(2) leaves the sets as they were (select(2): "the file
    // descriptor sets are unmodified"; POSIX leaves them unspecified), so a retry after EINTR
    // passes the caller's sets again without copying them. No timeout: retry with NULL.
    let done = retry::pep475(deadline, |left| {
        if let Some(left) = left {
            tv = Some(timeout::remaining_timeval(left));
        }
        call(
            syscall,
            nfds,
            rs.as_deref_mut(),
            ws.as_deref_mut(),
            xs.as_deref_mut(),
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
    ready.clear();
    let result = ready.wait(syscall, rlist, wlist, xlist, timeout);
    if !matches!(result, Ok(true)) {
        // An error, or the deadline passed: nothing is ready, and the items given are dropped.
        ready.clear();
    }
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
    /// Each list's fds, in input order, as the last call converted them.
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
}

impl<T: FileNo> ReadyLists<T> {
    /// [`select_into_with`]'s conversion and wait, in the kept vectors (the ready lists
    /// cleared): the timeout, then each list's items into its ready list and its fds beside
    /// them, then the wait, then each ready list filtered in place down to the items whose fd
    /// the kernel left in the set. `Ok(true)`, `Ok(false)` as [`wait_sets`]; on `Ok(false)`
    /// and on an error the lists hold what was converted, for the caller to clear.
    #[inline]
    fn wait<R, W, X>(
        &mut self,
        syscall: Syscall,
        rlist: R,
        wlist: W,
        xlist: X,
        timeout: Option<f64>,
    ) -> Result<bool>
    where
        R: IntoIterator<Item = T>,
        W: IntoIterator<Item = T>,
        X: IntoIterator<Item = T>,
    {
        let wait = timeout.map(timeout::select_timeout).transpose()?;
        let [rf, wf, xf] = &mut self.fds;
        // Built only for a list with entries: an empty one stays a NULL set.
        let (mut rs, mut ws, mut xs) = (None, None, None);
        let rn = fill_into(rlist, rf, &mut self.readable, &mut rs)?;
        let wn = fill_into(wlist, wf, &mut self.writable, &mut ws)?;
        let xn = fill_into(xlist, xf, &mut self.exceptional, &mut xs)?;
        let sets = [
            rs.as_mut().map(FdSet::as_raw_mut),
            ws.as_mut().map(FdSet::as_raw_mut),
            xs.as_mut().map(FdSet::as_raw_mut),
        ];
        if !wait_sets(syscall, wait, rn.max(wn).max(xn), sets)? {
            return Ok(false);
        }
        // A NULL set was an empty list: its ready list is empty already.
        for (fds, items, set) in [
            (&*rf, &mut self.readable, &rs),
            (&*wf, &mut self.writable, &ws),
            (&*xf, &mut self.exceptional, &xs),
        ] {
            if let Some(set) = set {
                entries::keep_ready(fds, items, set);
            }
        }
        Ok(true)
    }
}

/// One list converted for [`select_into`], as [`List::fill`] converts it for [`select()`]
/// (`fileno()` once per entry, in order; the first bad entry stops everything), straight into
/// kept vectors: the items into `items` (empty), the fds into `fds`, and the set built in
/// `set` (left `None` for an empty list). Returns `nfds`: the highest fd + 1, 0 for an empty
/// list.
#[inline]
fn fill_into<T: FileNo>(
    list: impl IntoIterator<Item = T>,
    fds: &mut Vec<RawFd>,
    items: &mut Vec<T>,
    set: &mut Option<FdSet>,
) -> Result<usize> {
    fds.clear();
    let mut iter = list.into_iter();
    let Some(first) = iter.next() else {
        return Ok(0);
    };
    let room = iter.size_hint().0.saturating_add(1).min(FD_SETSIZE);
    fds.reserve(room);
    items.reserve(room);
    let set = set.insert(FdSet::new());
    let mut nfds = 0;
    for item in std::iter::once(first).chain(iter) {
        let fd = admit(set, &item, items.len())?;
        nfds = nfds.max(fd as usize + 1);
        fds.push(fd);
        items.push(item);
    }
    Ok(nfds)
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
    // The common case in one range check: the bit is written only for 0 <= fd < FD_SETSIZE.
    if count < FD_SETSIZE && sys::fd_set(set.as_raw_mut(), fd).is_some() {
        return Ok(fd);
    }
    refuse(set, fd, count)
}

/// [`admit`] of an entry that is refused (or of one past `FD_SETSIZE` entries): the checks in
/// CPython's order, so that the error is the one it raises.
#[cold]
#[inline(never)]
fn refuse(set: &mut FdSet, fd: RawFd, count: usize) -> Result<RawFd> {
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
#[inline(always)]
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
