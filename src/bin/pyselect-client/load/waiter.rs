//! The load loop's one readiness call (`--backend select|poll|epoll`): each in-flight socket
//! is watched for reading (the reply) or writing (connecting, sending), and [`Waiter::wait`]
//! returns the ready slots.
//!
//! `select` rebuilds its sets every round from the interest kept here (fds below `FD_SETSIZE`
//! only); `poll` keeps a [`Poll`] object (no syscall per change, the whole array copied in per
//! call); `epoll` keeps the interest in the kernel (`epoll_ctl` `ADD` when a transaction
//! starts, `MOD` from write to read interest, `DEL` before the socket closes).

use std::os::fd::RawFd;

use pyselect::{
    select, Epoll, Error, Poll, EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, FD_SETSIZE, POLLERR,
    POLLHUP, POLLIN, POLLNVAL, POLLOUT,
};

/// Which readiness call load mode makes (`--backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Select,
    Poll,
    Epoll,
}

enum Call {
    Select,
    Poll(Poll),
    Epoll(Epoll),
}

/// The watched sockets and the backend's readiness call.
pub struct Waiter {
    call: Call,
    /// Indexed by fd: the slot of the transaction on it, and whether it waits to write.
    watched: Vec<Option<(usize, bool)>>,
}

impl Waiter {
    /// Nothing watched yet; `epoll_create1` for the epoll backend.
    pub fn new(backend: Backend) -> Result<Waiter, Error> {
        let call = match backend {
            Backend::Select => Call::Select,
            Backend::Poll => Call::Poll(Poll::new()),
            Backend::Epoll => Call::Epoll(Epoll::new()?),
        };
        Ok(Waiter {
            call,
            watched: Vec::new(),
        })
    }

    /// Can this backend watch `fd`? (`select()` only takes fds below `FD_SETSIZE`.)
    pub fn takes(&self, fd: RawFd) -> bool {
        !matches!(self.call, Call::Select) || (fd as usize) < FD_SETSIZE
    }

    /// Watch `fd` (the transaction in `slot`) for writing or reading: `epoll_ctl(ADD)` the
    /// first time, `MOD` when the direction changes, nothing when it does not.
    pub fn set(&mut self, fd: RawFd, slot: usize, write: bool) -> Result<(), Error> {
        let i = fd as usize;
        if self.watched.len() <= i {
            self.watched.resize(i + 1, None);
        }
        let before = self.watched[i];
        if before == Some((slot, write)) {
            return Ok(());
        }
        match &mut self.call {
            Call::Select => {}
            Call::Poll(p) => p.register(fd, Some(if write { POLLOUT } else { POLLIN }))?,
            Call::Epoll(ep) => {
                let mask = if write { EPOLLOUT } else { EPOLLIN };
                match before {
                    None => ep.register(fd, Some(mask))?,
                    Some(_) => ep.modify(fd, mask)?,
                }
            }
        }
        self.watched[i] = Some((slot, write));
        Ok(())
    }

    /// Stop watching `fd` before its socket closes (`epoll_ctl(DEL)`).
    pub fn remove(&mut self, fd: RawFd) -> Result<(), Error> {
        match self.watched.get_mut(fd as usize) {
            Some(w @ Some(_)) => *w = None,
            _ => return Ok(()),
        }
        match &mut self.call {
            Call::Select => Ok(()),
            Call::Poll(p) => p.unregister(fd),
            Call::Epoll(ep) => ep.unregister(fd),
        }
    }

    /// The round's one readiness call, at most `timeout` seconds: the ready slots, each with
    /// whether it was watched for writing (writable ones first, as `select()`'s lists are
    /// handled).
    pub fn wait(&mut self, timeout: f64) -> Result<Vec<(usize, bool)>, Error> {
        let events: Vec<RawFd> = match &mut self.call {
            Call::Select => {
                let with = |write: bool| {
                    let watched = self.watched.iter().enumerate();
                    watched.filter_map(move |(fd, w)| {
                        w.filter(|&(_, wr)| wr == write).map(|_| fd as RawFd)
                    })
                };
                let (r, w, _) = select(with(false), with(true), std::iter::empty(), Some(timeout))?;
                w.into_iter().chain(r).collect()
            }
            // Milliseconds for poll (rounded up), seconds for epoll.
            Call::Poll(p) => {
                let any = POLLIN | POLLOUT | POLLERR | POLLHUP | POLLNVAL;
                let ready = p.poll(Some(timeout * 1e3))?.into_iter();
                ready
                    .filter(|&(_, ev)| ev & any != 0)
                    .map(|(fd, _)| fd)
                    .collect()
            }
            Call::Epoll(ep) => {
                let any = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP;
                let ready = ep.poll(Some(timeout), None)?.into_iter();
                ready
                    .filter(|&(_, ev)| ev & any != 0)
                    .map(|(fd, _)| fd)
                    .collect()
            }
        };
        // poll and epoll: the direction is the one the fd is watched for.
        let mut ready: Vec<(usize, bool)> = events
            .into_iter()
            .filter_map(|fd| self.watched.get(fd as usize).copied().flatten())
            .collect();
        ready.sort_by_key(|&(_, write)| !write);
        Ok(ready)
    }
}
