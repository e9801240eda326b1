//! The fully multiplexed server: client sockets join the `select()` sets, so nothing waits on
//! one client.
//!
//! One round of the loop:
//! 1. `select(listeners + reading clients, clients with a reply to send, reading clients,
//!    time until the next idle deadline)`;
//! 2. except set: urgent (`MSG_OOB`) data, printed as `[addr] urgent : b'!'`;
//! 3. read set: a listener accepts one connection (the listeners are non-blocking, so a
//!    client that vanished meanwhile costs an `EAGAIN`, not a stall); a client is read once
//!    with `recv(1024)`, its message printed, its reply sent at once;
//! 4. write set: the rest of a reply that did not fit, sent when the socket has room.
//!
//! A client silent past `--idle-timeout` is closed. A connection whose fd does not fit an
//! `fd_set` (fd >= FD_SETSIZE) is refused and closed, never put in a set. When `accept()`
//! runs out of fds the listeners leave the read set for 100 ms instead of spinning.
//!
//! Per connection, with `--quiet`: `select`, `accept4`, `select`, `recvfrom`, `sendto`, `close`;
//! without it, one `write` for each of `hello socketN` and the message line.

use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use pyselect::consts::MSG_DONTWAIT;
use pyselect::pyrepr::{addr_repr, bytes_repr};
use pyselect::{select_with, Error, FileNo, Socket, FD_SETSIZE};

use crate::server::{describe, out_of_fds, Server};

/// How long the listeners rest after `accept()` ran out of file descriptors.
const FD_EXHAUSTION_PAUSE: Duration = Duration::from_millis(100);

struct Client {
    sock: Socket,
    peer: SocketAddr,
    /// Which listener it came through (for the reply's port).
    listener: usize,
    /// How much of the reply has been sent; `None` while waiting for the message.
    sent: Option<usize>,
    /// The idle deadline: last activity + `--idle-timeout`.
    deadline: Instant,
    /// Urgent data was read: the segment that carried it stays queued until a normal read
    /// passes it, and closing with it queued would send the client a reset instead of a FIN.
    urgent_seen: bool,
    closed: bool,
}

/// What a ready fd stands for.
#[derive(Clone, Copy)]
enum Owner {
    Listener(usize),
    Client(usize),
}

/// A select() entry: the fd, and whose it is.
#[derive(Clone, Copy)]
struct Token {
    fd: RawFd,
    owner: Owner,
}

impl FileNo for Token {
    fn fileno(&self) -> RawFd {
        self.fd
    }
}

pub fn run(server: &mut Server) -> Result<(), Error> {
    let idle = server.opts.idle_timeout;
    let mut clients: Vec<Client> = Vec::new();
    let mut paused_until: Option<Instant> = None;
    let (mut rlist, mut wlist, mut xlist) = (Vec::new(), Vec::new(), Vec::new());

    while !server.done() {
        let now = Instant::now();
        for c in clients.iter_mut().filter(|c| c.deadline <= now) {
            server.stats.idle_closed += 1;
            server.warn(&format!(
                "[{}] closed: idle for {:.1} s",
                addr_repr(&c.peer),
                idle.as_secs_f64()
            ));
            close(c);
        }
        clients.retain(|c| !c.closed);
        if paused_until.is_some_and(|t| t <= now) {
            paused_until = None;
        }

        rlist.clear();
        wlist.clear();
        xlist.clear();
        if paused_until.is_none() {
            for (i, l) in server.listeners.iter().enumerate() {
                rlist.push(Token {
                    fd: l.sock.fileno(),
                    owner: Owner::Listener(i),
                });
            }
        }
        for (i, c) in clients.iter().enumerate() {
            let token = Token {
                fd: c.sock.fileno(),
                owner: Owner::Client(i),
            };
            if c.sent.is_some() {
                wlist.push(token);
            } else {
                rlist.push(token);
                xlist.push(token);
            }
        }
        let wake = clients.iter().map(|c| c.deadline).chain(paused_until).min();
        let timeout = wake.map(|t| t.saturating_duration_since(now).as_secs_f64());

        let (readable, writable, exceptional) = select_with(
            server.opts.syscall,
            rlist.iter().copied(),
            wlist.iter().copied(),
            xlist.iter().copied(),
            timeout,
        )?;

        for t in exceptional {
            if let Owner::Client(i) = t.owner {
                urgent(server, &mut clients[i], idle)?;
            }
        }
        for t in readable {
            // --count N: stop at the Nth reply, even mid-round.
            if server.done() {
                break;
            }
            match t.owner {
                Owner::Listener(i) => {
                    if let Some(pause) = accept(server, i, idle, &mut clients)? {
                        paused_until = Some(Instant::now() + pause);
                    }
                }
                Owner::Client(i) => receive(server, &mut clients[i], idle)?,
            }
        }
        for t in writable {
            if server.done() {
                break;
            }
            if let Owner::Client(i) = t.owner {
                flush(server, &mut clients[i])?;
            }
        }
        clients.retain(|c| !c.closed);
    }
    Ok(())
}

