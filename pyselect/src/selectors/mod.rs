//! Python's `selectors` module: one [`Selector`] interface over `select(2)`, `poll(2)` and
//! `epoll(7)`.
//!
//! The algorithm, as CPython's `Lib/selectors.py`: a map fd -> [`SelectorKey`] (the file object,
//! its fd, the events asked for, the caller's data) in front of one of the crate's twins of
//! Python's `select` module: [`SelectSelector`] calls [`crate::select()`], [`PollSelector`] a
//! [`crate::Poll`], [`EpollSelector`] an [`crate::Epoll`]. `select()` turns what the kernel
//! reports into [`EVENT_READ`] / [`EVENT_WRITE`] and returns a copy of each ready key, so the
//! loop body may register, modify and unregister freely.
//!
//! ```
//! use pyselect::selectors::{DefaultSelector, Selector, EVENT_READ, EVENT_WRITE};
//! use std::io::Write;
//! use std::os::unix::net::UnixStream;
//!
//! #[derive(Clone, Debug, PartialEq)]
//! enum Role { Reader, Writer }
//!
//! let (a, mut b) = UnixStream::pair()?;
//! let mut sel: DefaultSelector<&UnixStream, Role> = DefaultSelector::new()?; // epoll_create1
//! sel.register(&a, EVENT_READ, Role::Reader)?;                              // epoll_ctl(ADD)
//! assert!(sel.select(Some(0.0))?.is_empty());                               // epoll_wait(.., 1, 0)
//! b.write_all(b"x")?;
//! for (key, events) in sel.select(None)? {
//!     assert_eq!((key.data, events), (Role::Reader, EVENT_READ));
//!     // The key is a copy: the selector may change inside the loop.
//!     sel.modify(key.fileobj, EVENT_READ | EVENT_WRITE, Role::Writer)?;    // epoll_ctl(MOD)
//! }
//! assert_eq!(sel.get_key(&a)?.events, EVENT_READ | EVENT_WRITE);
//! sel.close()?;                                                             // close(2)
//! assert!(sel.get_map().is_none());
//! assert_eq!(sel.get_key(&a).unwrap_err().to_string(), "Selector is closed");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # As CPython 3.11
//! - `register` checks the events (`Invalid events: 0`, also for bits other than the two
//!   events), then the fd (`Invalid file descriptor: -1`), then that the fd is not already
//!   registered (`Error::Key`, `'3 (FD 3) is already registered'`); duplicates are detected by
//!   fd, so two objects with the same fd clash.
//! - `unregister`, `modify` and `get_key` of an fd not registered are [`Error::Key`] (`'3 is
//!   not registered'`); `get_key` after `close()` is `Runtime("Selector is closed")` and
//!   `get_map()` is `None`.
//! - `select()` maps the kernel's report to events: anything but "readable" counts as
//!   [`EVENT_WRITE`], anything but "writable" as [`EVENT_READ`] (so a hang-up or an error shows
//!   as both), masked with the key's events; fds the map does not know are dropped.
//! - Each selector's timeout arithmetic is CPython's, f64 operation for f64 operation, so that
//!   strace shows the same timeout argument; see each type.
//!
//! # The fileobj's text in `Error::Key`
//! Python's message holds `repr(fileobj)`. Here: for a [`RawFd`] (or a reference to one) its
//! number, as Python's `repr(3)`; for any other type `<Name fd=N>`, where `Name` is the last
//! path segment of the type's name without references or generic arguments (`<Socket fd=5>`,
//! `<UnixStream fd=7>`, `<FileNo fd=4>` for a `&dyn FileNo`) and `N` is its `fileno()`. The
//! name comes from `std::any::type_name`, whose exact text the compiler does not promise.
//!
//! # Where pyselect differs, and why
//! - Rust's types rule out Python's `Invalid file object: ...` (every fileobj is [`FileNo`]),
//!   non-int events (`TypeError`) and non-float timeouts.
//! - A fileobj whose `fileno()` is negative (a closed `Socket`) cannot be found by identity,
//!   as Python's `_fileobj_lookup` does, because a generic `T: FileNo` has no identity:
//!   `unregister`, `modify` and `get_key` of it fail with `Invalid file descriptor: -1`.
//!   Unregister such a key by its number instead: `sel.unregister(key.fd)`.
//! - Data is not compared (`D` needs no `PartialEq`): `modify` always stores the data given,
//!   which is what Python's `data != key.data` test leads to in every case but one that
//!   leaves no trace (equal data is replaced by equal data).
//! - After `close()`, [`SelectSelector`] and [`PollSelector`] refuse `register`, `modify` and
//!   `select` with `Runtime("Selector is closed")`; CPython's carry on with stale fds
//!   (gh-91433). [`EpollSelector`] behaves as CPython's.
//! - [`SelectSelector`] returns ready keys in ascending fd order; CPython's follow its `set`
//!   layout (`[9, 5, 20, 13]` for fds 5, 9, 13, 20). Both agree for fds below 8.

