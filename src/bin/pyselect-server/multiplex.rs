//! The fully multiplexed server: client sockets join the `select()` sets, so nothing waits on
//! one client.
//!
//! One round of the loop:
//! 1. `select(listeners + reading clients, clients with a reply to send, reading clients,
//!    time until the next idle deadline)`;
//! 2. except set: urgent (`MSG_OOB`) data, printed as `[addr] urgent : b'!'` (it does not
//!    count as activity: only the message does);
//! 3. read set: a listener accepts until `EAGAIN`, at most [`ACCEPTS_PER_ROUND`] connections
//!    (the listeners are non-blocking, so a client that vanished meanwhile costs an `EAGAIN`,
//!    not a stall); a client is read once with `recv(1024)`, its message printed, its reply
//!    sent at once;
//! 4. write set: the rest of a reply that did not fit, sent when the socket has room; and the
//!    server's own stdout and stderr when lines wait for a reader.
//!
//! Then the clients silent past `--idle-timeout` are closed. A connection whose fd does not
//! fit an `fd_set` (fd >= FD_SETSIZE) is refused and closed, never put in a set. When
//! `accept()` runs out of fds the listeners leave the read set for 100 ms instead of spinning.
//!
//! A message longer than 1024 bytes: as the seed, only the first `recv(1024)` is the message;
//! the reply is followed by `shutdown(SHUT_WR)` and the rest is read and discarded until the
//! client closes (at most [`DRAIN_MAX`] bytes, within the idle timeout), so the reply arrives
//! instead of a reset.
//!
//! No client waits on the server's stdout or stderr: a pipe gets a private non-blocking
//! description, and a line its reader cannot take now waits in a bounded queue (flushed
//! through the write set) or, when that is full, is dropped and counted in the totals line.
//!
//! Per connection, with `--quiet`: `select`, `accept4`, `accept4` (`EAGAIN`), `select`,
//! `recvfrom`, `sendto`, `close`; without it, one `write` for each of `hello socketN` and the
//! message line.

use std::net::{Shutdown, SocketAddr};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use pyselect::consts::MSG_DONTWAIT;
use pyselect::pyrepr::{addr_repr, bytes_repr};
use pyselect::{select_with, Error, FileNo, Socket, Syscall, FD_SETSIZE};

use crate::server::{describe, out_of_fds, Listener, Log, SIZE};

/// How long the listeners rest after `accept()` ran out of file descriptors.
const FD_EXHAUSTION_PAUSE: Duration = Duration::from_millis(100);

/// Connections one listener accepts per round at most, so that a burst of new connections
/// cannot starve the clients already in the sets.
pub const ACCEPTS_PER_ROUND: usize = 64;

/// Bytes read and discarded after an over-long message, at most, before the server gives up
/// and closes (the kernel then resets the connection).
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
    /// Urgent data was read: the segment that carried it stays queued until a normal read
    /// passes it, and closing with it queued would send the client a reset instead of a FIN.
    urgent_seen: bool,
    closed: bool,
}

/// What a ready fd stands for; `select()` gets `(fd, Owner)` pairs and returns the ready ones.
#[derive(Clone, Copy)]
enum Owner {
    Listener(usize),
    Client(usize),
    /// The server's own stdout or stderr, with lines waiting for room.
    Output,
}

type Token = (RawFd, Owner);

/// The sets of one round, kept between rounds so that their memory is reused.
#[derive(Default)]
struct Sets {
    rlist: Vec<Token>,
    wlist: Vec<Token>,
    xlist: Vec<Token>,
}

/// `settimeout(0.0)` on each listener, before `bind()`: `accept()` never blocks, so a client
/// that resets between `select()` and `accept()` costs an `EAGAIN`, not a stall.
pub fn prepare(server_socket: &mut Socket) -> Result<(), Error> {
    server_socket.settimeout(Some(0.0))
}

