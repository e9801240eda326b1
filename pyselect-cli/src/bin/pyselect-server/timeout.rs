//! The seed's second server: `settimeout(1)` on each listener, and `accept()` on each in turn.
//!
//! ```python
//! server_socket1.settimeout(1)         # between socket() and bind(), for each listener
//! while True:
//!     try:
//!         print('hello socket1')
//!         client_socket, client_addr = server_socket1.accept()   # waits at most 1 s
//!         msg = client_socket.recv(SIZE)
//!         print("[{}] message : {}".format(client_addr, msg))
//!         client_socket.sendall("welcome 5050!".encode())
//!         client_socket.close()
//!     except socket.timeout:
//!         pass
//!     # ... the same for server_socket2
//! ```
//!
//! Each `accept()` is a `poll()` of up to 1000 ms, so an idle server wakes once a second per
//! port, and a client on one port waits while the server polls the other.
//!
//! The accept-failure rest, the counting and `--count` are the program's own; the seed's
//! servers bare, without them, are `examples/seed_select_server.rs` (its third server, the
//! `select.select` one, line for line).

use std::net::SocketAddr;

use pyselect::{Error, Socket};

use crate::lines::Lines;
use crate::server::{accept_failed, close_serially, rest, Failure, Listener, Stats, SIZE};

/// `settimeout(1)`: applied to each listener between `socket()` and `bind()`, as in the seed.
pub fn prepare(server_socket: &mut Socket) -> Result<(), Error> {
    server_socket.settimeout(Some(1.0))
}

pub fn run(listeners: &[Listener], out: &mut Lines, stats: &mut Stats) -> Result<(), Error> {
    while !stats.done() {
        for server_socket in listeners {
            out.hello(server_socket);
            // accept() waits at most 1 s (poll), then gives up with socket.timeout.
            let (mut client_socket, client_addr) = match server_socket.sock.accept() {
                Ok(pair) => pair,
                // except socket.timeout: pass
                Err(e) => {
                    rest(accept_failed(out, e)?)?;
                    continue;
                }
            };
            let served = serve(&mut client_socket, &client_addr, &server_socket.reply, out);
            stats.tally(out, &client_addr, served)?;
            if stats.done() {
                break;
            }
        }
    }
    Ok(())
}

/// recv, print, sendall, close: the seed's lines, each failure this client's alone.
fn serve(
    client_socket: &mut Socket,
    client_addr: &SocketAddr,
    reply: &[u8],
    out: &mut Lines,
) -> Result<(), Failure> {
    let msg = client_socket.recv(SIZE)?;
    out.message(client_addr, &msg);
    client_socket.sendall(reply)?;
    close_serially(client_socket, &msg)
}
