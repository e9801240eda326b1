//! [`SelectSelector`]: Python's `selectors.SelectSelector` on [`crate::select_into`].

use std::collections::BTreeMap;
use std::os::fd::RawFd;

use super::{Keys, Selector, SelectorKey, EVENT_READ, EVENT_WRITE};
use crate::error::Result;
use crate::fileno::FileNo;
use crate::select::ReadyLists;

/// `pselect6` (through [`crate::select_into`]) behind the [`Selector`] interface, as Python's
/// `selectors.SelectSelector`.
///
/// ```
/// use pyselect::selectors::{SelectSelector, Selector, EVENT_READ, EVENT_WRITE};
///
/// let (r, w) = (0, 1); // stdin, stdout: raw fds are file objects too
/// let mut sel: SelectSelector<i32, &str> = SelectSelector::new()?; // no syscall
/// sel.register(w, EVENT_WRITE, "out")?;                           // no syscall
/// sel.register(r, EVENT_READ, "in")?;
/// assert_eq!(sel.register(r, EVENT_READ, "again").unwrap_err().to_string(),
///            "'0 (FD 0) is already registered'");
/// // modify with new events is unregister + register: 0 events fails, and leaves it out.
/// assert_eq!(sel.modify(r, 0, "none").unwrap_err().to_string(), "Invalid events: 0");
/// assert_eq!(sel.get_key(r).unwrap_err().to_string(), "'0 is not registered'");
/// # Ok::<(), pyselect::Error>(())
/// ```
///
/// As CPython 3.11 on Linux:
/// - `register`, `modify` and `unregister` make no syscall; `select(t)` makes one
///   `pselect6(nfds, readers, writers, NULL, t)`: the exception set is NULL, and the timeout is
///   `max(t, 0)` with Python's `max` (a NaN passes through to `select()`'s own
///   `Invalid value NaN (not a number)`; `-0.0` stays `-0.0`, a poll); the timeval is
///   `select()`'s, in microseconds rounded up;
/// - registering an fd `>= FD_SETSIZE` succeeds; `select()` then fails with
///   `Value("filedescriptor out of range in select()")`, as CPython's;
/// - `modify` with events different from the key's is `unregister` then `register`: the new
///   events are checked (`modify(fd, 0)` fails with `Invalid events: 0` **and leaves the fd
///   unregistered**), and the key holds the new fileobj; with the same events only the data
///   is replaced, and the key keeps the fileobj it had.
///
/// Differences from CPython: ready keys come in ascending fd order (CPython's in its `set`'s
/// hash order, the same for fds below 8); after `close()`, `register` (after its checks),
/// `modify` (after the fd check) and `select` fail with `Runtime("Selector is closed")`,
/// where CPython's carries on with the stale fds (gh-91433).
///
/// # References
///
/// - Linux man page: [`select(2)`](https://man7.org/linux/man-pages/man2/select.2.html)
/// - POSIX: [`pselect`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/pselect.html)
/// - Python: [`selectors.SelectSelector`](https://docs.python.org/3.11/library/selectors.html#selectors.SelectSelector)
#[doc(alias = "pselect6")]
#[derive(Debug)]
pub struct SelectSelector<F, D> {
    keys: Keys<F, D>,
    /// The fds of the keys with [`EVENT_READ`], then with [`EVENT_WRITE`], rebuilt by each
    /// `select()` in vectors kept from one to the next (Python's `_readers` and `_writers`).
    readers: Vec<RawFd>,
    writers: Vec<RawFd>,
    /// What the last `select()` got back from [`crate::select_into`].
    ready: ReadyLists<RawFd>,
}

impl<F: FileNo, D> SelectSelector<F, D> {
    /// No syscall: an empty selector (Python's `selectors.SelectSelector()`); never fails.
    ///
    /// # References
    ///
    /// - Python: [`selectors.SelectSelector`](https://docs.python.org/3.11/library/selectors.html#selectors.SelectSelector)
    pub fn new() -> Result<Self> {
        Ok(SelectSelector {
            keys: Keys::new(true),
            readers: Vec::new(),
            writers: Vec::new(),
            ready: ReadyLists::new(),
        })
    }
}