fn close(c: &mut Client) {
    let _ = c.sock.close();
    c.closed = true;
}

/// Pass a watched signal up; anything else is this client's failure.
fn client_failed(server: &mut Server, c: &mut Client, e: Error) -> Result<(), Error> {
    if let Error::Interrupted(_) = e {
        return Err(e);
    }
    server.client_error(&c.peer, &e);
    close(c);
    Ok(())
}

/// Accept one connection on listener `i`. Returns a pause when out of file descriptors.
fn accept(
    server: &mut Server,
    i: usize,
    idle: Duration,
    clients: &mut Vec<Client>,
) -> Result<Option<Duration>, Error> {
    match server.listeners[i].sock.accept() {
        Ok((sock, peer)) => {
            if sock.fileno() as usize >= FD_SETSIZE {
                server.stats.refused += 1;
                server.warn(&format!(
                    "[{}] refused: fd {} does not fit an fd_set (FD_SETSIZE {}); closing it",
                    addr_repr(&peer),
                    sock.fileno(),
                    FD_SETSIZE
                ));
                return Ok(None); // dropping `sock` closes it
            }
            server.hello(i);
            clients.push(Client {
                sock,
                peer,
                listener: i,
                sent: None,
                deadline: Instant::now() + idle,
                urgent_seen: false,
                closed: false,
            });
            Ok(None)
        }
        Err(e @ Error::Interrupted(_)) => Err(e),
        Err(e) if e.errno() == Some(libc::EAGAIN) => Ok(None),
        Err(e) if out_of_fds(&e) => {
            server.warn(&format!(
                "accept failed: {}; not accepting for {} ms",
                describe(&e),
                FD_EXHAUSTION_PAUSE.as_millis()
            ));
            Ok(Some(FD_EXHAUSTION_PAUSE))
        }
        Err(e) => {
            server.warn(&format!("accept failed: {}", describe(&e)));
            Ok(None)
        }
    }
}

/// Urgent data from the except set.
fn urgent(server: &mut Server, c: &mut Client, idle: Duration) -> Result<(), Error> {
    if c.closed {
        return Ok(());
    }
    match c.sock.recv_oob(1) {
        Ok(data) => {
            c.deadline = Instant::now() + idle;
            c.urgent_seen = true;
            server.say(|| format!("[{}] urgent : {}", addr_repr(&c.peer), bytes_repr(&data)));
            Ok(())
        }
        // The urgent byte was already passed by a normal read: nothing to report.
        Err(e) if e.errno() == Some(libc::EINVAL) || e.errno() == Some(libc::EAGAIN) => Ok(()),
        Err(e) => client_failed(server, c, e),
    }
}

/// The client's message: read once, print, reply.
fn receive(server: &mut Server, c: &mut Client, idle: Duration) -> Result<(), Error> {
    if c.closed {
        return Ok(());
    }
    match c.sock.recv_flags(1024, MSG_DONTWAIT) {
        Ok(msg) if msg.is_empty() => {
            server.stats.silent_eof += 1;
            close(c);
            Ok(())
        }
        Ok(msg) => {
            c.deadline = Instant::now() + idle;
            server.message(&c.peer, &msg);
            c.sent = Some(0);
            flush(server, c)
        }
        Err(e) if e.errno() == Some(libc::EAGAIN) => Ok(()),
        Err(e) => client_failed(server, c, e),
    }
}

/// Send what is left of the reply without blocking; close once it is all out.
fn flush(server: &mut Server, c: &mut Client) -> Result<(), Error> {
    let Some(sent) = c.sent else {
        return Ok(());
    };
    if c.closed {
        return Ok(());
    }
    let reply = &server.listeners[c.listener].reply;
    match c.sock.send_flags(&reply[sent..], MSG_DONTWAIT) {
        Ok(n) if sent + n < reply.len() => {
            c.sent = Some(sent + n);
            Ok(())
        }
        Ok(_) => {
            server.stats.served += 1;
            if c.urgent_seen {
                // Release the urgent byte's segment (EAGAIN is the expected answer).
                let _ = c.sock.recv_flags(1, MSG_DONTWAIT);
            }
            close(c);
            Ok(())
        }
        Err(e) if e.errno() == Some(libc::EAGAIN) => Ok(()),
        Err(e) => client_failed(server, c, e),
    }
}
