//! The multiplexed loop's one readiness call, behind a small interface with three
//! implementations (`--backend select|poll|epoll`). The loop says what it waits for on each fd
//! ([`Readiness::add`], [`Readiness::change`], [`Readiness::remove`]) and asks once per round
//! what is ready ([`Readiness::wait`]); the backends differ in what that costs:
//!
//! - `select`: the interest is kept here and turned into three `fd_set`s on every call
//!   (`pselect6`, with the except set for urgent data); the kernel scans every fd below `nfds`,
//!   and fds >= `FD_SETSIZE` cannot be watched at all.
//! - `poll`: the interest is a [`Poll`] object (no syscall to change it); every call copies the
//!   whole `pollfd` array into the kernel and back (`poll(`); urgent data is `POLLPRI`.
//! - `epoll`: the interest lives in the kernel; each change is one `epoll_ctl` (`ADD` on accept,
//!   `MOD` between read and write interest, `DEL` before close), and `epoll_wait` copies out
//!   only the ready fds; urgent data is `EPOLLPRI`.
//!
//! Level-triggered throughout, as `select()` is: an fd that stays ready is reported again.

use std::os::fd::RawFd;

use pyselect::{
    select_with, Epoll, Error, Poll, Syscall, EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLPRI,
    FD_SETSIZE, POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI,
};

/// Which readiness call the multiplexed loop makes (`--backend`).
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

/// What the loop waits for on one fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    /// A listener: a connection to accept (read set; `POLLIN`; `EPOLLIN`).
    Accept,
    /// A client's message or urgent data (read and except sets; `POLLIN|POLLPRI`;
    /// `EPOLLIN|EPOLLPRI`).
    Message,
    /// Room to write: a reply, or output lines (write set; `POLLOUT`; `EPOLLOUT`).
    Room,
}

impl Interest {
    fn reads(self) -> bool {
        self != Interest::Room
    }

    fn poll_mask(self) -> u16 {
        match self {
            Interest::Accept => POLLIN,
            Interest::Message => POLLIN | POLLPRI,
            Interest::Room => POLLOUT,
        }
    }

    fn epoll_mask(self) -> u32 {
        match self {
            Interest::Accept => EPOLLIN,
            Interest::Message => EPOLLIN | EPOLLPRI,
            Interest::Room => EPOLLOUT,
        }
    }
}

/// What one wait found, as `select()` returns it: the fds with urgent data, the readable and
/// the writable ones (an error or hang-up counts as readable or writable, whichever the fd
/// was watched for, so that the next call on it reports the error). One `Ready` serves every
/// round: [`Readiness::wait`] clears and refills it.
#[derive(Debug, Default)]
pub struct Ready {
    pub urgent: Vec<RawFd>,
    pub readable: Vec<RawFd>,
    pub writable: Vec<RawFd>,
}

impl Ready {
    fn clear(&mut self) {
        self.urgent.clear();
        self.readable.clear();
        self.writable.clear();
    }
}

enum Call {
    Select(Syscall),
    Poll(Poll),
    Epoll(Epoll),
}

/// The watched fds and the backend's readiness call.
pub struct Readiness {
    call: Call,
    /// What each fd is watched for, indexed by fd (the select backend's sets, in fd order;
    /// the poll and epoll backends' masks for reading back events).
    watched: Vec<Option<Interest>>,
    /// The select backend's read, write and except lists, rebuilt in one pass over `watched`
    /// each round (kept to reuse their memory).
    sets: Ready,
}

impl Readiness {
    /// A readiness call with nothing watched; `epoll_create1` for the epoll backend.
    pub fn new(backend: Backend, syscall: Syscall) -> Result<Readiness, Error> {
        let call = match backend {
            Backend::Select => Call::Select(syscall),
            Backend::Poll => Call::Poll(Poll::new()),
            Backend::Epoll => Call::Epoll(Epoll::new()?),
        };
        Ok(Readiness {
            call,
            watched: Vec::new(),
            sets: Ready::default(),
        })
    }

    /// Can this backend watch `fd` at all? (`select()` only takes fds below `FD_SETSIZE`.)
    pub fn takes(&self, fd: RawFd) -> bool {
        !matches!(self.call, Call::Select(_)) || (fd as usize) < FD_SETSIZE
    }

    fn interest(&self, fd: RawFd) -> Option<Interest> {
        self.watched.get(fd as usize).copied().flatten()
    }

    /// Is `fd` watched?
    pub fn watches(&self, fd: RawFd) -> bool {
        self.interest(fd).is_some()
    }

