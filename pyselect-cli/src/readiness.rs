//! The one readiness call of an event loop (`--backend select|poll|epoll`), behind a small
//! interface that both programs share: the server's multiplexed loop and the client's load
//! mode each use this module. The loop says what it waits for
//! on each fd ([`Readiness::set`], [`Readiness::remove`]) and asks once per round what is
//! ready ([`Readiness::wait`]); the backends differ in what that costs:
//!
//! - `select`: the interest is kept here and turned into `fd_set`s on every call (`pselect6`;
//!   the except set only when something is watched for urgent data); the kernel scans every fd
//!   below `nfds`, and fds >= `FD_SETSIZE` cannot be watched at all.
//! - `poll`: the interest is a [`Poll`] object (no syscall to change it); every call copies the
//!   whole `pollfd` array into the kernel and back (`poll(`); urgent data is `POLLPRI`.
//! - `epoll`: the interest lives in the kernel; each change is one `epoll_ctl` (`ADD` for a new
//!   fd, `MOD` when its interest changes, `DEL` before close), and `epoll_wait` copies out only
//!   the ready fds; urgent data is `EPOLLPRI`.
//!
//! What the two programs watch for differs as data: an [`Interest`] says which of `select()`'s
//! three sets an fd goes in (the client never asks for urgent data), and each watched fd
//! carries a tag of the program's choosing (the client's slot number; nothing for the server).
//!
//! Level-triggered throughout, as `select()` is: an fd that stays ready is reported again.

use std::os::fd::RawFd;
use std::time::Instant;

use pyselect::{
    select_into_with, Epoll, EpollEvents, Error, Poll, ReadyLists, Syscall, EPOLLERR, EPOLLHUP,
    EPOLLIN, EPOLLOUT, EPOLLPRI, FD_SETSIZE, POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI,
};

/// Which readiness call the loop makes (`--backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Select,
    Poll,
    Epoll,
}

impl Backend {
    /// The backend's name, as `--backend` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Select => "select",
            Backend::Poll => "poll",
            Backend::Epoll => "epoll",
        }
    }
}

/// What the loop waits for on one fd: which of `select()`'s sets it goes in (read, except,
/// write), as `POLLIN`/`POLLPRI`/`POLLOUT` and `EPOLLIN`/`EPOLLPRI`/`EPOLLOUT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interest {
    read: bool,
    urgent: bool,
    write: bool,
}

impl Interest {
    /// Readable: a connection to accept, or a reply.
    pub const READ: Interest = Interest {
        read: true,
        urgent: false,
        write: false,
    };
    /// Readable or urgent data: a server's client, for its message or a `MSG_OOB` byte.
    pub const READ_URGENT: Interest = Interest {
        read: true,
        urgent: true,
        write: false,
    };
    /// Room to write: a connect to finish, a message or reply to send, output lines.
    pub const WRITE: Interest = Interest {
        read: false,
        urgent: false,
        write: true,
    };

    fn poll_mask(self) -> u16 {
        let bit = |on: bool, mask: u16| if on { mask } else { 0 };
        bit(self.read, POLLIN) | bit(self.urgent, POLLPRI) | bit(self.write, POLLOUT)
    }

    fn epoll_mask(self) -> u32 {
        let bit = |on: bool, mask: u32| if on { mask } else { 0 };
        bit(self.read, EPOLLIN) | bit(self.urgent, EPOLLPRI) | bit(self.write, EPOLLOUT)
    }
}

/// What one wait found, as `select()` returns it: the fds with urgent data, the readable and
/// the writable ones (an error or hang-up counts as readable or writable, whichever the fd
/// was watched for, so that the next call on it reports the error). One `ReadyFds` serves every
/// round: [`Readiness::wait`] clears and refills it.
#[derive(Debug, Default)]
pub struct ReadyFds {
    pub urgent: Vec<RawFd>,
    pub readable: Vec<RawFd>,
    pub writable: Vec<RawFd>,
}

impl ReadyFds {
    fn clear(&mut self) {
        self.urgent.clear();
        self.readable.clear();
        self.writable.clear();
    }

    /// Nothing ready?
    fn is_empty(&self) -> bool {
        self.urgent.is_empty() && self.readable.is_empty() && self.writable.is_empty()
    }
}

/// The longest single wait, in seconds, on every backend: `INT_MAX` milliseconds, the most
/// `poll(2)` and `epoll_wait(2)` take (Python's `timeout is too large` beyond it). A longer
/// timeout is waited in parts ([`Readiness::wait`]).
pub const LONGEST_WAIT: f64 = i32::MAX as f64 / 1e3;

