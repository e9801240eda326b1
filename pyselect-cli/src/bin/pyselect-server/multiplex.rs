//! The fully multiplexed server: client sockets join the watched set, so nothing waits on
//! one client. The loop is Python's `selectors` echo server: one readiness call per round,
//! then a handler per ready fd; `--backend` picks the call ([`crate::readiness`]: `select`,
//! `poll` or `epoll`), and the loop is the same for all three.
//!
//! One round of the loop:
//! 1. wait (`select`, `poll` or `epoll_wait`) on the listeners and reading clients for input,
//!    the clients with a reply to send for room, the reading clients for urgent data, until
//!    the next idle deadline;
//! 2. urgent (`MSG_OOB`) data, printed as `[addr] urgent : b'!'` (it does not count as
//!    activity: only the message does);
//! 3. readable: a listener accepts until `EAGAIN`, at most [`ACCEPTS_PER_ROUND`] connections
//!    (the listeners are non-blocking, so a client that vanished meanwhile costs an `EAGAIN`,
//!    not a stall); a client is read once with `recv(1024)`, its message printed, its reply
//!    sent at once;
//! 4. writable: the rest of a reply that did not fit, sent when the socket has room; and the
//!    server's own stdout and stderr when lines wait for a reader.
//!
//! Then the clients silent past `--idle-timeout` are closed: those whose deadline had passed
//! when a round's wait began, so that the wait (then with timeout 0) looked at them after it
//! (a stopped server, resumed, serves the messages that came meanwhile). After each event the client is
//! watched for what its phase waits for (message, or room for the reply), or unregistered and
//! closed (for epoll: `epoll_ctl` `ADD` on accept, `MOD` only when a reply must wait for room,
//! `DEL` before `close`). With the select backend, a connection whose fd does not fit an
//! `fd_set` (fd >= FD_SETSIZE) is refused and closed, never put in a set. When `accept()` runs
//! out of fds the listeners leave the watched set for `server::FD_EXHAUSTION_PAUSE` (100 ms)
//! instead of spinning.
//!
//! A message longer than 1024 bytes: as the seed, only the first `recv(1024)` is the message;
//! the reply is followed by `shutdown(SHUT_WR)` and the rest is read and discarded until the
//! client closes (at most [`DRAIN_MAX`] bytes, within the idle timeout), so the reply arrives
//! instead of a reset. The client is served when its EOF follows, whatever the length; more
//! bytes than that bound are closed on unread, a reset counted as an error.
//!
//! No client waits on the server's stdout or stderr: a pipe gets a private non-blocking
//! description, and a line its reader cannot take now waits in a bounded queue (flushed
//! when the readiness call finds room) or, when that is full, is dropped and counted in the
//! totals line.
//!
//! Per connection, with `--quiet` and the select backend: `select`, `accept4`, `accept4`
//! (`EAGAIN`), `select`, `recvfrom`, `sendto`, `close`; without it, one `write` for each of
//! `hello socketN` and the message line. poll: the same with `poll`; epoll: `epoll_wait`,
//! and `epoll_ctl(ADD)` after `accept4` and `epoll_ctl(DEL)` before `close`.

use std::net::{Shutdown, SocketAddr};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use pyselect::consts::{MSG_DONTWAIT, MSG_PEEK};
use pyselect::{Error, FileNo, Socket, FD_SETSIZE};
use pyselect_cli::deadlines::DeadlineQueue;
use pyselect_cli::pyrepr::{addr_repr, bytes_repr};

use crate::lines::Lines;
use crate::readiness::{Interest, Readiness, ReadyFds};
use crate::server::{accept_failed, Failure, Listener, Stats, SIZE};

/// Connections one listener accepts per round at most, so that a burst of new connections
/// cannot starve the clients already in the sets.
pub const ACCEPTS_PER_ROUND: usize = 64;

/// Bytes read and discarded after an over-long message before the server stops reading (at
/// most one 4 KiB read past it): then the client's EOF makes it served, more bytes an error
/// (closing with them unread resets the connection).
pub const DRAIN_MAX: usize = 64 * 1024;