mod epoll;
mod poll;
mod poll_like;
mod select;

use std::collections::BTreeMap;
use std::os::fd::RawFd;

use crate::error::{Error, Result};
use crate::fileno::FileNo;

pub use epoll::EpollSelector;
pub use poll::PollSelector;
pub use select::SelectSelector;

/// No syscall: the selector Python picks on this platform; on Linux the [`EpollSelector`]
/// (`epoll_create1`, `epoll_ctl`, `epoll_wait`), as CPython's `selectors.DefaultSelector`.
///
/// # References
///
/// - Python: [`selectors.DefaultSelector`](https://docs.python.org/3.11/library/selectors.html#selectors.DefaultSelector)
#[cfg(target_os = "linux")]
pub type DefaultSelector<F, D> = EpollSelector<F, D>;

/// No syscall: "the file object is ready for reading" (Python's `selectors.EVENT_READ`, 1).
pub const EVENT_READ: u8 = 1;
/// No syscall: "the file object is ready for writing" (Python's `selectors.EVENT_WRITE`, 2).
pub const EVENT_WRITE: u8 = 2;

/// No syscall: what a selector knows of one registered file object (Python's
/// `selectors.SelectorKey` named tuple).
///
/// # References
///
/// - Python: [`selectors.SelectorKey`](https://docs.python.org/3.11/library/selectors.html#selectors.SelectorKey)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectorKey<F, D> {
    /// The file object as registered.
    pub fileobj: F,
    /// Its fd, read once at registration.
    pub fd: RawFd,
    /// The events it is watched for: [`EVENT_READ`], [`EVENT_WRITE`] or both (after a
    /// `modify` of a [`PollSelector`] or [`EpollSelector`], whatever was given, 0 included).
    pub events: u8,
    /// The caller's data, handed back by `select()`.
    pub data: D,
}

/// `pselect6`, `poll` or `epoll_wait` behind one interface: what the three selectors share
/// (Python's `selectors.BaseSelector`). Which syscalls each method makes depends on the
/// selector: see [`SelectSelector`], [`PollSelector`] and [`EpollSelector`].
///
/// # References
///
/// - Python: [`selectors.BaseSelector`](https://docs.python.org/3.11/library/selectors.html#selectors.BaseSelector)
pub trait Selector<F: FileNo, D> {
    /// `epoll_ctl(EPOLL_CTL_ADD)` for an [`EpollSelector`], no syscall for the others: watch
    /// `fileobj` for `events` (Python's `register(fileobj, events, data)`).
    ///
    /// Errors, in CPython's order: `events` 0 or with bits other than [`EVENT_READ`] and
    /// [`EVENT_WRITE`] (`Value("Invalid events: 0")`), a negative fd (`Value("Invalid file
    /// descriptor: -1")`), an fd already registered (`Key`, `'3 (FD 3) is already
    /// registered'`), then the selector's own (the kernel's for epoll; closed).
    ///
    /// # References
    ///
    /// - Linux man page: [`epoll_ctl(2)`](https://man7.org/linux/man-pages/man2/epoll_ctl.2.html)
    ///   ([`EpollSelector`] only)
    /// - Python: [`selectors.BaseSelector.register`](https://docs.python.org/3.11/library/selectors.html#selectors.BaseSelector.register)
    fn register(&mut self, fileobj: F, events: u8, data: D) -> Result<&SelectorKey<F, D>>;

