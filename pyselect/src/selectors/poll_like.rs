//! [`PollLike`]: Python's `selectors._PollLikeSelector`, the one body of
//! [`super::PollSelector`] and [`super::EpollSelector`]: the key map in front of a kernel object
//! (a [`crate::Poll`] or a [`crate::Epoll`]) that takes an event mask per fd.

use std::fmt;
use std::ops::BitOr;
use std::os::fd::RawFd;

use super::{Keys, SelectorKey, EVENT_READ, EVENT_WRITE};
use crate::error::{Error, Result};
use crate::fileno::FileNo;

/// What `_PollLikeSelector` asks of its kernel object (Python's `self._selector`, a
/// `select.poll()` or a `select.epoll()`): its two event bits and its three registration
/// calls. Each selector's file implements it, as CPython's subclasses set `_selector_cls`,
/// `_EVENT_READ` and `_EVENT_WRITE`.
pub(super) trait KernelObject {
    /// The object's event mask: `u16` for poll, `u32` for epoll.
    type Mask: Copy + Default + BitOr<Output = Self::Mask> + Into<u32>;
    /// `_EVENT_READ`: `POLLIN` or `EPOLLIN`.
    const READ: Self::Mask;
    /// `_EVENT_WRITE`: `POLLOUT` or `EPOLLOUT`.
    const WRITE: Self::Mask;
    /// True where CPython's object carries on with stale fds after `close()` (poll), so that
    /// pyselect refuses instead (gh-91433); false where it fails by itself (epoll).
    const REFUSE_AFTER_CLOSE: bool;

    /// The buffer a wait reports into, kept by the selector from one `select()` to the next.
    type Events: Default + fmt::Debug;

    /// `self._selector.register(fd, mask)`.
    fn register(&mut self, fd: RawFd, mask: Self::Mask) -> Result<()>;
    /// `self._selector.modify(fd, mask)`.
    fn modify(&mut self, fd: RawFd, mask: Self::Mask) -> Result<()>;
    /// `self._selector.unregister(fd)`.
    fn unregister(&mut self, fd: RawFd) -> Result<()>;

    /// The selector's timeout arithmetic (CPython's subclass `select`): the timeout the kernel
    /// object's `poll` is given, in its unit, or the selector's error.
    fn timeout(timeout: Option<f64>) -> Result<Option<f64>>;
    /// `self._selector.poll(timeout, ...)` with `registered` keys, into `events`.
    fn wait(
        &mut self,
        timeout: Option<f64>,
        registered: usize,
        events: &mut Self::Events,
    ) -> Result<()>;
    /// The `(fd, mask)` pairs the last [`KernelObject::wait`] left in `events`, in its order.
    fn reported(events: &Self::Events) -> impl Iterator<Item = (RawFd, Self::Mask)> + '_;
    /// `self._selector.close()`, as the selector's `close()` does it.
    fn close(&mut self) -> Result<()>;
}

/// The three registration calls of a [`KernelObject`] whose own `register(fd, Some(mask))`,
/// `modify(fd, mask)` and `unregister(fd)` are Python's (both [`crate::Poll`] and
/// [`crate::Epoll`] have them): written once, expanded inside each object's impl.
macro_rules! registration_calls {
    ($object:ident, $mask:ty) => {
        fn register(&mut self, fd: RawFd, mask: $mask) -> Result<()> {
            $object::register(self, fd, Some(mask))
        }

        fn modify(&mut self, fd: RawFd, mask: $mask) -> Result<()> {
            $object::modify(self, fd, mask)
        }

        fn unregister(&mut self, fd: RawFd) -> Result<()> {
            $object::unregister(self, fd)
        }
    };
}
pub(super) use registration_calls;

/// [`super::Selector::get_key`] and [`super::Selector::get_map`] of a selector that wraps a
/// [`PollLike`] (`self.0`): the key map's, no syscall. Expanded inside each one's impl.
macro_rules! key_lookups {
    () => {
        /// No syscall: see [`Selector::get_key`].
        fn get_key<T: FileNo>(&self, fileobj: T) -> Result<&SelectorKey<F, D>> {
            self.0.keys.get(&fileobj)
        }

        /// No syscall: see [`Selector::get_map`].
        fn get_map(&self) -> Option<&BTreeMap<RawFd, SelectorKey<F, D>>> {
            self.0.keys.get_map()
        }
    };
}
pub(super) use key_lookups;