/// Where a client stands.
enum Phase {
    /// Waiting for the message.
    Reading,
    /// Sending the reply: how much is out; `drain` when the message filled `recv(1024)`.
    Replying { sent: usize, drain: bool },
    /// Reply sent and write side shut: discarding the rest of an over-long message until EOF.
    Draining { discarded: usize },
}

struct Client {
    sock: Socket,
    peer: SocketAddr,
    /// Which listener it came through (for the reply's port).
    listener: usize,
    phase: Phase,
    /// The idle deadline: when it was accepted, or sent its message, + `--idle-timeout`.
    deadline: Instant,
    /// The deadline last put in [`Clients::deadlines`].
    queued: Instant,
    /// Urgent data was read: the segment that carried it stays queued until a normal read
    /// passes it, and closing with it queued would send the client a reset instead of a FIN.
    urgent_seen: bool,
    /// Done with: [`settle`] unregisters and closes it (see [`mark_for_close`]).
    to_close: bool,
    /// The round it was accepted in: that round's readiness call did not watch it, so an
    /// event for its fd in that round belonged to a client closed earlier in the round.
    joined: u64,
}

impl Client {
    /// What the readiness call watches this client for: its message (and urgent data), or
    /// room for the rest of its reply.
    fn interest(&self) -> Interest {
        match self.phase {
            Phase::Reading | Phase::Draining { .. } => Interest::READ_URGENT,
            Phase::Replying { .. } => Interest::WRITE,
        }
    }
}

/// The clients, indexed by fd: what a ready fd stands for.
struct Clients {
    by_fd: Vec<Option<Client>>,
    /// Idle deadlines, each with its client's fd, nearest first: no round scans every client.
    /// An entry whose client has since moved its deadline, or is gone, is stale.
    deadlines: DeadlineQueue<RawFd>,
    round: u64,
}

impl Clients {
    /// The client on `fd`, unless it joined after this round's readiness call.
    fn ready(&mut self, fd: RawFd) -> Option<&mut Client> {
        let round = self.round;
        let c = self.by_fd.get_mut(fd as usize)?.as_mut()?;
        (c.joined != round).then_some(c)
    }

    fn insert(&mut self, c: Client) {
        let fd = c.sock.fileno();
        let i = fd as usize;
        if self.by_fd.len() <= i {
            self.by_fd.resize_with(i + 1, || None);
        }
        self.deadlines.push(c.deadline, fd);
        self.by_fd[i] = Some(c);
    }

    /// The nearest idle deadline.
    fn nearest(&mut self) -> Option<Instant> {
        let by_fd = &self.by_fd;
        self.deadlines.nearest(|t, fd| live(by_fd, t, fd))
    }

    /// The fd of the next client whose idle deadline is not after `now`.
    fn pop_due(&mut self, now: Instant) -> Option<RawFd> {
        let by_fd = &self.by_fd;
        self.deadlines.pop_due(now, |t, fd| live(by_fd, t, fd))
    }
}

/// Is the queued deadline `t` still the deadline of the client on `fd`?
fn live(by_fd: &[Option<Client>], t: Instant, fd: RawFd) -> bool {
    let c = by_fd.get(fd as usize).and_then(Option::as_ref);
    c.is_some_and(|c| c.deadline == t)
}

/// `settimeout(0.0)` on each listener, before `bind()`: `accept()` never blocks, so a client
/// that resets between the readiness call and `accept()` costs an `EAGAIN`, not a stall.
pub fn prepare(server_socket: &mut Socket) -> Result<(), Error> {
    server_socket.settimeout(Some(0.0))
}

/// Register the listeners for connections (before the "listening on" line: from then on the
/// trace shows only the loop).
pub fn register_listeners(
    listeners: &[Listener],
    readiness: &mut Readiness<()>,
) -> Result<(), Error> {
    for l in listeners {
        readiness.set(l.fileno(), Interest::READ, ())?;
    }
    Ok(())
}

