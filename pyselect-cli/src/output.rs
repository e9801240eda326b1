//! Lines on stdout and stderr, each with one `write(2)`, as the seed's `print()` makes them on
//! a terminal: part of the strace story (one `write(1, "hello socket1\n", 14)` per line).
//!
//! Two ways to write:
//! - [`print_line`] / [`eprint_line`] block while the reader is slow, as Python's `print()`
//!   does; a watched signal (see [`pyselect::signals`]) ends the wait: the line is given up and
//!   the signal stays pending for the program's next call.
//! - [`LineQueue`] never blocks: what the reader cannot take now waits in a queue of fixed
//!   size, flushed when the fd is writable; a line that does not fit is dropped and counted.
//!   [`LineQueue::detach`] first gives a pipe a private, non-blocking open file description.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use pyselect::timeout::{self, Deadline};
use pyselect::{signals, Error, FileNo};

use crate::sys;

/// Write `line` and a newline to stdout with one `write(2)`, as it happens (no buffering).
/// A closed stdout (`EPIPE`) is reported, never fatal. Blocks while a reader is slow, unless a
/// watched signal arrives: see [`write_all`].
pub fn print_line(line: &str) -> io::Result<()> {
    write_all(1, format!("{line}\n").as_bytes())
}

/// Write `line` and a newline to stderr with one `write(2)`; see [`print_line`].
pub fn eprint_line(line: &str) -> io::Result<()> {
    write_all(2, format!("{line}\n").as_bytes())
}

/// `write(2)` until all of `buf` is out, across partial writes and `EINTR`.
///
/// A signal the program watches through [`pyselect::signals`] ends the write: whether it arrived
/// before the call or interrupted a blocked `write`, the rest of `buf` is given up and the
/// error is [`Error::Interrupted`] (as an `io::Error`, see `From<Error> for io::Error`). The
/// signal stays pending, so the program's next `select()` or socket call reports it too. Any
/// other `EINTR` is retried.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        if let Some(sig) = signals::pending() {
            return Err(Error::Interrupted(sig).into());
        }
        match sys::write(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `poll()` for room on `fd` for at most `limit`, then one `write` of `buf` (`true` when it
/// all went out). For a last line that must not hold up an exit: a pipe nobody reads costs
/// at most `limit`.
pub fn write_within(fd: RawFd, buf: &[u8], limit: Duration) -> bool {
    let ms = timeout::poll_ms(limit);
    match sys::poll_one(fd, libc::POLLOUT, ms) {
        Ok(revents) if revents & libc::POLLOUT != 0 => {
            matches!(sys::write(fd, buf), Ok(n) if n == buf.len())
        }
        _ => false,
    }
}

/// The process's own stdout or stderr: the only fds [`LineQueue::detach`] may rewire, since
/// making a fd name another open file description is only sound for a number the program owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// fd 1.
    Stdout,
    /// fd 2.
    Stderr,
}

impl Stream {
    /// The fd number: 1 or 2.
    pub fn fd(self) -> RawFd {
        match self {
            Stream::Stdout => 1,
            Stream::Stderr => 2,
        }
    }
}

/// How [`LineQueue::detach`] made an fd safe to write without blocking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detached {
    /// A pipe or FIFO: the fd now names a new open file description of the same pipe,
    /// opened `O_NONBLOCK` through `/proc/self/fd`; the shell's description is untouched.
    PrivatePipe,
    /// A socket: its open file description, which other processes may share, is left as it
    /// is; a queue made with [`LineQueue::on_socket`] writes to it with
    /// `send(MSG_DONTWAIT)`, which never blocks whatever that description's flags.
    SharedSocket,
    /// A terminal, a regular file or another device: left as it is, blocking (a terminal
    /// the shell shares never becomes non-blocking; a file never keeps a writer waiting).
    Unchanged,
}

/// Lines for one fd that never block the program: written at once when the fd has room,
/// otherwise queued (at most `limit` bytes) and written by [`LineQueue::flush`] when
/// `select()` reports the fd writable (see [`LineQueue::pending`]). A line that does not fit
/// the queue is dropped whole and counted ([`LineQueue::dropped`]). Lines keep their order.
///
/// The fd should be non-blocking (see [`LineQueue::detach`]), or a socket written with
/// `MSG_DONTWAIT` ([`LineQueue::on_socket`]); on a blocking fd (a terminal) a write waits as
/// `print()` does.
///
/// A write that fails (`ENOSPC` on `/dev/full`, `EPIPE` from a closed reader) loses its line:
/// [`LineQueue::lost`] counts those lines, and [`LineQueue::error`] keeps the first error.
#[derive(Debug)]
pub struct LineQueue {
    fd: RawFd,
    /// Bytes not yet written: `buf[head..]`, whole lines except that the first may have
    /// been written in part. Empty, with `head` 0, whenever nothing is pending.
    buf: Vec<u8>,
    head: usize,
    limit: usize,
    dropped: u64,
    /// Of `dropped`, the lines a failed write lost.
    lost: u64,
    /// The first failed write's error.
    error: Option<io::Error>,
    /// Write with `send(MSG_DONTWAIT | MSG_NOSIGNAL)` instead of `write`.
    socket: bool,
}