    /// Start watching `fd` (`epoll_ctl(ADD)`; no syscall for select and poll).
    pub fn add(&mut self, fd: RawFd, interest: Interest) -> Result<(), Error> {
        match &mut self.call {
            Call::Select(_) => {}
            Call::Poll(p) => p.register(fd, Some(interest.poll_mask()))?,
            Call::Epoll(ep) => ep.register(fd, Some(interest.epoll_mask()))?,
        }
        let i = fd as usize;
        if self.watched.len() <= i {
            self.watched.resize(i + 1, None);
        }
        self.watched[i] = Some(interest);
        Ok(())
    }

    /// Watch `fd` for something else (`epoll_ctl(MOD)`); nothing when it is unchanged.
    pub fn change(&mut self, fd: RawFd, interest: Interest) -> Result<(), Error> {
        if self.interest(fd) == Some(interest) {
            return Ok(());
        }
        match &mut self.call {
            Call::Select(_) => {}
            Call::Poll(p) => p.modify(fd, interest.poll_mask())?,
            Call::Epoll(ep) => ep.modify(fd, interest.epoll_mask())?,
        }
        self.watched[fd as usize] = Some(interest);
        Ok(())
    }

    /// Stop watching `fd`, before it is closed (`epoll_ctl(DEL)`); nothing when not watched.
    pub fn remove(&mut self, fd: RawFd) -> Result<(), Error> {
        if !self.watches(fd) {
            return Ok(());
        }
        self.watched[fd as usize] = None;
        match &mut self.call {
            Call::Select(_) => Ok(()),
            Call::Poll(p) => p.unregister(fd),
            Call::Epoll(ep) => ep.unregister(fd),
        }
    }

    /// The round's one readiness call: wait at most `timeout` seconds (`None`: until
    /// something is ready), and put what is ready in `ready` (cleared first).
    pub fn wait(&mut self, timeout: Option<f64>, ready: &mut Ready) -> Result<(), Error> {
        ready.clear();
        match &mut self.call {
            Call::Select(syscall) => {
                let sets = &mut self.sets;
                sets.clear();
                for (fd, interest) in self.watched.iter().enumerate() {
                    let fd = fd as RawFd;
                    match interest {
                        Some(Interest::Accept) => sets.readable.push(fd),
                        Some(Interest::Message) => {
                            sets.readable.push(fd);
                            sets.urgent.push(fd);
                        }
                        Some(Interest::Room) => sets.writable.push(fd),
                        None => {}
                    }
                }
                let (readable, writable, urgent) = select_with(
                    *syscall,
                    sets.readable.iter().copied(),
                    sets.writable.iter().copied(),
                    sets.urgent.iter().copied(),
                    timeout,
                )?;
                // select_with returns lists of its own: they take the place of `ready`'s.
                ready.urgent = urgent;
                ready.readable = readable;
                ready.writable = writable;
            }
            // poll's timeout is in milliseconds (rounded up to whole ms by `Poll::poll`).
            Call::Poll(p) => {
                let events = p.poll(timeout.map(|t| t * 1e3))?;
                let events = events.into_iter().map(|(fd, ev)| (fd, u32::from(ev)));
                let masks = Masks {
                    urgent: u32::from(POLLPRI),
                    read: u32::from(POLLIN | POLLERR | POLLHUP | POLLNVAL),
                    write: u32::from(POLLOUT | POLLERR | POLLHUP | POLLNVAL),
                };
                sort(&self.watched, events, masks, ready);
            }
            // epoll's in seconds, as Python's; at most 1,023 events a call (the rest stay
            // ready for the next round).
            Call::Epoll(ep) => {
                let events = ep.poll(timeout, None)?;
                let masks = Masks {
                    urgent: EPOLLPRI,
                    read: EPOLLIN | EPOLLERR | EPOLLHUP,
                    write: EPOLLOUT | EPOLLERR | EPOLLHUP,
                };
                sort(&self.watched, events.into_iter(), masks, ready);
            }
        }
        Ok(())
    }
}

/// poll/epoll events into `select()`'s three lists, keeping the kernel's order in each.
fn sort(
    watched: &[Option<Interest>],
    events: impl Iterator<Item = (RawFd, u32)>,
    m: Masks,
    ready: &mut Ready,
) {
    for (fd, ev) in events {
        let Some(interest) = watched.get(fd as usize).copied().flatten() else {
            continue;
        };
        if interest == Interest::Message && ev & m.urgent != 0 {
            ready.urgent.push(fd);
        }
        if interest.reads() && ev & m.read != 0 {
            ready.readable.push(fd);
        }
        if interest == Interest::Room && ev & m.write != 0 {
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