/// The loop of the module doc, on `readiness` (the listeners already registered), until `--count`
/// or a signal.
pub fn run(
    listeners: &[Listener],
    out: &mut Lines,
    stats: &mut Stats,
    readiness: &mut Readiness<()>,
    idle: Duration,
) -> Result<(), Error> {
    let mut clients = Clients {
        by_fd: Vec::new(),
        deadlines: DeadlineQueue::default(),
        round: 0,
    };
    let mut paused_until: Option<Instant> = None;
    let mut ready = ReadyFds::default();

    while !stats.done() {
        // 1. The one readiness call, on everything that can make progress.
        set_output_interest(readiness, out);
        // The time this round looks from: its timeout counts from it.
        let now = Instant::now();
        let timeout = next_wake(&mut clients, paused_until, now);
        let looked = readiness.wait(timeout, &mut ready)?;
        clients.round += 1;
        // 2. Urgent data.
        for &fd in &ready.urgent {
            if let Some(c) = clients.ready(fd) {
                urgent(out, stats, c)?;
                settle(out, stats, readiness, &mut clients, fd);
            }
        }
        // 3. Readable: new connections, messages (--count N stops at the Nth reply).
        for &fd in &ready.readable {
            if stats.done() {
                break;
            }
            if let Some(i) = listeners.iter().position(|l| l.fileno() == fd) {
                if let Some(pause) =
                    accept(out, stats, listeners, i, idle, readiness, &mut clients)?
                {
                    if paused_until.is_none() {
                        for l in listeners {
                            readiness.remove(l.fileno())?;
                        }
                    }
                    paused_until = Some(Instant::now() + pause);
                }
            } else if let Some(c) = clients.ready(fd) {
                receive(out, stats, listeners, c, idle)?;
                settle(out, stats, readiness, &mut clients, fd);
            }
        }
        // 4. Writable: the rest of replies, and waiting output lines.
        for &fd in &ready.writable {
            match clients.ready(fd) {
                Some(c) if !stats.done() => {
                    flush(out, stats, listeners, c)?;
                    settle(out, stats, readiness, &mut clients, fd);
                }
                Some(_) => {}
                None => out.flush(fd),
            }
        }
        if looked {
            expire(out, stats, readiness, &mut clients, idle, now);
        }
        if paused_until.is_some_and(|t| t <= Instant::now()) {
            paused_until = None;
            register_listeners(listeners, readiness)?;
        }
    }
    Ok(())
}

/// The output queues with lines waiting for a reader are watched for room, the others not.
/// An fd epoll refuses stays unwatched: its lines wait for the exit's flush (or are dropped and
/// counted), and no client waits for them.
fn set_output_interest(readiness: &mut Readiness<()>, out: &Lines) {
    for (fd, waiting) in out.queues() {
        let _ = match (waiting, readiness.registered(fd).is_some()) {
            (true, false) => readiness.set(fd, Interest::WRITE, ()),
            (false, true) => readiness.remove(fd),
            _ => Ok(()),
        };
    }
}

/// The time from `now` to the nearest idle deadline or the end of an accept pause (0 when it
/// has passed), `None` (wait for ever) when there is none.
fn next_wake(clients: &mut Clients, paused_until: Option<Instant>, now: Instant) -> Option<f64> {
    let wake = clients.nearest().into_iter().chain(paused_until).min();
    wake.map(|t| t.saturating_duration_since(now).as_secs_f64())
}

/// After a client's event: a client done with is unregistered, then closed; any other is
/// watched for what its phase waits for, and a moved idle deadline is queued. A failed
/// `epoll_ctl(MOD)` (no syscall can fail for select and poll) is this client's failure.
fn settle(
    out: &mut Lines,
    stats: &mut Stats,
    readiness: &mut Readiness<()>,
    clients: &mut Clients,
    fd: RawFd,
) {
    let Some(slot) = clients.by_fd.get_mut(fd as usize) else {
        return;
    };
    let Some(c) = slot.as_mut() else {
        return;
    };
    if !c.to_close && c.deadline != c.queued {
        c.queued = c.deadline;
        clients.deadlines.push(c.deadline, fd);
    }
    if !c.to_close {
        match readiness.set(fd, c.interest(), ()) {
            Ok(()) => return,
            Err(e) => stats.failed(out, &c.peer, e),
        }
    }
    let _ = readiness.remove(fd);
    let _ = c.sock.close();
    *slot = None;
}

