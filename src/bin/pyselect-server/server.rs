//! What every mode shares: the listening sockets, the seed's output lines, and the totals.

use std::net::SocketAddr;
use std::time::Instant;

use pyselect::pyrepr::{addr_repr, bytes_repr};
use pyselect::{consts, Error, Family, Socket};

use crate::cli::{Mode, Options};

/// One listening socket and what the seed calls it.
#[derive(Debug)]
pub struct Listener {
    pub sock: Socket,
    pub port: u16,
    /// 1 for the first port, as in `hello socket1`.
    pub number: usize,
    /// What a client of this port is told: `welcome 5050!` (`welcome!` in blocking mode).
    pub reply: Vec<u8>,
}

/// Counts for the totals line.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections that got their reply.
    pub served: u64,
    /// Connections that failed (reset, bad fd, ...).
    pub errors: u64,
    /// Connections closed for being idle too long (multiplex).
    pub idle_closed: u64,
    /// Connections closed before sending anything.
    pub silent_eof: u64,
    /// Connections refused because their fd did not fit an `fd_set` (multiplex).
    pub refused: u64,
}

/// The running server: options, listeners, counts.
#[derive(Debug)]
pub struct Server {
    pub opts: Options,
    pub listeners: Vec<Listener>,
    pub stats: Stats,
    started: Instant,
}

/// The address family for `--host`: IPv6 for an IPv6 literal, else IPv4. A host that is no
/// address at all fails later in `bind`, with Python's `[Errno -2] Name or service not known`.
fn family_of(host: &str) -> Family {
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(_)) => Family::Inet6,
        _ => Family::Inet,
    }
}