/// Events one `epoll_wait` returns at most: Python's default, `FD_SETSIZE - 1`.
pub const MAX_EVENTS: i32 = FD_SETSIZE as i32 - 1;

enum Call {
    Select(Syscall),
    Poll(Poll),
    Epoll(Epoll),
}

/// The watched fds, each with its [`Interest`] and a tag `T`, and the backend's readiness
/// call.
pub struct Readiness<T> {
    call: Call,
    /// What each fd is watched for, and its tag, indexed by fd (the select backend's sets, in
    /// fd order; the poll and epoll backends' masks for reading back events).
    watched: Vec<Option<(Interest, T)>>,
    /// The select backend's read, write and except lists, rebuilt in one pass over `watched`
    /// each round (kept to reuse their memory).
    sets: ReadyFds,
    /// What the last call returned, kept to reuse its memory: select's three lists, poll's
    /// pairs, epoll's event buffer.
    selected: ReadyLists<RawFd>,
    polled: Vec<(RawFd, u16)>,
    events: EpollEvents,
}

impl<T: Copy + PartialEq> Readiness<T> {
    /// A readiness call with nothing watched; `epoll_create1` for the epoll backend. `syscall`
    /// is the select backend's (`--syscall`).
    pub fn new(backend: Backend, syscall: Syscall) -> Result<Readiness<T>, Error> {
        let call = match backend {
            Backend::Select => Call::Select(syscall),
            Backend::Poll => Call::Poll(Poll::new()),
            Backend::Epoll => Call::Epoll(Epoll::new()?),
        };
        Ok(Readiness {
            call,
            watched: Vec::new(),
            sets: ReadyFds::default(),
            selected: ReadyLists::new(),
            polled: Vec::new(),
            events: EpollEvents::new(),
        })
    }

    /// Can this backend watch `fd` at all? (`select()` only takes fds below `FD_SETSIZE`.)
    pub fn takes(&self, fd: RawFd) -> bool {
        !matches!(self.call, Call::Select(_)) || (fd as usize) < FD_SETSIZE
    }

    /// What `fd` is watched for, and its tag; `None` when it is not watched.
    pub fn registered(&self, fd: RawFd) -> Option<(Interest, T)> {
        self.watched.get(fd as usize).copied().flatten()
    }

    /// Watch `fd` for `interest`, tagged `tag`: `epoll_ctl(ADD)` when it was not watched,
    /// `MOD` when its interest changes (no syscall for select and poll), nothing when neither
    /// changes.
    pub fn set(&mut self, fd: RawFd, interest: Interest, tag: T) -> Result<(), Error> {
        let before = self.registered(fd);
        if before == Some((interest, tag)) {
            return Ok(());
        }
        let changes = before.map(|(i, _)| i) != Some(interest);
        match &mut self.call {
            Call::Poll(p) if changes => match before {
                None => p.register(fd, Some(interest.poll_mask()))?,
                Some(_) => p.modify(fd, interest.poll_mask())?,
            },
            Call::Epoll(ep) if changes => match before {
                None => ep.register(fd, Some(interest.epoll_mask()))?,
                Some(_) => ep.modify(fd, interest.epoll_mask())?,
            },
            _ => {}
        }
        let i = fd as usize;
        if self.watched.len() <= i {
            self.watched.resize(i + 1, None);
        }
        self.watched[i] = Some((interest, tag));
        Ok(())
    }

    /// Stop watching `fd`, before it is closed (`epoll_ctl(DEL)`); nothing when not watched.
    pub fn remove(&mut self, fd: RawFd) -> Result<(), Error> {
        match self.watched.get_mut(fd as usize) {
            Some(w @ Some(_)) => *w = None,
            _ => return Ok(()),
        }
        match &mut self.call {
            Call::Select(_) => Ok(()),
            Call::Poll(p) => p.unregister(fd),
            Call::Epoll(ep) => ep.unregister(fd),
        }
    }

