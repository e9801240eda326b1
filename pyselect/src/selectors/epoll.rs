//! [`EpollSelector`]: Python's `selectors.EpollSelector` on [`crate::Epoll`].

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, RawFd};

use super::poll_like::{key_lookups, registration_calls, KernelObject, PollLike};
use super::{ceil_ms, Selector, SelectorKey};
use crate::epoll::{Epoll, EpollEvents, EPOLLIN, EPOLLOUT};
use crate::error::Result;
use crate::fileno::FileNo;

/// `epoll(7)` (through an [`Epoll`]) behind the [`Selector`] interface, as Python's
/// `selectors.EpollSelector`; the [`super::DefaultSelector`] on Linux.
///
/// ```
/// use pyselect::selectors::{EpollSelector, Selector, EVENT_READ, EVENT_WRITE};
/// use pyselect::FileNo;
/// use std::os::unix::net::UnixStream;
///
/// let (a, _b) = UnixStream::pair()?;
/// let mut sel: EpollSelector<&dyn FileNo, ()> = EpollSelector::new()?; // epoll_create1
/// sel.register(&a, EVENT_WRITE, ())?;                       // epoll_ctl(ADD, {EPOLLOUT})
/// let ready = sel.select(Some(0.009))?;                     // epoll_wait(.., 1, 10): +1 ms
/// assert_eq!(ready[0].1, EVENT_WRITE);
/// // An fd that is not open: the kernel refuses it, and nothing is kept.
/// let err = sel.register(&9999, EVENT_READ, ()).map(drop).unwrap_err();
/// assert_eq!(err.to_string(), "[Errno 9] Bad file descriptor");
/// assert_eq!(sel.get_map().unwrap().len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// As CPython 3.11 on Linux:
/// - `new` makes one `epoll_create1(EPOLL_CLOEXEC)`; `register` one `epoll_ctl(ADD)` (a
///   kernel error, `[Errno 9]` for an fd not open or `[Errno 1]` for a regular file, keeps
///   nothing); `modify` one `epoll_ctl(MOD)` when the events change, none when only the data
///   does; `unregister` one `epoll_ctl(DEL)` whose error is ignored; `close` one `close(2)`;
/// - `select(t)` is one `epoll_wait` with maxevents `max(number of keys, 1)`, and the timeout
///   `-1` for `None`, `0` for `t <= 0`, otherwise `math.ceil(t * 1e3) * 1e-3` seconds, which
///   [`Epoll::poll`] rounds up to ms again: for some `t` (`0.009`, `0.013`, ...) the f64
///   product lies just above `n / 1000` and the wait is 1 ms longer than `PollSelector`'s
///   (`epoll_wait(.., 10)` for `0.009`), exactly as CPython's. NaN and infinity fail as
///   `math.ceil` fails (`cannot convert float NaN to integer`, `cannot convert float infinity
///   to integer`); other large values as [`Epoll::poll`] fails on the seconds
///   (`timeout is too large`, `timestamp out of range for platform time_t`);
/// - results come in the kernel's ready order; an event other than `EPOLLIN` counts as WRITE
///   and other than `EPOLLOUT` as READ, masked with the key's events;
/// - `modify` does not check the events (0 is stored); if the `epoll_ctl(MOD)` fails (an fd
///   closed since) the key is dropped while the epoll registration stays, as CPython's;
/// - after `close()`: `register` (after its checks) and `select` (after the timeout
///   arithmetic) fail with `Value("I/O operation on closed epoll object")`; `modify` and
///   `unregister` find no key (`Error::Key`), `get_key` is `Runtime("Selector is closed")`.
///
/// Differences from CPython: `close()` returns the error of `close(2)` (CPython's `epoll.close`
/// swallows it); the `epoll_ctl` event's `data.u64` is the fd with its upper bits zero.
///
/// # References
///
/// - Linux man pages: [`epoll(7)`](https://man7.org/linux/man-pages/man7/epoll.7.html), [`epoll_ctl(2)`](https://man7.org/linux/man-pages/man2/epoll_ctl.2.html), [`epoll_wait(2)`](https://man7.org/linux/man-pages/man2/epoll_wait.2.html)
/// - Python: [`selectors.EpollSelector`](https://docs.python.org/3.11/library/selectors.html#selectors.EpollSelector)
#[doc(alias = "epoll_wait")]
#[derive(Debug)]
pub struct EpollSelector<F, D>(PollLike<Epoll, F, D>);

/// Python's `_selector_cls = select.epoll`, `_EVENT_READ = select.EPOLLIN`, `_EVENT_WRITE =
/// select.EPOLLOUT`: each call one `epoll_ctl`.
impl KernelObject for Epoll {
    type Mask = u32;
    const READ: u32 = EPOLLIN;
    const WRITE: u32 = EPOLLOUT;
    const REFUSE_AFTER_CLOSE: bool = false;
    type Events = EpollEvents;