/// `host:port` as a person writes it (`[::1]:5050` for IPv6).
pub fn host_port(host: &str, port: u16) -> String {
    if host.is_empty() {
        // Python's '' means INADDR_ANY.
        format!("0.0.0.0:{port}")
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl Server {
    /// Open the listeners the mode needs (the first port only in blocking mode), in the seed's
    /// order: socket, (SO_REUSEADDR,) settimeout, bind, listen.
    pub fn open(opts: Options) -> Result<Server, String> {
        let family = family_of(&opts.host);
        let ports: &[u16] = match opts.mode {
            Mode::Blocking => &opts.ports[..1],
            _ => &opts.ports,
        };
        let mut listeners = Vec::with_capacity(ports.len());
        for (i, &port) in ports.iter().enumerate() {
            let place = host_port(&opts.host, port);
            let fail = |e: Error| format!("cannot listen on {place}: {e}");
            let mut sock = Socket::new(family, pyselect::Type::Stream).map_err(fail)?;
            sock.setsockopt(consts::SOL_SOCKET, consts::SO_REUSEADDR, 1)
                .map_err(fail)?;
            match opts.mode {
                Mode::Timeout => sock.settimeout(Some(1.0)).map_err(fail)?,
                // Never block in accept(): a client that resets between select() and
                // accept() must not stall the loop.
                Mode::Multiplex => sock.settimeout(Some(0.0)).map_err(fail)?,
                Mode::Blocking | Mode::Select => {}
            }
            sock.bind((opts.host.as_str(), port)).map_err(fail)?;
            sock.listen(None).map_err(fail)?;
            // With port 0 the kernel chose one: the replies name the real port.
            let port = match port {
                0 => sock.getsockname().map_err(fail)?.port(),
                p => p,
            };
            let reply = match opts.mode {
                Mode::Blocking => b"welcome!".to_vec(),
                _ => format!("welcome {port}!").into_bytes(),
            };
            listeners.push(Listener {
                sock,
                port,
                number: i + 1,
                reply,
            });
        }
        Ok(Server {
            opts,
            listeners,
            stats: Stats::default(),
            started: Instant::now(),
        })
    }

    /// A per-connection line on stdout (one write), unless `--quiet`; with `--quiet` the line
    /// is not even formatted.
    pub fn say(&self, line: impl FnOnce() -> String) {
        if !self.opts.quiet {
            // A closed stdout must not stop the server.
            let _ = pyselect::print_line(&line());
        }
    }

    /// A diagnostic line on stderr (one write).
    pub fn warn(&self, line: &str) {
        let _ = pyselect::eprint_line(&format!("pyselect-server: {line}"));
    }

    /// The seed's `hello socket1` line.
    pub fn hello(&self, listener: usize) {
        self.say(|| format!("hello socket{}", self.listeners[listener].number));
    }

    /// The seed's `[('127.0.0.1', 59744)] message : b'hi'` line.
    pub fn message(&self, peer: &SocketAddr, data: &[u8]) {
        self.say(|| format!("[{}] message : {}", addr_repr(peer), bytes_repr(data)));
    }

    /// Has `--count` been reached?
    pub fn done(&self) -> bool {
        self.opts.count.is_some_and(|n| self.stats.served >= n)
    }

    /// Note a failed connection on stderr.
    pub fn client_error(&mut self, peer: &SocketAddr, e: &Error) {
        self.stats.errors += 1;
        self.warn(&format!("[{}] {}", addr_repr(peer), describe(e)));
    }

    /// The seed's serial handling of one connection on listener `i`: `accept()`, the optional
    /// `greeting` line (the first server's `hi`), then [`Server::serve_serially`]. An accept
    /// that timed out (`settimeout(1)` mode) or failed is this round's end, not the server's.
    pub fn accept_and_serve(&mut self, i: usize, greeting: Option<&str>) -> Result<(), Error> {
        let (client_socket, client_addr) = match self.listeners[i].sock.accept() {
            Ok(pair) => pair,
            Err(Error::Timeout) => return Ok(()),
            Err(e @ Error::Interrupted(_)) => return Err(e),
            Err(e) => return accept_failed(self, &e),
        };
        if let Some(line) = greeting {
            self.say(|| line.to_string());
        }
        self.serve_serially(i, client_socket, client_addr)
    }

    /// The seed's serial handling of one accepted client: a blocking `recv(1024)`, the message
    /// line, `sendall(reply)`, close. Only a signal the server watches is passed up; any other
    /// failure is this client's alone and is reported and counted.
    pub fn serve_serially(
        &mut self,
        i: usize,
        mut client: Socket,
        peer: SocketAddr,
    ) -> Result<(), Error> {
        let outcome = client
            .recv(1024)
            .and_then(|msg| {
                self.message(&peer, &msg);
                client.sendall(&self.listeners[i].reply)
            })
            .and_then(|()| client.close());
        match outcome {
            Ok(()) => self.stats.served += 1,
            Err(e @ Error::Interrupted(_)) => return Err(e),
            Err(e) => self.client_error(&peer, &e),
        }
        Ok(())
    }

    /// Close the listeners and print the totals line on stderr.
    pub fn finish(mut self) {
        for l in &mut self.listeners {
            let _ = l.sock.close();
        }
        let s = &self.stats;
        self.warn(&format!(
            "{} served, {} errors, {} idle-closed, {} closed silently, {} refused in {:.1} s",
            s.served,
            s.errors,
            s.idle_closed,
            s.silent_eof,
            s.refused,
            self.started.elapsed().as_secs_f64()
        ));
    }
}

/// An error as the server reports it: Python's `ClassName: message` for OS errors.
pub fn describe(e: &Error) -> String {
    format!("{}: {e}", e.python_name())
}

/// Is this an `accept()` failure that means "out of file descriptors"?
pub fn out_of_fds(e: &Error) -> bool {
    matches!(
        e.errno(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}

/// A failed `accept()` in the serial modes: report it; when out of fds, pause 100 ms (a
/// `select()` sleep) so that a listener that stays readable does not spin the CPU.
pub fn accept_failed(server: &mut Server, e: &Error) -> Result<(), Error> {
    server.warn(&format!("accept failed: {}", describe(e)));
    if out_of_fds(e) {
        pyselect::sleep(0.1)?;
    }
    Ok(())
}