    /// The round's one readiness call: wait at most `timeout` seconds (`None`: until
    /// something is ready), and put what is ready in `ready` (cleared first). Returns whether
    /// the call looked at every watched fd: false when epoll filled its [`MAX_EVENTS`] (the
    /// rest stay ready for the next round), or when an `EINTR` (a stop and `SIGCONT`, say)
    /// found the deadline passed and returned without asking the kernel again.
    ///
    /// This is the program's own wait, not Python's call: a timeout beyond the longest one
    /// `poll(2)` and `epoll_wait(2)` take ([`LONGEST_WAIT`], `INT_MAX` ms) is waited in
    /// parts of at most that, on every backend, until something is ready or it has all
    /// passed.
    pub fn wait(&mut self, timeout: Option<f64>, ready: &mut ReadyFds) -> Result<bool, Error> {
        let Some(timeout) = timeout else {
            return self.wait_once(None, ready);
        };
        let start = Instant::now();
        loop {
            let left = (timeout - start.elapsed().as_secs_f64()).max(0.0);
            let looked = self.wait_once(Some(left.min(LONGEST_WAIT)), ready)?;
            if left <= LONGEST_WAIT || !ready.is_empty() {
                return Ok(looked);
            }
        }
    }

    /// One readiness call of at most [`LONGEST_WAIT`] seconds; see [`Readiness::wait`].
    fn wait_once(&mut self, timeout: Option<f64>, ready: &mut ReadyFds) -> Result<bool, Error> {
        ready.clear();
        let mut looked = true;
        match &mut self.call {
            Call::Select(syscall) => {
                let sets = &mut self.sets;
                sets.clear();
                for (fd, w) in self.watched.iter().enumerate() {
                    let Some((interest, _)) = w else {
                        continue;
                    };
                    let fd = fd as RawFd;
                    if interest.read {
                        sets.readable.push(fd);
                    }
                    if interest.urgent {
                        sets.urgent.push(fd);
                    }
                    if interest.write {
                        sets.writable.push(fd);
                    }
                }
                let selected = &mut self.selected;
                select_into_with(
                    *syscall,
                    sets.readable.iter().copied(),
                    sets.writable.iter().copied(),
                    sets.urgent.iter().copied(),
                    timeout,
                    selected,
                )?;
                // The lists trade places with `ready`'s: no copy, and both keep their memory.
                std::mem::swap(&mut ready.urgent, &mut selected.exceptional);
                std::mem::swap(&mut ready.readable, &mut selected.readable);
                std::mem::swap(&mut ready.writable, &mut selected.writable);
            }
            // poll's timeout is in milliseconds (rounded up to whole ms by `Poll::poll`).
            Call::Poll(p) => {
                let ms = timeout.map(|t| (t * 1e3).min(f64::from(i32::MAX)));
                p.poll_into(ms, &mut self.polled)?;
                let events = self.polled.iter().map(|&(fd, ev)| (fd, u32::from(ev)));
                let masks = Masks {
                    urgent: u32::from(POLLPRI),
                    read: u32::from(POLLIN | POLLERR | POLLHUP | POLLNVAL),
                    write: u32::from(POLLOUT | POLLERR | POLLHUP | POLLNVAL),
                };
                sort(&self.watched, events, masks, ready);
            }
            // epoll's in seconds, as Python's; at most MAX_EVENTS events a call (the rest
            // stay ready for the next round).
            Call::Epoll(ep) => {
                ep.poll_into(timeout, Some(MAX_EVENTS), &mut self.events)?;
                looked = self.events.len() < MAX_EVENTS as usize;
                let masks = Masks {
                    urgent: EPOLLPRI,
                    read: EPOLLIN | EPOLLERR | EPOLLHUP,
                    write: EPOLLOUT | EPOLLERR | EPOLLHUP,
                };
                sort(&self.watched, self.events.iter(), masks, ready);
            }
        }
        Ok(looked)
    }
}

/// poll/epoll events into `select()`'s three lists, keeping the kernel's order in each.
fn sort<T: Copy>(
    watched: &[Option<(Interest, T)>],
    events: impl Iterator<Item = (RawFd, u32)>,
    m: Masks,
    ready: &mut ReadyFds,
) {
    for (fd, ev) in events {
        let Some((interest, _)) = watched.get(fd as usize).copied().flatten() else {
            continue;
        };
        if interest.urgent && ev & m.urgent != 0 {
            ready.urgent.push(fd);
        }
        if interest.read && ev & m.read != 0 {
            ready.readable.push(fd);
        }
        if interest.write && ev & m.write != 0 {
            ready.writable.push(fd);
        }
    }
}

/// Which event bits stand for urgent data, for readable and for writable.
struct Masks {
    urgent: u32,
    read: u32,
    write: u32,
}
