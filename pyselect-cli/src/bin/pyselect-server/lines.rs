//! The server's lines: the seed's `print()` on stdout (`hello socket1`, the message lines),
//! diagnostics on stderr, and the totals line at exit. Blocking writes as the seed's, or, in
//! multiplex mode, queues that never block.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use pyselect::signals::Signal;
use pyselect::{Error, FileNo};
use pyselect_cli::output::{self, Detached, LineQueue, Stream};
use pyselect_cli::pyrepr::{addr_repr, bytes_repr};

use crate::server::{describe, Listener};

/// Where one stream's lines go.
#[derive(Debug)]
enum Sink {
    /// One blocking `write` per line, as the seed's `print()`; a watched signal ends the wait.
    /// A write that fails loses its line: counted, and the first error kept.
    Blocking {
        fd: RawFd,
        lost: u64,
        error: Option<std::io::Error>,
    },
    /// Never blocking: queued within a bound, else dropped and counted (multiplex).
    Queued(LineQueue),
}

impl Sink {
    fn blocking(fd: RawFd) -> Sink {
        Sink::Blocking {
            fd,
            lost: 0,
            error: None,
        }
    }

    fn line(&mut self, line: &str) {
        match self {
            // A failed write must not stop the server: the line is lost and counted. A
            // watched signal that ends the write (no errno) stays pending and stops the
            // server at its next call.
            Sink::Blocking { fd, lost, error } => {
                if let Err(e) = output::write_all(*fd, format!("{line}\n").as_bytes()) {
                    if e.raw_os_error().is_some() {
                        *lost += 1;
                        error.get_or_insert(e);
                    }
                }
            }
            Sink::Queued(q) => q.write_line(line),
        }
    }

    /// Lines not written: dropped from a full queue, or lost to a failed write.
    fn dropped(&self) -> u64 {
        match self {
            Sink::Blocking { lost, .. } => *lost,
            Sink::Queued(q) => q.dropped(),
        }
    }

    /// Lines a failed write lost.
    fn lost(&self) -> u64 {
        match self {
            Sink::Blocking { lost, .. } => *lost,
            Sink::Queued(q) => q.lost(),
        }
    }

    /// The first failed write's error.
    fn error(&self) -> Option<&std::io::Error> {
        match self {
            Sink::Blocking { error, .. } => error.as_ref(),
            Sink::Queued(q) => q.error(),
        }
    }
}

/// How many bytes of lines multiplex mode keeps for a stdout or stderr that is not being
/// read, before it drops lines (about 1,000 message lines).
pub const OUTPUT_QUEUE_LIMIT: usize = 64 * 1024;

/// After a stop signal, the longest [`Lines::finish`] waits for slow readers of stdout and
/// stderr, all its flushes and the totals line together.
pub const FINISH_WAIT: Duration = Duration::from_secs(1);

/// The server's stdout and stderr.
#[derive(Debug)]
pub struct Lines {
    /// `--quiet`: no per-connection lines on stdout.
    quiet: bool,
    out: Sink,
    err: Sink,
    /// The first failed write to stdout has been named on stderr.
    out_failure_told: bool,
}

impl Lines {
    /// Blocking lines on stdout and stderr, as the seed's `print()`; with `quiet`, none on
    /// stdout.
    pub fn new(quiet: bool) -> Lines {
        Lines {
            quiet,
            out: Sink::blocking(1),
            err: Sink::blocking(2),
            out_failure_told: false,
        }
    }

    /// Switch to lines that never block (multiplex mode): stdout and stderr pipes get a private
    /// non-blocking description, sockets are written with `MSG_DONTWAIT` (a description
    /// another process may share is never changed; a terminal stays blocking), and lines the
    /// reader cannot take wait in a queue of [`OUTPUT_QUEUE_LIMIT`] bytes, or are dropped and
    /// counted.
    pub fn never_block(&mut self) {
        let mut socket = [false; 2];
        for (i, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            let fd = stream.fd();
            match LineQueue::detach(stream) {
                Ok(Detached::SharedSocket) => socket[i] = true,
                Ok(_) => {}
                // A closed stream: its lines are lost and counted.
                Err(e) if e.raw_os_error() == Some(libc::EBADF) => {}
                Err(e) => self.warn(&format!(
                    "fd {fd} stays blocking: {}",
                    describe(&Error::Os(e))
                )),
            }
        }
        let queue = |fd: RawFd| match socket[fd as usize - 1] {
            true => LineQueue::on_socket(fd, OUTPUT_QUEUE_LIMIT),
            false => LineQueue::new(fd, OUTPUT_QUEUE_LIMIT),
        };
        self.out = Sink::Queued(queue(1));
        self.err = Sink::Queued(queue(2));
    }