impl LineQueue {
    /// Prepare `stream` (the process's stdout or stderr) for writes that must not block; see
    /// [`Detached`]. Syscalls: `fstat`; for a pipe `open("/proc/self/fd/N")`, `dup2`, `close`.
    /// No description another process may share is changed: a socket's is left as it is
    /// (write it with a queue from [`LineQueue::on_socket`]), so nothing needs restoring at
    /// exit, whatever ends the program.
    pub fn detach(stream: Stream) -> io::Result<Detached> {
        let fd = stream.fd();
        match sys::file_type(fd)? {
            libc::S_IFIFO => {
                let private = sys::reopen_write_nonblocking(fd)?;
                sys::dup2(&private, stream)?;
                sys::close(private)?;
                Ok(Detached::PrivatePipe)
            }
            libc::S_IFSOCK => Ok(Detached::SharedSocket),
            _ => Ok(Detached::Unchanged),
        }
    }

    /// A queue for `fd` holding at most `limit` unwritten bytes.
    pub fn new(fd: RawFd, limit: usize) -> LineQueue {
        LineQueue {
            fd,
            buf: Vec::new(),
            head: 0,
            limit,
            dropped: 0,
            lost: 0,
            error: None,
            socket: false,
        }
    }

    /// A queue for the socket `fd`, written with `send(MSG_DONTWAIT | MSG_NOSIGNAL)`: never
    /// blocking, with the socket's open file description (and its `O_NONBLOCK` flag) left as
    /// it is.
    pub fn on_socket(fd: RawFd, limit: usize) -> LineQueue {
        LineQueue {
            socket: true,
            ..LineQueue::new(fd, limit)
        }
    }

    /// Write `line` and a newline (one `write(2)` when nothing is queued), or queue it.
    pub fn write_line(&mut self, line: &str) {
        if self.pending() {
            self.enqueue(line);
            self.flush();
            return;
        }
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        match self.write_some(&bytes) {
            Ok(n) if n == bytes.len() => {}
            // The rest of a line partly written must follow, whatever the limit. Nothing was
            // pending, so the queue is empty (`flush` and `drop_pending` leave it so).
            Ok(n) => self.buf.extend_from_slice(&bytes[n..]),
            Err(e) => {
                self.failed(e);
                self.dropped += 1;
                self.lost += 1;
            }
        }
    }

    /// Queue `line` behind what is waiting, or drop it when the queue is full.
    fn enqueue(&mut self, line: &str) {
        if self.buf.len() - self.head + line.len() + 1 > self.limit {
            self.dropped += 1;
            return;
        }
        if self.head > 0 && self.head * 2 >= self.buf.len() {
            self.buf.drain(..self.head);
            self.head = 0;
        }
        self.buf.extend_from_slice(line.as_bytes());
        self.buf.push(b'\n');
    }

    /// One `write` (or `send`): the bytes written (0 when the fd has no room), or the error
    /// of an fd that failed for good (closed reader, bad fd, full device): the caller counts
    /// the loss. On a blocking fd (a terminal) a watched signal ends the wait as "no room",
    /// and stays pending.
    fn write_some(&self, bytes: &[u8]) -> io::Result<usize> {
        loop {
            if signals::pending().is_some() {
                return Ok(0);
            }
            let written = match self.socket {
                true => sys::sendto(self.fd, bytes, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL),
                false => sys::write(self.fd, bytes),
            };
            match written {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
                Err(e) => return Err(e),
            }
        }
    }

    /// Keep the first write error.
    fn failed(&mut self, e: io::Error) {
        self.error.get_or_insert(e);
    }

    /// Write what is queued until the fd has no more room. Returns `true` when the queue is
    /// empty afterwards.
    pub fn flush(&mut self) -> bool {
        while self.pending() {
            match self.write_some(&self.buf[self.head..]) {
                Ok(0) => return false,
                Ok(n) => self.head += n,
                Err(e) => {
                    self.failed(e);
                    self.lost += self.drop_pending();
                }
            }
        }
        self.buf.clear();
        self.head = 0;
        true
    }

    /// Count the lines still queued as dropped and empty the queue; returns how many.
    fn drop_pending(&mut self) -> u64 {
        let lines = self.buf[self.head..].iter().filter(|&&b| b == b'\n');
        let n = lines.count() as u64;
        self.dropped += n;
        self.buf.clear();
        self.head = 0;
        n
    }

    /// Flush, waiting with `poll()` for room for at most `limit` in all (for the exit).
    /// Lines still queued afterwards are counted as dropped.
    pub fn flush_within(&mut self, limit: Duration) {
        // A limit beyond what `Instant` represents (`Duration::MAX`) never runs out: each
        // wait is then the longest `poll()` takes.
        let deadline = Deadline::start(limit);
        while !self.flush() {
            let ms = match deadline.left() {
                Some(left) if !left.is_zero() => timeout::poll_ms(left),
                _ => break,
            };
            if sys::poll_one(self.fd, libc::POLLOUT, ms).is_err() {
                break;
            }
        }
        self.drop_pending();
    }

    /// Are bytes waiting for the fd to become writable? (Then put it in `select()`'s wlist.)
    pub fn pending(&self) -> bool {
        self.head < self.buf.len()
    }

    /// Lines dropped so far: the queue was full, or the fd failed ([`LineQueue::lost`] of
    /// them).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Lines a failed write lost (a part of [`LineQueue::dropped`]).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// The first failed write's error, if a write failed.
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }
}

impl FileNo for LineQueue {
    fn fileno(&self) -> RawFd {
        self.fd
    }
}
