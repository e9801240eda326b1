//! [`PollSelector`]: Python's `selectors.PollSelector` on [`crate::Poll`].

use std::collections::BTreeMap;
use std::os::fd::RawFd;

use super::poll_like::{KernelObject, PollLike};
use super::{ceil_ms, Selector, SelectorKey};
use crate::error::{Error, Result};
use crate::fileno::FileNo;
use crate::poll::{Poll, POLLIN, POLLOUT};

/// The largest whole-millisecond timeout whose nanoseconds fit an `i64` (`i64::MAX / 10**6`):
/// CPython's int path refuses more with `timestamp too large to convert to C _PyTime_t`.
const MAX_INT_MS: f64 = 9_223_372_036_854.0;

/// `poll(2)` (through a [`Poll`]) behind the [`Selector`] interface, as Python's
/// `selectors.PollSelector`.
///
/// ```
/// use pyselect::selectors::{PollSelector, Selector, EVENT_READ, EVENT_WRITE};
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
///
/// let (a, b) = UnixStream::pair()?;
/// let mut sel: PollSelector<&UnixStream, u32> = PollSelector::new()?; // no syscall
/// sel.register(&a, EVENT_READ | EVENT_WRITE, 1)?;                    // no syscall
/// drop(b);                                           // a hang-up: reported as both events
/// let ready = sel.select(Some(0.009))?;              // poll([{fd=3, ..}], 1, 9)
/// assert_eq!(ready.len(), 1);
/// assert_eq!((ready[0].0.fd, ready[0].1), (a.as_raw_fd(), EVENT_READ | EVENT_WRITE));
/// // modify does not check events: 0 is stored, and masks everything out.
/// assert_eq!(sel.modify(&a, 0, 2)?.events, 0);
/// assert_eq!(sel.select(Some(0.0))?[0].1, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// As CPython 3.11 on Linux:
/// - `register`, `modify` and `unregister` make no syscall; `select()` makes one `poll(2)` over
///   the fds in registration order and returns the ready keys in that order;
/// - the timeout: `None` is -1 (for ever), `t <= 0` is 0, otherwise `math.ceil(t * 1e3)` ms
///   (`0.009` waits 9 ms, `1e-9` 1 ms). NaN is `Value("cannot convert float NaN to
///   integer")`, infinity `Overflow("cannot convert float infinity to integer")`, more than
///   `i64::MAX` ns `Overflow("timestamp too large to convert to C _PyTime_t")`, more than
///   `INT_MAX` ms `Overflow("timeout is too large")`;
/// - the mask is `POLLIN` for [`EVENT_READ`](super::EVENT_READ), `POLLOUT` for
///   [`EVENT_WRITE`](super::EVENT_WRITE); a report other than `POLLIN` counts as WRITE and
///   other than `POLLOUT` as READ (a hang-up, an error or `POLLNVAL` are both), masked with
///   the key's events;
/// - `modify` does not check the events (0, or 4, is stored as given and maps to an empty
///   mask), keeps the fileobj the key had, and replaces events and data;
/// - an fd not open is accepted by `register` and comes back ready (`POLLNVAL`) from
///   `select()`; fds above 1,023 are fine.
///
/// Differences from CPython: after `close()`, `register` (after its checks), `modify` (after
/// the fd check) and `select` (after the timeout arithmetic) fail with
/// `Runtime("Selector is closed")`, where CPython's keeps polling the stale fds (gh-91433).
///
/// # References
///
/// - Linux man page: [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html)
/// - POSIX: [`poll`](https://pubs.opengroup.org/onlinepubs/9799919799/functions/poll.html)
/// - Python: [`selectors.PollSelector`](https://docs.python.org/3.11/library/selectors.html#selectors.PollSelector)
#[doc(alias = "poll")]
#[derive(Debug)]
pub struct PollSelector<F, D>(PollLike<Poll, F, D>);

/// Python's `_selector_cls = select.poll`, `_EVENT_READ = select.POLLIN`, `_EVENT_WRITE =
/// select.POLLOUT`: no syscall in any of these.
impl KernelObject for Poll {
    type Mask = u16;
    const READ: u16 = POLLIN;
    const WRITE: u16 = POLLOUT;
    const REFUSE_AFTER_CLOSE: bool = true;

    fn register(&mut self, fd: RawFd, mask: u16) -> Result<()> {
        Poll::register(self, fd, Some(mask))
    }

    fn modify(&mut self, fd: RawFd, mask: u16) -> Result<()> {
        Poll::modify(self, fd, mask)
    }

    fn unregister(&mut self, fd: RawFd) -> Result<()> {
        Poll::unregister(self, fd)
    }
}

impl<F: FileNo, D> PollSelector<F, D> {
    /// No syscall: an empty selector over a new [`Poll`] (Python's
    /// `selectors.PollSelector()`); never fails.
    ///
    /// # References
    ///
    /// - Python: [`selectors.PollSelector`](https://docs.python.org/3.11/library/selectors.html#selectors.PollSelector)
    pub fn new() -> Result<Self> {
        Ok(PollSelector(PollLike::new(Poll::new())))
    }
}

impl<F: FileNo, D> Selector<F, D> for PollSelector<F, D> {
    /// No syscall: see [`Selector::register`].
    fn register(&mut self, fileobj: F, events: u8, data: D) -> Result<&SelectorKey<F, D>> {
        self.0.register(fileobj, events, data)
    }

    /// No syscall: see [`Selector::unregister`].
    fn unregister<T: FileNo>(&mut self, fileobj: T) -> Result<SelectorKey<F, D>> {
        self.0.unregister(fileobj)
    }

    /// No syscall: events are not checked; on a failure of the poll object's `modify` the key
    /// is dropped, as CPython's `_PollLikeSelector.modify`.
    fn modify(&mut self, fileobj: F, events: u8, data: D) -> Result<&SelectorKey<F, D>> {
        self.0.modify(fileobj, events, data)
    }

    /// `poll(fds, n, ceil(timeout * 1e3))`: see [`PollSelector`].
    #[doc(alias = "poll")]
    fn select(&mut self, timeout: Option<f64>) -> Result<Vec<(SelectorKey<F, D>, u8)>>
    where
        F: Clone,
        D: Clone,
    {
        let ms = match timeout {
            None => None,
            Some(t) if t <= 0.0 => Some(0.0),
            Some(t) => {
                let ms = ceil_ms(t)?;
                if ms > MAX_INT_MS {
                    return Err(Error::timestamp_too_large());
                }
                // A whole number of ms below 2**53: Poll's float path gives exactly it.
                Some(ms)
            }
        };
        self.0.keys.refuse_if_closed()?;
        let reported = self.0.selector.poll(ms)?;
        Ok(self.0.ready(reported))
    }

    /// No syscall: see [`Selector::get_key`].
    fn get_key<T: FileNo>(&self, fileobj: T) -> Result<&SelectorKey<F, D>> {
        self.0.keys.get(&fileobj)
    }

    /// No syscall: see [`Selector::get_map`].
    fn get_map(&self) -> Option<&BTreeMap<RawFd, SelectorKey<F, D>>> {
        self.0.keys.get_map()
    }

    /// No syscall: forget every key and the poll object's fds; never fails.
    fn close(&mut self) -> Result<()> {
        self.0.keys.close();
        self.0.selector = Poll::new();
        Ok(())
    }
}