pub fn run(
    listeners: &[Listener],
    log: &mut Log,
    syscall: Syscall,
    idle: Duration,
) -> Result<(), Error> {
    let mut clients: Vec<Client> = Vec::new();
    let mut paused_until: Option<Instant> = None;
    let mut sets = Sets::default();

    while !log.done() {
        // 1. select() on everything that can make progress.
        let timeout = sets.fill(listeners, &clients, log, paused_until);
        let (readable, writable, exceptional) = select_with(
            syscall,
            sets.rlist.iter().copied(),
            sets.wlist.iter().copied(),
            sets.xlist.iter().copied(),
            timeout,
        )?;
        // 2. Except set: urgent data.
        for (_, owner) in exceptional {
            if let Owner::Client(i) = owner {
                urgent(log, &mut clients[i])?;
            }
        }
        // 3. Read set: new connections, messages (--count N stops at the Nth reply).
        for (_, owner) in readable {
            if log.done() {
                break;
            }
            match owner {
                Owner::Listener(i) => {
                    if let Some(pause) = accept(log, listeners, i, idle, &mut clients)? {
                        paused_until = Some(Instant::now() + pause);
                    }
                }
                Owner::Client(i) => receive(log, listeners, &mut clients[i], idle)?,
                Owner::Output => {}
            }
        }
        // 4. Write set: the rest of replies, and waiting output lines.
        for (fd, owner) in writable {
            match owner {
                Owner::Client(i) if !log.done() => flush(log, listeners, &mut clients[i])?,
                Owner::Output => log.flush(fd),
                _ => {}
            }
        }
        expire(log, &mut clients, idle);
        clients.retain(|c| !c.closed);
        if paused_until.is_some_and(|t| t <= Instant::now()) {
            paused_until = None;
        }
    }
    Ok(())
}

impl Sets {
    /// Fill the three lists for this round; returns the timeout: the time to the nearest
    /// idle deadline or the end of an accept pause, `None` (wait forever) when there is none.
    fn fill(
        &mut self,
        listeners: &[Listener],
        clients: &[Client],
        log: &Log,
        paused_until: Option<Instant>,
    ) -> Option<f64> {
        self.rlist.clear();
        self.wlist.clear();
        self.xlist.clear();
        if paused_until.is_none() {
            let listening = listeners.iter().enumerate();
            self.rlist
                .extend(listening.map(|(i, l)| (l.fileno(), Owner::Listener(i))));
        }
        for (i, c) in clients.iter().enumerate() {
            let token = (c.sock.fileno(), Owner::Client(i));
            match c.phase {
                Phase::Replying { .. } => self.wlist.push(token),
                Phase::Reading | Phase::Draining { .. } => {
                    self.rlist.push(token);
                    self.xlist.push(token);
                }
            }
        }
        self.wlist
            .extend(log.waiting_output().map(|fd| (fd, Owner::Output)));
        let now = Instant::now();
        let wake = clients.iter().map(|c| c.deadline).chain(paused_until).min();
        wake.map(|t| t.saturating_duration_since(now).as_secs_f64())
    }
}

/// Close the clients whose idle deadline has passed.
fn expire(log: &mut Log, clients: &mut [Client], idle: Duration) {
    let now = Instant::now();
    for c in clients
        .iter_mut()
        .filter(|c| !c.closed && c.deadline <= now)
    {
        // A client still draining has its reply but never closed: idle too.
        log.stats.idle_closed += 1;
        log.warn(&format!(
            "[{}] closed: idle for {:.1} s",
            addr_repr(&c.peer),
            idle.as_secs_f64()
        ));
        close(c);
    }
}

fn close(c: &mut Client) {
    let _ = c.sock.close();
    c.closed = true;
}

/// Pass a watched signal up; anything else is this client's failure.
fn client_failed(log: &mut Log, c: &mut Client, e: Error) -> Result<(), Error> {
    if let Error::Interrupted(_) = e {
        return Err(e);
    }
    log.client_error(&c.peer, &e);
    close(c);
    Ok(())
}

/// The error of a client closed while bytes of its over-long message were still coming.
fn unread_error(discarded: usize) -> Error {
    Error::Os(std::io::Error::other(format!(
        "closed after discarding {discarded} bytes past the first {SIZE} with more unread: \
             the kernel reset the connection"
    )))
}