    /// `epoll_ctl(EPOLL_CTL_DEL)` for an [`EpollSelector`], no syscall for the others: stop
    /// watching `fileobj` and return its key (Python's `unregister(fileobj)`).
    ///
    /// A negative fd is `Value("Invalid file descriptor: -1")`; an fd not registered is
    /// `Key` (`'3 is not registered'`). A kernel error of the epoll call is ignored (the fd may
    /// have been closed since), as CPython.
    ///
    /// # References
    ///
    /// - Linux man page: [`epoll_ctl(2)`](https://man7.org/linux/man-pages/man2/epoll_ctl.2.html)
    ///   ([`EpollSelector`] only)
    /// - Python: [`selectors.BaseSelector.unregister`](https://docs.python.org/3.11/library/selectors.html#selectors.BaseSelector.unregister)
    fn unregister<T: FileNo>(&mut self, fileobj: T) -> Result<SelectorKey<F, D>>;

    /// `epoll_ctl(EPOLL_CTL_MOD)` for an [`EpollSelector`] whose events change, no syscall
    /// otherwise: change the events and data of a registered file object (Python's
    /// `modify(fileobj, events, data)`).
    ///
    /// An fd not registered is `Key` (`'3 is not registered'`). What else is checked, and what
    /// a failure leaves behind, differs by selector, as in CPython: see each type.
    ///
    /// # References
    ///
    /// - Linux man page: [`epoll_ctl(2)`](https://man7.org/linux/man-pages/man2/epoll_ctl.2.html)
    ///   ([`EpollSelector`] only)
    /// - Python: [`selectors.BaseSelector.modify`](https://docs.python.org/3.11/library/selectors.html#selectors.BaseSelector.modify)
    fn modify(&mut self, fileobj: F, events: u8, data: D) -> Result<&SelectorKey<F, D>>;

    /// `pselect6`, `poll` or `epoll_wait` (by selector): wait until a registered file object
    /// is ready, at most `timeout` seconds (`None`: for ever; 0 or below: not at all), and
    /// return a copy of each ready key with its ready events (Python's `select(timeout)`).
    ///
    /// `EINTR` is retried with the time left (PEP 475) by the call underneath, and a signal
    /// the program watches ([`crate::signals`]) ends the wait with [`Error::Interrupted`].
    ///
    /// # References
    ///
    /// - Linux man pages: [`select(2)`](https://man7.org/linux/man-pages/man2/select.2.html), [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html), [`epoll_wait(2)`](https://man7.org/linux/man-pages/man2/epoll_wait.2.html)
    /// - Python: [`selectors.BaseSelector.select`](https://docs.python.org/3.11/library/selectors.html#selectors.BaseSelector.select)
    fn select(&mut self, timeout: Option<f64>) -> Result<Vec<(SelectorKey<F, D>, u8)>>
    where
        F: Clone,
        D: Clone;

    /// No syscall: the key of a registered file object (Python's `get_key(fileobj)`).
    ///
    /// After `close()`: `Runtime("Selector is closed")`; then a negative fd is `Value`, an
    /// fd not registered `Key`.
    ///
    /// # References
    ///
    /// - Python: [`selectors.BaseSelector.get_key`](https://docs.python.org/3.11/library/selectors.html#selectors.BaseSelector.get_key)
    fn get_key<T: FileNo>(&self, fileobj: T) -> Result<&SelectorKey<F, D>>;

    /// No syscall: every key by fd, or `None` once closed (Python's `get_map()`).
    ///
    /// # References
    ///
    /// - Python: [`selectors.BaseSelector.get_map`](https://docs.python.org/3.11/library/selectors.html#selectors.BaseSelector.get_map)
    fn get_map(&self) -> Option<&BTreeMap<RawFd, SelectorKey<F, D>>>;

