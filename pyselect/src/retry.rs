//! PEP 475's retry: the one loop of every call that waits, as CPython's `select.select`,
//! `poll.poll`, `epoll.poll` and the socket calls retry after `EINTR`.
//!
//! The time arithmetic (what a timeout rounds to, what is left of a [`Deadline`]) is in
//! [`crate::timeout`]; what an `EINTR` means (a watched signal, the host's check) is
//! [`crate::signals`]'s to say. This file joins the two.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::timeout::{poll_ms, Deadline, MsTimeout};

/// PEP 475: the one retry loop of every call that waits ([`crate::select()`], `poll(2)`,
/// `epoll_wait(2)`, the socket calls), as CPython's: `call(None)` first; on `EINTR`,
/// [`crate::signals`] decides (a watched signal or the host's check ends the call with its
/// error), else `call` again: with `None` when there is no deadline (the same argument), with
/// `Some(time left)` while the deadline has not passed, and `Ok(None)` once it has. Any other
/// error is [`Error::Os`].
#[inline]
pub(crate) fn pep475<T>(
    deadline: Option<Deadline>,
    mut call: impl FnMut(Option<Duration>) -> std::io::Result<T>,
) -> Result<Option<T>> {
    // The first call, inline in every wait; what follows a failure is out of line.
    match call(None) {
        Ok(done) => Ok(Some(done)),
        Err(e) => pep475_failed(deadline, call, e),
    }
}

/// [`pep475`] after its first call failed with `first`.
#[cold]
#[inline(never)]
fn pep475_failed<T>(
    deadline: Option<Deadline>,
    mut call: impl FnMut(Option<Duration>) -> std::io::Result<T>,
    first: std::io::Error,
) -> Result<Option<T>> {
    let mut left = None;
    let mut result = Err(first);
    loop {
        match result {
            Ok(done) => return Ok(Some(done)),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {
                crate::signals::check_signals()?;
                if let Some(deadline) = deadline {
                    match deadline.left() {
                        Some(l) => left = Some(l),
                        None => return Ok(None),
                    }
                }
            }
            Err(e) => return Err(Error::Os(e)),
        }
        result = call(left);
    }
}

/// [`pep475`] for the calls that take whole milliseconds, `poll(2)` and `epoll_wait(2)`, as
/// CPython's `select.poll.poll` and `select.epoll.poll`: `call(ms)`, retried with the time left
/// until `timeout.wait` rounded up to whole ms (an infinite wait stays -1), or `Ok(None)` once
/// that has passed. A watched signal already pending ends it before the first call, as CPython
/// runs signal handlers before it.
#[inline]
pub(crate) fn retry_ms<T>(
    timeout: MsTimeout,
    mut call: impl FnMut(i32) -> std::io::Result<T>,
) -> Result<Option<T>> {
    crate::signals::refuse_pending()?;
    let MsTimeout { ms, wait } = timeout;
    // No deadline (no timeout, or a negative one): a retry passes the same argument.
    let deadline = wait.map(Deadline::start);
    // What is left, rounded up to whole ms (`_PyTime_ROUND_CEILING`).
    pep475(deadline, |left| call(left.map_or(ms, poll_ms)))
}
