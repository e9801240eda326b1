//! [`PollSelector`]: Python's `selectors.PollSelector` on [`crate::Poll`].

use std::collections::BTreeMap;
use std::os::fd::RawFd;

use super::poll_like::{key_lookups, registration_calls, KernelObject, PollLike};
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
/// select.POLLOUT`: no syscall but the wait's `poll(2)`.
impl KernelObject for Poll {
    type Mask = u16;
    const READ: u16 = POLLIN;
    const WRITE: u16 = POLLOUT;
    const REFUSE_AFTER_CLOSE: bool = true;
    type Events = Vec<(RawFd, u16)>;

    registration_calls!(Poll, u16);

    /// CPython's `PollSelector.select` arithmetic: `None` for ever, `t <= 0` a poll, otherwise
    /// `math.ceil(t * 1e3)` ms, refused beyond what `_PyTime_t` holds.
    fn timeout(timeout: Option<f64>) -> Result<Option<f64>> {
        match timeout {
            None => Ok(None),
            Some(t) if t <= 0.0 => Ok(Some(0.0)),
            Some(t) => {
                let ms = ceil_ms(t)?;
                if ms > MAX_INT_MS {
                    return Err(Error::timestamp_too_large());
                }
                // A whole number of ms below 2**53: Poll's float path gives exactly it.
                Ok(Some(ms))
            }
        }
    }

    fn wait(&mut self, ms: Option<f64>, _: usize, events: &mut Self::Events) -> Result<()> {
        self.poll_into(ms, events)
    }

    fn reported(events: &Self::Events) -> impl Iterator<Item = (RawFd, u16)> + '_ {
        events.iter().copied()
    }

    /// A poll object has no `close()`: its fds are forgotten with a new one.
    fn close(&mut self) -> Result<()> {
        *self = Poll::new();
        Ok(())
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
        self.0.select(timeout)
    }

    key_lookups!();

    /// No syscall: forget every key and the poll object's fds; never fails.
    fn close(&mut self) -> Result<()> {
        self.0.close()
    }
}