    /// `close(2)` of the epoll fd for an [`EpollSelector`], no syscall for the others: forget
    /// every key (Python's `close()`); a second call does nothing.
    ///
    /// # References
    ///
    /// - Linux man page: [`close(2)`](https://man7.org/linux/man-pages/man2/close.2.html)
    ///   ([`EpollSelector`] only)
    /// - Python: [`selectors.BaseSelector.close`](https://docs.python.org/3.11/library/selectors.html#selectors.BaseSelector.close)
    fn close(&mut self) -> Result<()>;
}

/// The fd → key map every selector keeps (Python's `_BaseSelectorImpl._fd_to_key`), whether
/// `close()` was called (Python sets `_map` to `None`), and whether a closed selector refuses
/// `register`, `modify` and `select` itself (see [`Keys::refuse_if_closed`]).
#[derive(Debug)]
struct Keys<F, D> {
    map: BTreeMap<RawFd, SelectorKey<F, D>>,
    closed: bool,
    refuse_after_close: bool,
}

impl<F: FileNo, D> Keys<F, D> {
    /// An empty map. `refuse_after_close`: true where CPython's selector would carry on with
    /// stale fds after `close()` (Select, Poll), false where its kernel object fails by itself
    /// (epoll).
    fn new(refuse_after_close: bool) -> Self {
        Keys {
            map: BTreeMap::new(),
            closed: false,
            refuse_after_close,
        }
    }

    /// `register`'s checks, in CPython's order: events, fd, duplicate; then pyselect's refusal
    /// after `close()`. Returns the fd.
    fn check_new(&self, fileobj: &F, events: u8) -> Result<RawFd> {
        if events == 0 || events & !(EVENT_READ | EVENT_WRITE) != 0 {
            return Err(Error::invalid_events(events));
        }
        let fd = fd_of(fileobj)?;
        if self.map.contains_key(&fd) {
            return Err(Error::key_message(&format!(
                "{} (FD {fd}) is already registered",
                describe(fileobj)
            )));
        }
        self.refuse_if_closed()?;
        Ok(fd)
    }

    /// Store a key `check_new` cleared.
    /// `check_new` refused a registered fd, so the slot is free.
    fn insert(&mut self, key: SelectorKey<F, D>) -> &SelectorKey<F, D> {
        self.map.entry(key.fd).or_insert(key)
    }

    /// The key of a registered file object, or `Value` (negative fd) / `Key` (not registered).
    fn find<T: FileNo>(&self, fileobj: &T) -> Result<&SelectorKey<F, D>> {
        let fd = fd_of(fileobj)?;
        self.registered(fd, fileobj)
    }

    /// `modify`'s lookup, in CPython's order: the fd (`Value`), pyselect's refusal after
    /// `close()`, then the key (`Key`). (Not `find` after the refusal: a negative fd on a
    /// closed selector stays a `Value` error, and `fileno()` is read once.)
    fn lookup<T: FileNo>(&self, fileobj: &T) -> Result<&SelectorKey<F, D>> {
        let fd = fd_of(fileobj)?;
        self.refuse_if_closed()?;
        self.registered(fd, fileobj)
    }

    /// The key stored for `fd` (the fd of `fileobj`), or `Key` naming `fileobj`.
    fn registered<T: FileNo>(&self, fd: RawFd, fileobj: &T) -> Result<&SelectorKey<F, D>> {
        self.map.get(&fd).ok_or_else(|| not_registered(fileobj))
    }

    /// The end of a `modify` that keeps the key: store the new events and data (Python's
    /// `key._replace(events=events, data=data)`).
    fn update<T: FileNo>(
        &mut self,
        fd: RawFd,
        fileobj: &T,
        events: u8,
        data: D,
    ) -> Result<&SelectorKey<F, D>> {
        let key = self
            .map
            .get_mut(&fd)
            .ok_or_else(|| not_registered(fileobj))?;
        key.events = events;
        key.data = data;
        Ok(key)
    }

    /// Python's base `unregister`: drop the key of `fileobj` and return it.
    fn remove<T: FileNo>(&mut self, fileobj: &T) -> Result<SelectorKey<F, D>> {
        let fd = fd_of(fileobj)?;
        self.map.remove(&fd).ok_or_else(|| not_registered(fileobj))
    }

