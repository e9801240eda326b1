//! [`PollLike`]: Python's `selectors._PollLikeSelector`, the one body of
//! [`super::PollSelector`] and [`super::EpollSelector`]: the key map in front of a kernel object
//! (a [`crate::Poll`] or a [`crate::Epoll`]) that takes an event mask per fd.

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

    /// `self._selector.register(fd, mask)`.
    fn register(&mut self, fd: RawFd, mask: Self::Mask) -> Result<()>;
    /// `self._selector.modify(fd, mask)`.
    fn modify(&mut self, fd: RawFd, mask: Self::Mask) -> Result<()>;
    /// `self._selector.unregister(fd)`.
    fn unregister(&mut self, fd: RawFd) -> Result<()>;
}

/// The key map and the kernel object of a poll-like selector (Python's `_fd_to_key` and
/// `_selector`). The public selectors wrap one and add their own `select` and `close`.
#[derive(Debug)]
pub(super) struct PollLike<K, F, D> {
    pub(super) keys: Keys<F, D>,
    pub(super) selector: K,
}

impl<K: KernelObject, F: FileNo, D> PollLike<K, F, D> {
    pub(super) fn new(selector: K) -> Self {
        PollLike {
            keys: Keys::new(K::REFUSE_AFTER_CLOSE),
            selector,
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

    /// The end of Python's `select`: each reported fd with a key, its bits mapped to events
    /// (anything but `_EVENT_READ` is WRITE, anything but `_EVENT_WRITE` is READ, so a hang-up
    /// or an error is both), masked with the key's events; an fd without a key is dropped.
    pub(super) fn ready(&self, reported: Vec<(RawFd, K::Mask)>) -> Vec<(SelectorKey<F, D>, u8)>
    where
        F: Clone,
        D: Clone,
    {
        let (read, write): (u32, u32) = (K::READ.into(), K::WRITE.into());
        let mut ready = Vec::with_capacity(reported.len());
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