/// Accept on listener `i` until `EAGAIN`, at most [`ACCEPTS_PER_ROUND`] connections. Returns a
/// pause when out of file descriptors.
fn accept(
    log: &mut Log,
    listeners: &[Listener],
    i: usize,
    idle: Duration,
    clients: &mut Vec<Client>,
) -> Result<Option<Duration>, Error> {
    for _ in 0..ACCEPTS_PER_ROUND {
        let (sock, peer) = match listeners[i].sock.accept() {
            Ok(pair) => pair,
            Err(e @ Error::Interrupted(_)) => return Err(e),
            Err(e) if e.errno() == Some(libc::EAGAIN) => return Ok(None),
            Err(e) if out_of_fds(&e) => {
                log.warn(&format!(
                    "accept failed: {}; not accepting for {} ms",
                    describe(&e),
                    FD_EXHAUSTION_PAUSE.as_millis()
                ));
                return Ok(Some(FD_EXHAUSTION_PAUSE));
            }
            Err(e) => {
                log.warn(&format!("accept failed: {}", describe(&e)));
                return Ok(None);
            }
        };
        if sock.fileno() as usize >= FD_SETSIZE {
            log.stats.refused += 1;
            log.warn(&format!(
                "[{}] refused: fd {} does not fit an fd_set (FD_SETSIZE {}); closing it",
                addr_repr(&peer),
                sock.fileno(),
                FD_SETSIZE
            ));
            continue; // dropping `sock` closes it
        }
        log.hello(&listeners[i]);
        clients.push(Client {
            sock,
            peer,
            listener: i,
            phase: Phase::Reading,
            deadline: Instant::now() + idle,
            urgent_seen: false,
            closed: false,
        });
    }
    Ok(None)
}

/// Urgent data from the except set. It is printed but does not move the idle deadline: a
/// client that sends only urgent bytes is still idle.
fn urgent(log: &mut Log, c: &mut Client) -> Result<(), Error> {
    if c.closed {
        return Ok(());
    }
    match c.sock.recv_oob(1) {
        Ok(data) => {
            c.urgent_seen = true;
            log.say(|| format!("[{}] urgent : {}", addr_repr(&c.peer), bytes_repr(&data)));
            Ok(())
        }
        // The urgent byte was already passed by a normal read: nothing to report.
        Err(e) if e.errno() == Some(libc::EINVAL) || e.errno() == Some(libc::EAGAIN) => Ok(()),
        Err(e) => client_failed(log, c, e),
    }
}

/// The client is readable: its message (read once, printed, replied to), or the rest of an
/// over-long one (discarded).
fn receive(
    log: &mut Log,
    listeners: &[Listener],
    c: &mut Client,
    idle: Duration,
) -> Result<(), Error> {
    if c.closed {
        return Ok(());
    }
    if let Phase::Draining { discarded } = c.phase {
        return drain(log, c, discarded);
    }
    match c.sock.recv_flags(SIZE, MSG_DONTWAIT) {
        Ok(msg) if msg.is_empty() => {
            log.stats.silent_eof += 1;
            close(c);
            Ok(())
        }
        Ok(msg) => {
            c.deadline = Instant::now() + idle;
            log.message(&c.peer, &msg);
            c.phase = Phase::Replying {
                sent: 0,
                drain: msg.len() == SIZE,
            };
            flush(log, listeners, c)
        }
        Err(e) if e.errno() == Some(libc::EAGAIN) => Ok(()),
        Err(e) => client_failed(log, c, e),
    }
}

/// Read and discard what follows an over-long message; at EOF the client was served.
fn drain(log: &mut Log, c: &mut Client, mut discarded: usize) -> Result<(), Error> {
    let mut buf = [0u8; 4096];
    loop {
        match c.sock.recv_into(&mut buf, MSG_DONTWAIT) {
            Ok(0) => {
                log.stats.served += 1;
                close(c);
                return Ok(());
            }
            Ok(n) if discarded + n > DRAIN_MAX => {
                close(c);
                log.client_error(&c.peer, &unread_error(discarded + n));
                return Ok(());
            }
            Ok(n) => discarded += n,
            Err(e) if e.errno() == Some(libc::EAGAIN) => {
                c.phase = Phase::Draining { discarded };
                return Ok(());
            }
            Err(e) => return client_failed(log, c, e),
        }
    }
}

/// Send what is left of the reply without blocking; once it is all out, close (or, after an
/// over-long message, shut the write side and drain).
fn flush(log: &mut Log, listeners: &[Listener], c: &mut Client) -> Result<(), Error> {
    let Phase::Replying { sent, drain } = c.phase else {
        return Ok(());
    };
    if c.closed {
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
            Ok(()) => self::drain(log, c, 0),
            Err(e) => client_failed(log, c, e),
        },
        Ok(_) => {
            log.stats.served += 1;
            if c.urgent_seen {
                // Release the urgent byte's segment (EAGAIN is the expected answer).
                let _ = c.sock.recv_flags(1, MSG_DONTWAIT);
            }
            close(c);
            Ok(())
        }
        Err(e) if e.errno() == Some(libc::EAGAIN) => Ok(()),
        Err(e) => client_failed(log, c, e),
    }
}