    /// Python's `get_key`: closed first, then the lookup.
    fn get<T: FileNo>(&self, fileobj: &T) -> Result<&SelectorKey<F, D>> {
        if self.closed {
            return Err(Error::selector_closed());
        }
        self.find(fileobj)
    }

    fn get_map(&self) -> Option<&BTreeMap<RawFd, SelectorKey<F, D>>> {
        (!self.closed).then_some(&self.map)
    }

    /// Python's base `close()`: forget every key.
    fn close(&mut self) {
        self.map.clear();
        self.closed = true;
    }

    /// pyselect's refusal where CPython's Select/PollSelector would go on after `close()`
    /// (gh-91433): `Runtime("Selector is closed")`. Nothing for an epoll selector, whose
    /// closed kernel object refuses by itself, as CPython's.
    fn refuse_if_closed(&self) -> Result<()> {
        if self.closed && self.refuse_after_close {
            Err(Error::selector_closed())
        } else {
            Ok(())
        }
    }
}

/// Python's `_fileobj_to_fd` for a [`FileNo`]: `fileno()` once; negative is
/// `Value("Invalid file descriptor: N")`.
fn fd_of<T: FileNo>(fileobj: &T) -> Result<RawFd> {
    match fileobj.fileno() {
        fd if fd < 0 => Err(Error::invalid_fd(fd)),
        fd => Ok(fd),
    }
}

/// `KeyError("{fileobj!r} is not registered")`.
fn not_registered<T: FileNo>(fileobj: &T) -> Error {
    Error::key_message(&format!("{} is not registered", describe(fileobj)))
}

/// The fileobj's text in a `KeyError` (Python's `repr(fileobj)`): a [`RawFd`]'s number, or
/// `<Name fd=N>` for any other type (see the module docs).
fn describe<T: FileNo>(fileobj: &T) -> String {
    let mut name = std::any::type_name::<T>();
    loop {
        let stripped = name
            .trim_start_matches('&')
            .trim_start_matches("mut ")
            .trim_start_matches("dyn ");
        if stripped.len() == name.len() {
            break;
        }
        name = stripped;
    }
    let fd = fileobj.fileno();
    if name == "i32" {
        return fd.to_string();
    }
    let base = name.split('<').next().unwrap_or(name);
    let short = base.rsplit("::").next().unwrap_or(base);
    format!("<{short} fd={fd}>")
}

/// Python's `math.ceil(timeout * 1e3)` for a positive (or NaN) timeout, as an f64 holding the
/// integer: NaN and infinity fail as `math.ceil` fails.
fn ceil_ms(timeout: f64) -> Result<f64> {
    let ms = timeout * 1e3;
    if ms.is_nan() {
        return Err(Error::ceil_nan());
    }
    if ms.is_infinite() {
        return Err(Error::ceil_infinity());
    }
    Ok(ms.ceil())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_names_raw_fds_by_number_and_others_by_type() {
        assert_eq!(describe(&3), "3");
        assert_eq!(describe(&&7), "7");
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let fd = a.fileno();
        assert_eq!(describe(&&a), format!("<UnixStream fd={fd}>"));
        let dynamic: &dyn FileNo = &a;
        assert_eq!(describe(&dynamic), format!("<FileNo fd={fd}>"));
        let boxed: Box<dyn FileNo> = Box::new(5);
        assert_eq!(describe(&boxed), "<Box fd=5>");
    }

    #[test]
    fn ceil_ms_is_pythons_math_ceil() {
        assert_eq!(ceil_ms(0.009).unwrap(), 9.0);
        assert_eq!(ceil_ms(1e-9).unwrap(), 1.0);
        assert_eq!(
            ceil_ms(f64::NAN).unwrap_err().to_string(),
            "cannot convert float NaN to integer"
        );
        assert_eq!(
            ceil_ms(1e306).unwrap_err().to_string(),
            "cannot convert float infinity to integer"
        );
    }
}