/// Close the clients whose idle deadline had passed when this round's wait began (`looked`),
/// from the front of the deadline queue, after a wait that looked at every fd. Such a wait
/// had timeout 0: what it did not find ready had sent nothing by its deadline. A deadline
/// that passes during the wait, or while the process is stopped (Ctrl-Z and `fg`, a
/// debugger, a paused VM), waits for the next round's look: a message that arrived
/// meanwhile is served, not expired.
fn expire(
    out: &mut Lines,
    stats: &mut Stats,
    readiness: &mut Readiness<()>,
    clients: &mut Clients,
    idle: Duration,
    looked: Instant,
) {
    while let Some(fd) = clients.pop_due(looked) {
        let Some(c) = clients.by_fd[fd as usize].as_mut() else {
            continue;
        };
        // A client still draining has its reply but never closed: idle too.
        stats.idle_closed += 1;
        out.warn(&format!(
            "[{}] closed: idle for {:.1} s",
            addr_repr(&c.peer),
            idle.as_secs_f64()
        ));
        mark_for_close(c);
        settle(out, stats, readiness, clients, fd);
    }
}

/// Done with the client: [`settle`] unregisters and closes it right after this event.
fn mark_for_close(c: &mut Client) {
    c.to_close = true;
}

/// Pass a watched signal up; anything else is this client's failure.
fn client_failed(
    out: &mut Lines,
    stats: &mut Stats,
    c: &mut Client,
    e: Error,
) -> Result<(), Error> {
    if let Error::Interrupted(_) = e {
        return Err(e);
    }
    stats.failed(out, &c.peer, e);
    mark_for_close(c);
    Ok(())
}

/// Accept on listener `i` until `EAGAIN`, at most [`ACCEPTS_PER_ROUND`] connections. Returns a
/// pause when out of file descriptors.
fn accept(
    out: &mut Lines,
    stats: &mut Stats,
    listeners: &[Listener],
    i: usize,
    idle: Duration,
    readiness: &mut Readiness<()>,
    clients: &mut Clients,
) -> Result<Option<Duration>, Error> {
    for _ in 0..ACCEPTS_PER_ROUND {
        let (sock, peer) = match listeners[i].sock.accept() {
            Ok(pair) => pair,
            // EAGAIN (all accepted) ends the round silently; see `server::accept_failed`.
            Err(e) => return accept_failed(out, e),
        };
        if !readiness.takes(sock.fileno()) {
            stats.refused += 1;
            out.warn(&format!(
                "[{}] refused: fd {} does not fit an fd_set (FD_SETSIZE {}); closing it",
                addr_repr(&peer),
                sock.fileno(),
                FD_SETSIZE
            ));
            continue; // dropping `sock` closes it
        }
        // Watched for its message from the next round on (epoll_ctl(ADD) for epoll).
        if let Err(e) = readiness.set(sock.fileno(), Interest::READ_URGENT, ()) {
            stats.failed(out, &peer, e);
            continue;
        }
        out.hello(&listeners[i]);
        let deadline = Instant::now() + idle;
        clients.insert(Client {
            sock,
            peer,
            listener: i,
            phase: Phase::Reading,
            deadline,
            queued: deadline,
            urgent_seen: false,
            to_close: false,
            joined: clients.round,
        });
    }
    Ok(None)
}

/// Urgent data from the except set. It is printed but does not move the idle deadline: a
/// client that sends only urgent bytes is still idle.
fn urgent(out: &mut Lines, stats: &mut Stats, c: &mut Client) -> Result<(), Error> {
    if c.to_close {
        return Ok(());
    }
    match c.sock.recv_oob(1) {
        Ok(data) => {
            c.urgent_seen = true;
            out.say(|| format!("[{}] urgent : {}", addr_repr(&c.peer), bytes_repr(&data)));
            Ok(())
        }
        // The urgent byte was already passed by a normal read: nothing to report.
        Err(e) if e.errno() == Some(libc::EINVAL) || e.errno() == Some(libc::EAGAIN) => Ok(()),
        Err(e) => client_failed(out, stats, c, e),
    }
}