    /// The output queues (multiplex mode), each with whether lines wait for room: then its
    /// fd belongs in the readiness call's write interest.
    pub fn queues(&self) -> impl Iterator<Item = (RawFd, bool)> + '_ {
        [&self.out, &self.err].into_iter().filter_map(|s| match s {
            Sink::Queued(q) => Some((q.fileno(), q.pending())),
            Sink::Blocking { .. } => None,
        })
    }

    /// The readiness call found output fd `fd` writable: write what waits for it.
    pub fn flush(&mut self, fd: RawFd) {
        for sink in [&mut self.out, &mut self.err] {
            if let Sink::Queued(q) = sink {
                if q.fileno() == fd {
                    q.flush();
                }
            }
        }
        self.tell_out_failure();
    }

    /// Name the first failed write to stdout, once, on stderr (its lines are counted in the
    /// totals line). A failing stderr cannot be told about on stderr: the totals line's count
    /// and the exit status are its report.
    fn tell_out_failure(&mut self) {
        if self.out_failure_told {
            return;
        }
        if let Some(e) = self.out.error() {
            self.out_failure_told = true;
            let line = format!(
                "pyselect-server: cannot write to stdout: {}; its lines are lost and counted",
                describe(&Error::Os(std::io::Error::from_raw_os_error(
                    e.raw_os_error().unwrap_or(0)
                )))
            );
            self.err.line(&line);
        }
    }

    /// A per-connection line on stdout, unless `--quiet`; with `--quiet` the line is not
    /// even formatted.
    pub fn say(&mut self, line: impl FnOnce() -> String) {
        if !self.quiet {
            self.out.line(&line());
            self.tell_out_failure();
        }
    }

    /// The seed's `print(...)` of a fixed line (`print('hi')`).
    pub fn print(&mut self, line: &str) {
        self.say(|| line.to_owned());
    }

    /// A diagnostic line on stderr.
    pub fn warn(&mut self, line: &str) {
        self.err.line(&format!("pyselect-server: {line}"));
    }

    /// The seed's `hello socket1` line.
    pub fn hello(&mut self, listener: &Listener) {
        self.say(|| format!("hello socket{}", listener.number));
    }

    /// The seed's `[('127.0.0.1', 59744)] message : b'hi'` line.
    pub fn message(&mut self, peer: &SocketAddr, data: &[u8]) {
        self.say(|| format!("[{}] message : {}", addr_repr(peer), bytes_repr(data)));
    }

    /// Print the totals line `totals` on stderr. After a stop signal it waits at most
    /// [`FINISH_WAIT`] in all for a reader (the queued lines and the totals line share one
    /// deadline), and on a terminal after Ctrl-C it starts on a fresh line (after the `^C`).
    /// Returns whether output was lost to a failed write (then the exit status is 1): the
    /// totals line counts those lines apart from the ones dropped for a reader that did not
    /// read.
    pub fn finish(mut self, totals: String, stopped_by: Option<Signal>) -> bool {
        let deadline = Instant::now() + FINISH_WAIT;
        let left = || deadline.saturating_duration_since(Instant::now());
        // Lines still queued get what is left of the wait for a reader; then they count as
        // dropped (a queue whose time is up still gets one write that does not wait).
        for sink in [&mut self.out, &mut self.err] {
            if let Sink::Queued(q) = sink {
                q.flush_within(left());
            }
        }
        self.tell_out_failure();
        let mut line = format!("pyselect-server: {totals}");
        let lost = self.out.lost() + self.err.lost();
        let unread = self.out.dropped() + self.err.dropped() - lost;
        if unread > 0 {
            line.push_str(&format!(
                "; {unread} output lines dropped (stdout or stderr not read)"
            ));
        }
        if lost > 0 {
            line.push_str(&format!("; {lost} output lines lost (a write failed)"));
        }
        if stopped_by == Some(Signal::SIGINT) && std::io::stderr().is_terminal() {
            line.insert(0, '\n');
        }
        // Whether the totals line itself was lost to a failed write (a reader too slow for
        // the wait after a signal loses nothing to an error).
        let totals_lost = match (&mut self.err, stopped_by) {
            // Written at once when stderr has room (one write); else queued and flushed
            // within what is left of the wait.
            (Sink::Queued(q), _) => {
                let before = q.lost();
                q.write_line(&line);
                q.flush_within(left());
                q.lost() > before
            }
            (Sink::Blocking { fd, .. }, Some(_)) => {
                line.push('\n');
                let _ = output::write_within(*fd, line.as_bytes(), left());
                false
            }
            (Sink::Blocking { fd, .. }, None) => {
                line.push('\n');
                output::write_all(*fd, line.as_bytes()).is_err_and(|e| e.raw_os_error().is_some())
            }
        };
        lost > 0 || totals_lost
    }
}