/// The key map and the kernel object of a poll-like selector (Python's `_fd_to_key` and
/// `_selector`). The public selectors wrap one and add their own `select` and `close`.
#[derive(Debug)]
pub(super) struct PollLike<K: KernelObject, F, D> {
    pub(super) keys: Keys<F, D>,
    pub(super) selector: K,
    /// What the last `select()` was told, reused by the next (the reusing calls
    /// [`crate::Poll::poll_into`] and [`crate::Epoll::poll_into`]).
    events: K::Events,
}

impl<K: KernelObject, F: FileNo, D> PollLike<K, F, D> {
    pub(super) fn new(selector: K) -> Self {
        PollLike {
            keys: Keys::new(K::REFUSE_AFTER_CLOSE),
            selector,
            events: K::Events::default(),
        }
    }

    /// The kernel mask of selector events.
    fn mask(events: u8) -> K::Mask {
        let mut mask = K::Mask::default();
        if events & EVENT_READ != 0 {
            mask = mask | K::READ;
        }
        if events & EVENT_WRITE != 0 {
            mask = mask | K::WRITE;
        }
        mask
    }

    /// Python's `register`: the base checks, then the kernel object's `register` (whose error
    /// keeps nothing), then the key.
    pub(super) fn register(
        &mut self,
        fileobj: F,
        events: u8,
        data: D,
    ) -> Result<&SelectorKey<F, D>> {
        let fd = self.keys.check_new(&fileobj, events)?;
        self.selector.register(fd, Self::mask(events))?;
        Ok(self.keys.insert(SelectorKey {
            fileobj,
            fd,
            events,
            data,
        }))
    }

    /// Python's `unregister`: the key goes, then the kernel object's `unregister`, whose
    /// `OSError` is ignored (the fd may have been closed since).
    pub(super) fn unregister<T: FileNo>(&mut self, fileobj: T) -> Result<SelectorKey<F, D>> {
        let key = self.keys.remove(&fileobj)?;
        match self.selector.unregister(key.fd) {
            Ok(()) | Err(Error::Os(_)) => Ok(key),
            Err(e) => Err(e),
        }
    }

    /// Python's `modify`: events are not checked; the kernel object's `modify` only when they
    /// change, and if it fails the key is dropped while the kernel's registration (if any)
    /// stays (CPython's `super().unregister(fileobj)`).
    pub(super) fn modify(&mut self, fileobj: F, events: u8, data: D) -> Result<&SelectorKey<F, D>> {
        let key = self.keys.lookup(&fileobj)?;
        let fd = key.fd;
        if key.events != events {
            if let Err(e) = self.selector.modify(fd, Self::mask(events)) {
                self.keys.map.remove(&fd);
                return Err(e);
            }
        }
        self.keys.update(fd, &fileobj, events, data)
    }

    /// Python's `select`: the selector's timeout arithmetic, pyselect's refusal after `close()`
    /// (a no-op for epoll, whose closed object refuses by itself), the wait into the kept
    /// buffer, then the ready keys.
    pub(super) fn select(&mut self, timeout: Option<f64>) -> Result<Vec<(SelectorKey<F, D>, u8)>>
    where
        F: Clone,
        D: Clone,
    {
        let timeout = K::timeout(timeout)?;
        self.keys.refuse_if_closed()?;
        let registered = self.keys.map.len();
        self.selector.wait(timeout, registered, &mut self.events)?;
        Ok(self.ready())
    }

    /// Python's `close()`: the kernel object's, then every key forgotten (and the buffer).
    pub(super) fn close(&mut self) -> Result<()> {
        let closed = self.selector.close();
        self.keys.close();
        self.events = K::Events::default();
        closed
    }

    /// The end of Python's `select`: each reported fd with a key, its bits mapped to events
    /// (anything but `_EVENT_READ` is WRITE, anything but `_EVENT_WRITE` is READ, so a hang-up
    /// or an error is both), masked with the key's events; an fd without a key is dropped.
    fn ready(&self) -> Vec<(SelectorKey<F, D>, u8)>
    where
        F: Clone,
        D: Clone,
    {
        let (read, write): (u32, u32) = (K::READ.into(), K::WRITE.into());
        let reported = K::reported(&self.events);
        let mut ready = Vec::with_capacity(reported.size_hint().0);
        for (fd, bits) in reported {
            let Some(key) = self.keys.map.get(&fd) else {
                continue;
            };
            let bits: u32 = bits.into();
            let mut events = 0;
            if bits & !read != 0 {
                events |= EVENT_WRITE;
            }
            if bits & !write != 0 {
                events |= EVENT_READ;
            }
            ready.push((key.clone(), events & key.events));
        }
        ready
    }
}