/// The client is readable: its message (read once, printed, replied to), or the rest of an
/// over-long one (discarded).
fn receive(
    out: &mut Lines,
    stats: &mut Stats,
    listeners: &[Listener],
    c: &mut Client,
    idle: Duration,
) -> Result<(), Error> {
    if c.to_close {
        return Ok(());
    }
    if let Phase::Draining { discarded } = c.phase {
        return drain(out, stats, c, discarded);
    }
    match c.sock.recv_flags(SIZE, MSG_DONTWAIT) {
        Ok(msg) if msg.is_empty() => {
            stats.silent_eof += 1;
            mark_for_close(c);
            Ok(())
        }
        Ok(msg) => {
            c.deadline = Instant::now() + idle;
            out.message(&c.peer, &msg);
            c.phase = Phase::Replying {
                sent: 0,
                drain: msg.len() == SIZE,
            };
            flush(out, stats, listeners, c)
        }
        Err(e) if e.errno() == Some(libc::EAGAIN) => Ok(()),
        Err(e) => client_failed(out, stats, c, e),
    }
}

/// Read and discard what follows an over-long message; at EOF the client was served. Past
/// [`DRAIN_MAX`] bytes, see [`past_the_bound`].
fn drain(
    out: &mut Lines,
    stats: &mut Stats,
    c: &mut Client,
    mut discarded: usize,
) -> Result<(), Error> {
    let mut buf = [0u8; 4096];
    loop {
        if discarded > DRAIN_MAX {
            return past_the_bound(out, stats, c, discarded);
        }
        match c.sock.recv_into(&mut buf, MSG_DONTWAIT) {
            Ok(0) => {
                stats.served += 1;
                mark_for_close(c);
                return Ok(());
            }
            Ok(n) => discarded += n,
            Err(e) if e.errno() == Some(libc::EAGAIN) => {
                c.phase = Phase::Draining { discarded };
                return Ok(());
            }
            Err(e) => return client_failed(out, stats, c, e),
        }
    }
}

/// More than [`DRAIN_MAX`] bytes discarded: nothing more is read, but what comes next decides
/// (one `recvfrom(MSG_PEEK)`). The client's EOF: it had its reply and closes cleanly, served.
/// More bytes: closing with them unread makes the kernel reset the connection, an error.
/// Nothing yet: the client waits for its next event (or its idle deadline) to tell.
fn past_the_bound(
    out: &mut Lines,
    stats: &mut Stats,
    c: &mut Client,
    discarded: usize,
) -> Result<(), Error> {
    match c.sock.recv_flags(1, MSG_PEEK | MSG_DONTWAIT) {
        Ok(next) if next.is_empty() => {
            stats.served += 1;
            mark_for_close(c);
            Ok(())
        }
        Ok(_) => {
            stats.failed(out, &c.peer, Failure::DrainedTooMuch { discarded });
            mark_for_close(c);
            Ok(())
        }
        Err(e) if e.errno() == Some(libc::EAGAIN) => {
            c.phase = Phase::Draining { discarded };
            Ok(())
        }
        Err(e) => client_failed(out, stats, c, e),
    }
}

/// Send what is left of the reply without blocking; once it is all out, close (or, after an
/// over-long message, shut the write side and drain).
fn flush(
    out: &mut Lines,
    stats: &mut Stats,
    listeners: &[Listener],
    c: &mut Client,
) -> Result<(), Error> {
    let Phase::Replying { sent, drain } = c.phase else {
        return Ok(());
    };
    if c.to_close {
        return Ok(());
    }
    let reply = &listeners[c.listener].reply;
    match c.sock.send_flags(&reply[sent..], MSG_DONTWAIT) {
        Ok(n) if sent + n < reply.len() => {
            c.phase = Phase::Replying {
                sent: sent + n,
                drain,
            };
            Ok(())
        }
        Ok(_) if drain => match c.sock.shutdown(Shutdown::Write) {
            Ok(()) => self::drain(out, stats, c, 0),
            Err(e) => client_failed(out, stats, c, e),
        },
        Ok(_) => {
            stats.served += 1;
            if c.urgent_seen {
                // Release the urgent byte's segment (EAGAIN is the expected answer).
                let _ = c.sock.recv_flags(1, MSG_DONTWAIT);
            }
            mark_for_close(c);
            Ok(())
        }
        Err(e) if e.errno() == Some(libc::EAGAIN) => Ok(()),
        Err(e) => client_failed(out, stats, c, e),
    }
}