    registration_calls!(Epoll, u32);

    /// CPython's `EpollSelector.select` arithmetic: `None` for ever, `t <= 0` a poll,
    /// otherwise `math.ceil(t * 1e3) * 1e-3` seconds.
    fn timeout(timeout: Option<f64>) -> Result<Option<f64>> {
        match timeout {
            None => Ok(None),
            Some(t) if t <= 0.0 => Ok(Some(0.0)),
            Some(t) => Ok(Some(ceil_ms(t)? * 1e-3)),
        }
    }

    /// `max_ev = max(len(self._fd_to_key), 1)`.
    fn wait(
        &mut self,
        seconds: Option<f64>,
        registered: usize,
        events: &mut EpollEvents,
    ) -> Result<()> {
        let max_ev = i32::try_from(registered.max(1)).unwrap_or(i32::MAX);
        self.poll_into(seconds, Some(max_ev), events)
    }

    fn reported(events: &EpollEvents) -> impl Iterator<Item = (RawFd, u32)> + '_ {
        events.iter()
    }

    fn close(&mut self) -> Result<()> {
        Epoll::close(self)
    }
}

impl<F: FileNo, D> EpollSelector<F, D> {
    /// `epoll_create1(EPOLL_CLOEXEC)`: an empty selector (Python's `selectors.EpollSelector()`).
    ///
    /// # References
    ///
    /// - Linux man page: [`epoll_create(2)`](https://man7.org/linux/man-pages/man2/epoll_create.2.html)
    /// - Python: [`selectors.EpollSelector`](https://docs.python.org/3.11/library/selectors.html#selectors.EpollSelector)
    #[doc(alias = "epoll_create1")]
    pub fn new() -> Result<Self> {
        Ok(EpollSelector(PollLike::new(Epoll::new()?)))
    }

    /// No syscall: the epoll fd (Python's `EpollSelector.fileno()`); once closed,
    /// `Value("I/O operation on closed epoll object")`, as CPython's.
    ///
    /// # References
    ///
    /// - Python: [`selectors.EpollSelector.fileno`](https://docs.python.org/3.11/library/selectors.html#selectors.EpollSelector.fileno)
    pub fn fileno(&self) -> Result<RawFd> {
        self.0.selector.fileno()
    }
}

impl<F: FileNo, D> Selector<F, D> for EpollSelector<F, D> {
    /// `epoll_ctl(EPOLL_CTL_ADD)`: see [`Selector::register`]; a kernel error keeps nothing.
    #[doc(alias = "epoll_ctl")]
    fn register(&mut self, fileobj: F, events: u8, data: D) -> Result<&SelectorKey<F, D>> {
        self.0.register(fileobj, events, data)
    }

    /// `epoll_ctl(EPOLL_CTL_DEL)`: see [`Selector::unregister`]; its `Os` error is ignored.
    #[doc(alias = "epoll_ctl")]
    fn unregister<T: FileNo>(&mut self, fileobj: T) -> Result<SelectorKey<F, D>> {
        self.0.unregister(fileobj)
    }

    /// `epoll_ctl(EPOLL_CTL_MOD)` when the events change: see [`EpollSelector`].
    #[doc(alias = "epoll_ctl")]
    fn modify(&mut self, fileobj: F, events: u8, data: D) -> Result<&SelectorKey<F, D>> {
        self.0.modify(fileobj, events, data)
    }

    /// `epoll_wait(epfd, buf, max(len, 1), ms)`: see [`EpollSelector`].
    #[doc(alias = "epoll_wait")]
    fn select(&mut self, timeout: Option<f64>) -> Result<Vec<(SelectorKey<F, D>, u8)>>
    where
        F: Clone,
        D: Clone,
    {
        self.0.select(timeout)
    }

    key_lookups!();

    /// `close(2)` of the epoll fd, then forget every key; a second call does nothing. Unlike
    /// CPython, an error of `close(2)` is returned (the selector is closed either way).
    fn close(&mut self) -> Result<()> {
        self.0.close()
    }
}

/// No syscall: the epoll fd, -1 once closed.
impl<F, D> FileNo for EpollSelector<F, D> {
    fn fileno(&self) -> RawFd {
        FileNo::fileno(&self.0.selector)
    }
}

/// No syscall: the epoll fd, -1 once closed.
impl<F, D> AsRawFd for EpollSelector<F, D> {
    fn as_raw_fd(&self) -> RawFd {
        FileNo::fileno(&self.0.selector)
    }
}