impl<F: FileNo, D> Selector<F, D> for SelectSelector<F, D> {
    /// No syscall: see [`Selector::register`].
    fn register(&mut self, fileobj: F, events: u8, data: D) -> Result<&SelectorKey<F, D>> {
        let fd = self.keys.check_new(&fileobj, events)?;
        Ok(self.keys.insert(SelectorKey {
            fileobj,
            fd,
            events,
            data,
        }))
    }

    /// No syscall: see [`Selector::unregister`].
    fn unregister<T: FileNo>(&mut self, fileobj: T) -> Result<SelectorKey<F, D>> {
        self.keys.remove(&fileobj)
    }

    /// No syscall: new events are `unregister` + `register` (checked again; on failure the fd
    /// stays unregistered), the same events only replace the data, as CPython's base
    /// `modify`.
    fn modify(&mut self, fileobj: F, events: u8, data: D) -> Result<&SelectorKey<F, D>> {
        let key = self.keys.lookup(&fileobj)?;
        if key.events != events {
            self.unregister(&fileobj)?;
            return self.register(fileobj, events, data);
        }
        let fd = key.fd;
        self.keys.update(fd, &fileobj, events, data)
    }

    /// `pselect6(nfds, readers, writers, NULL, max(timeout, 0))`: see [`SelectSelector`].
    #[doc(alias = "pselect6")]
    fn select(&mut self, timeout: Option<f64>) -> Result<Vec<(SelectorKey<F, D>, u8)>>
    where
        F: Clone,
        D: Clone,
    {
        self.keys.refuse_if_closed()?;
        // Python's max(timeout, 0): keeps `timeout` unless 0 > timeout (so NaN and -0.0 stay).
        let timeout = timeout.map(|t| if 0.0 > t { 0.0 } else { t });
        for (fds, bit) in [
            (&mut self.readers, EVENT_READ),
            (&mut self.writers, EVENT_WRITE),
        ] {
            fds.clear();
            let keys = self.keys.map.values();
            fds.extend(keys.filter(|k| k.events & bit != 0).map(|k| k.fd));
        }
        let (readers, writers) = (self.readers.iter().copied(), self.writers.iter().copied());
        crate::select_into(readers, writers, [], timeout, &mut self.ready)?;
        // Both lists are in ascending fd order (select() keeps input order): merge them.
        let (r, w) = (&self.ready.readable, &self.ready.writable);
        let (mut r, mut w) = (r.iter().copied().peekable(), w.iter().copied().peekable());
        let mut ready = Vec::new();
        loop {
            let (fd, events) = match (r.peek(), w.peek()) {
                (None, None) => break,
                (Some(&a), Some(&b)) if a == b => {
                    r.next();
                    w.next();
                    (a, EVENT_READ | EVENT_WRITE)
                }
                // The smaller head goes first; it was peeked, so `next()` only consumes it.
                (Some(&a), Some(&b)) if a < b => {
                    r.next();
                    (a, EVENT_READ)
                }
                (Some(&a), None) => {
                    r.next();
                    (a, EVENT_READ)
                }
                (_, Some(&b)) => {
                    w.next();
                    (b, EVENT_WRITE)
                }
            };
            if let Some(key) = self.keys.map.get(&fd) {
                ready.push((key.clone(), events & key.events));
            }
        }
        Ok(ready)
    }

    /// No syscall: see [`Selector::get_key`].
    fn get_key<T: FileNo>(&self, fileobj: T) -> Result<&SelectorKey<F, D>> {
        self.keys.get(&fileobj)
    }

    /// No syscall: see [`Selector::get_map`].
    fn get_map(&self) -> Option<&BTreeMap<RawFd, SelectorKey<F, D>>> {
        self.keys.get_map()
    }

    /// No syscall: forget every key; never fails.
    fn close(&mut self) -> Result<()> {
        self.keys.close();
        (self.readers, self.writers) = (Vec::new(), Vec::new());
        self.ready = ReadyLists::new();
        Ok(())
    }
}
